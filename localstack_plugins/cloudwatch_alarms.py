"""CloudWatch metric alarms as on AWS: evaluated every minute, state history with real timestamps.

LocalStack schedules each alarm's evaluation every ``EvaluationPeriods * Period`` seconds: a
5-period, 60-second alarm (the backlog alarms) is looked at every 5 minutes, so an alarm stays in
ALARM for up to 5 minutes after its metric recovered. CloudWatch evaluates an alarm with a period
of a minute or more every minute, and a high-resolution alarm (10 or 30 s) every 10 seconds
("Evaluating an alarm", CloudWatch User Guide). :func:`install` reschedules with
:func:`evaluation_interval`; the evaluation itself (LocalStack's ``calculate_alarm_state``) is
unchanged.

LocalStack's state update also stamps a history item with the *previous* state's time and the
alarm's new ``StateUpdatedTimestamp`` with a naive local time, so the second state change of an
alarm breaks ``DescribeAlarmHistory`` with a start date ("can't compare offset-naive and
offset-aware datetimes": ``aggregator status`` reports an error). :func:`install` stamps both with
the transition time in UTC, as CloudWatch does.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

LOG = logging.getLogger(__name__)
MINUTE_SECONDS = 60
HIGH_RESOLUTION_INTERVAL_SECONDS = 10


def evaluation_interval(period_seconds: int) -> int:
    """How often CloudWatch evaluates an alarm of ``period_seconds``."""
    if period_seconds < MINUTE_SECONDS:
        return HIGH_RESOLUTION_INTERVAL_SECONDS
    return MINUTE_SECONDS


def install() -> None:
    from localstack.services.cloudwatch import alarm_scheduler, provider_v2

    original_update_state = provider_v2.CloudwatchProvider._update_state

    def update_state(self: Any, context: Any, alarm: Any, *args: Any, **kwargs: Any) -> None:
        store = self.get_store(context.account_id, context.region)
        before = len(store.histories)
        original_update_state(self, context, alarm, *args, **kwargs)
        now = datetime.now(UTC)
        alarm.alarm["StateUpdatedTimestamp"] = now
        for item in store.histories[before:]:
            item["Timestamp"] = now

    provider_v2.CloudwatchProvider._update_state = update_state  # type: ignore[method-assign]

    def schedule_metric_alarm(self: Any, alarm_arn: str) -> None:
        details = alarm_scheduler.get_metric_alarm_details_for_alarm_arn(alarm_arn)
        self.delete_scheduler_for_alarm(alarm_arn)
        if not details:
            LOG.warning("Scheduling alarm failed: could not find alarm %s", alarm_arn)
            return
        if not self._is_alarm_supported(details):
            LOG.warning("Alarm %s is not supported: its state will not be evaluated", alarm_arn)
            return

        def on_error(error: Exception) -> None:
            LOG.error("Error evaluating alarm %s: %s", alarm_arn, error)

        self.scheduled_alarms[alarm_arn] = self.scheduler.schedule(
            func=alarm_scheduler.calculate_alarm_state,
            period=evaluation_interval(int(details.get("Period") or MINUTE_SECONDS)),
            fixed_rate=True,
            args=[alarm_arn],
            on_error=on_error,
        )

    alarm_scheduler.AlarmScheduler.schedule_metric_alarm = schedule_metric_alarm  # type: ignore[method-assign]
