"""The fault hook's rules (localstack_plugins/faults): matching, counts, fractions, validation.

The hook itself runs inside LocalStack (tests/e2e/test_faults.py); these check its pure logic.
"""

from __future__ import annotations

import pytest

from localstack_plugins.faults import Faults, RuleError

GET = {"Bucket": "landing", "Key": "e2e/a/file-1"}


def test_a_counted_rule_fires_exactly_count_times_then_lets_requests_through() -> None:
    faults = Faults()
    [rule_id] = faults.add(
        [
            {
                "service": "s3",
                "operation": "GetObject",
                "bucket": "landing",
                "key_prefix": "e2e/a/",
                "error": {"code": "SlowDown", "status": 503},
                "count": 3,
            }
        ]
    )
    picked = [faults.pick("s3", "GetObject", GET) for _ in range(5)]
    assert [p is not None for p in picked] == [True, True, True, False, False]
    assert picked[0] is not None and picked[0].error_code == "SlowDown"
    assert picked[0].error_status == 503
    [described] = faults.describe()
    assert (described["id"], described["injected"], described["matched"]) == (rule_id, 3, 3)


@pytest.mark.parametrize(
    ("service", "operation", "params"),
    [
        ("s3", "PutObject", GET),
        ("firehose", "GetObject", GET),
        ("s3", "GetObject", {"Bucket": "archive", "Key": "e2e/a/file-1"}),
        ("s3", "GetObject", {"Bucket": "landing", "Key": "e2e/b/file-1"}),
    ],
)
def test_requests_outside_the_rule_are_served(
    service: str, operation: str, params: dict[str, str]
) -> None:
    faults = Faults()
    faults.add(
        [
            {
                "service": "s3",
                "operation": "GetObject",
                "bucket": "landing",
                "key_prefix": "e2e/a/",
                "latency_seconds": 1.5,
            }
        ]
    )
    assert faults.pick(service, operation, params) is None
    assert faults.pick("s3", "GetObject", GET) is not None


def test_a_fraction_affects_about_that_share() -> None:
    faults = Faults()
    faults.add([{"service": "firehose", "error": {"code": "Throttled"}, "fraction": 0.25}])
    hits = sum(faults.pick("firehose", "PutRecordBatch", {}) is not None for _ in range(2000))
    assert 400 < hits < 600


def test_clear_removes_every_rule() -> None:
    faults = Faults()
    faults.add([{"service": "s3", "error": {"code": "AccessDenied", "status": 403}}])
    faults.clear()
    assert faults.pick("s3", "GetObject", GET) is None
    assert faults.describe() == []


@pytest.mark.parametrize(
    "rule",
    [
        {"operation": "GetObject", "error": {"code": "X"}},
        {"service": "s3"},
        {"service": "s3", "error": {"code": "X"}, "latency_seconds": 1},
        {"service": "s3", "error": {"status": 503}},
        {"service": "s3", "error": {"code": "X"}, "count": 0},
        {"service": "s3", "error": {"code": "X"}, "fraction": 1.5},
    ],
)
def test_malformed_rules_are_refused(rule: dict[str, object]) -> None:
    with pytest.raises(RuleError):
        Faults().add([rule])


@pytest.mark.parametrize(
    ("requested", "hit"),
    [
        ("s3-aggregator-local-transform", True),
        ("arn:aws:lambda:eu-west-2:000000000000:function:s3-aggregator-local-transform", True),
        (
            "arn:aws:lambda:eu-west-2:000000000000:function:s3-aggregator-local-transform:$LATEST",
            True,
        ),
        ("s3-aggregator-local-transform:live", True),
        ("s3-aggregator-local-ingest", False),
        ("s3-aggregator-local-transform-2", False),
    ],
)
def test_a_function_rule_matches_that_function_by_name_or_arn(requested: str, hit: bool) -> None:
    """Only the named function's invocations fail (not the ingest's, whichever path they take)."""
    faults = Faults()
    faults.add(
        [
            {
                "service": "lambda",
                "operation": "Invoke",
                "function": "s3-aggregator-local-transform",
                "error": {"code": "ServiceException", "status": 500},
            }
        ]
    )
    picked = faults.pick("lambda", "Invoke", {"FunctionName": requested})
    assert (picked is not None) is hit
