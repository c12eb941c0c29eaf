"""The transform handler end to end (env config, metrics), its config, and the pure planner."""

from __future__ import annotations

import json
import random

import pytest

from tests.unit.conftest import LambdaContextStub, PipelineAws
from tests.unit.transforms.helpers import firehose_bundle, firehose_event, members, reference
from transforms import handler
from transforms.config import ConfigError, TransformConfig
from transforms.outcomes import FailureReason
from transforms.plan import Route, estimated_metadata, plan_batch
from transforms.records import InputRecord, decode_records
from transforms.response import inline_entry_size, minimal_entry_size, response_size

ENV = {
    "ARCHIVE_BUCKET": "test-archive",
    "DELIVERY_STREAM_NAMES": "test-stream",
    "BUNDLE_PREFIX": "bundles/",
    "INLINE_MAX_BYTES": "1048576",
    "FETCH_CONCURRENCY": "8",
    "RESPONSE_BUDGET_BYTES": "6000000",
}


def test_handler_answers_firehose_and_publishes_metrics(
    server_aws: PipelineAws,
    lambda_context: LambdaContextStub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    handler.config.cache_clear()
    version = server_aws.put("a b+c.txt", b"hello")  # served over HTTP: the native fetcher
    refs = [
        reference(server_aws.landing, "a b+c.txt", version, 5),
        reference(server_aws.landing, "gone.txt", "v", 5),
    ]

    result = handler.lambda_handler(firehose_event(refs), lambda_context)

    assert [e["result"] for e in result["records"]] == ["Ok", "ProcessingFailed"]
    assert [(m.metadata.key, c) for m, c in members(firehose_bundle(result))] == [
        ("a b+c.txt", b"hello")
    ]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = {m["Name"] for m in emf[-1]["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names == {
        "FilesInlined",
        "FilesDirect",
        "DirectBundles",
        "FilesDeferred",
        "FetchRetries",
        "OldestReferenceAgeSeconds",
        *(reason.metric for reason in FailureReason),
    }
    assert emf[-1]["ObjectsMissing"] in (1.0, [1.0])
    assert emf[-1]["ObjectsAccessDenied"] in (0.0, [0.0])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ARCHIVE_BUCKET": ""}, "ARCHIVE_BUCKET is not set"),
        ({"FETCH_CONCURRENCY": "many"}, "must be an integer"),
        ({"FETCH_CONCURRENCY": "0"}, "between 1 and 64"),
        ({"RESPONSE_BUDGET_BYTES": "7000000"}, "between"),
        ({"DIRECT_BUNDLE_MAX_BYTES": "1000"}, "DIRECT_BUNDLE_MAX_BYTES must be between"),
        ({"INLINE_MAX_BYTES": "4000000", "RESPONSE_BUDGET_BYTES": "3000000"}, "lower it"),
        ({"BUNDLE_PREFIX": "bundles"}, "BUNDLE_PREFIX"),
        (
            {"BUNDLE_PREFIX": "bundles/x/", "BUNDLE_PREFIX_EXPRESSION": "bundles/y/"},
            "must start with BUNDLE_PREFIX",
        ),
    ],
)
def test_invalid_configuration_is_explained(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TransformConfig.from_env({**ENV, **overrides})


def test_valid_configuration() -> None:
    settings = TransformConfig.from_env(ENV)
    assert (settings.inline_max_bytes, settings.fetch_concurrency) == (1048576, 8)


def test_plan_never_exceeds_the_budget_on_random_batches() -> None:
    rng = random.Random(11)
    for _ in range(15):
        count = rng.randint(0, 2500)
        sizes = [
            rng.choice([0, 27_000, rng.randint(0, 3_000_000), 20_000_000]) for _ in range(count)
        ]
        refs = [
            reference("landing", f"k/{i}" * rng.randint(1, 20), "v", s) for i, s in enumerate(sizes)
        ]
        records = decode_records(firehose_event(list(refs)))
        budget = rng.choice([200_000, 1_000_000, 6_000_000])
        routes = plan_batch(records, inline_max_bytes=1_048_576, budget_bytes=budget)

        assert len(routes) == len(records)
        estimate = response_size(
            inline_entry_size(r.record_id, estimated_metadata(r.reference))
            if route is Route.INLINE and r.reference
            else minimal_entry_size(r)
            for r, route in zip(records, routes, strict=True)
        )
        baseline = response_size(minimal_entry_size(r) for r in records)
        if baseline <= budget:
            assert estimate <= budget
        else:  # not even the Dropped entries fit: nothing may be inlined
            assert Route.INLINE not in routes
        for record, route in zip(records, routes, strict=True):
            assert record.reference is not None
            if record.reference.size > 1_048_576:
                assert route is Route.DIRECT
            else:
                assert route in (Route.INLINE, Route.DEFER)


def test_unreadable_records_are_planned_as_failures() -> None:
    records = [InputRecord("id", b"junk", 0, None, "bad")]
    assert plan_batch(records, inline_max_bytes=10, budget_bytes=1_000) == (Route.FAIL,)
