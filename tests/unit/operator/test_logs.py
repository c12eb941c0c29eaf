"""`aggregator logs`: time arguments, the filter pattern, the log group names."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from scripts.logs import filter_pattern, line_of, since_time
from templates import names
from tests.environments import filled_config

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "back"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
    ],
)
def test_durations_count_back_from_now(text: str, back: timedelta) -> None:
    assert since_time(text, NOW) == NOW - back


def test_iso_times_are_accepted_and_garbage_is_a_usage_error() -> None:
    assert since_time("2026-12-01T08:00Z", NOW) == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError, match="30s, 10m"):
        since_time("yesterday", NOW)


def test_filter_is_a_quoted_literal_term() -> None:
    assert filter_pattern(None) is None
    assert filter_pattern("bundles/2026") == '"bundles/2026"'
    assert filter_pattern('say "hi"') == '"say \\"hi\\""'


def test_log_group_names_match_the_template() -> None:
    config = filled_config("prod")
    for function in ("ingest", "transform", "copier", "monitor"):
        assert names.log_group_name_of("prod", function) == names.log_group_name(config, function)
    assert names.log_group_name_of("dev", "copier") == "/aws/lambda/s3-aggregator-dev-copier"


def test_event_lines_are_utc_iso() -> None:
    line = line_of({"timestamp": 1_764_590_400_000, "logStreamName": "s", "message": "m\n"})
    assert (line.timestamp, line.message) == ("2025-12-01T12:00:00.000Z", "m")
