"""Deploy accepts exactly what runs: every configuration the template validation accepts gives
each function an environment its ``from_env`` accepts, and each one it refuses would be refused by
the function too (the transform reads every field generated here).

The cases are a table over every documented field and boundary (docs/configuration.md,
``[prefixes]`` and ``[transform]``), every timestamp pattern letter the Firehose guide documents
(Java ``DateTimeFormatter``) at each count up to one past its maximum, quoted literals, and a
hypothesis search over small patterns. The template is built in-process (no LocalStack) and each
function's ``Environment.Variables`` is read from it.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import errors
from pipeline.canary.config import CanaryConfig
from pipeline.copier.config import CopierConfig
from pipeline.ingest.config import IngestConfig
from pipeline.monitor import config as monitor
from templates.config import (
    ConfigError,
    EnvironmentConfig,
    Prefixes,
    TransformSettings,
    parse_config,
)
from templates.stack import build_template
from tests.environments import filled_data
from transforms.config import TransformConfig

BASE: dict[str, Any] = filled_data("prod")
ERROR_PREFIX = "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"


def _monitor_from_env(env: Mapping[str, str]) -> object:
    return monitor.bucket_from_env(env)


#: each function's cold-start configuration reader, by the handler the template names
READERS: dict[str, Callable[[Mapping[str, str]], object]] = {
    "pipeline.ingest.handler.lambda_handler": IngestConfig.from_env,
    "transforms.handler.lambda_handler": TransformConfig.from_env,
    "pipeline.copier.handler.lambda_handler": CopierConfig.from_env,
    "pipeline.monitor.handler.lambda_handler": _monitor_from_env,
    "pipeline.canary.handler.lambda_handler": CanaryConfig.from_env,
}
TRANSFORM = "transforms.handler.lambda_handler"
CANARY = "pipeline.canary.handler.lambda_handler"

#: Java DateTimeFormatter: the most letters of each field the Firehose guide's patterns may use
#: (one more is "Too many pattern letters"); text fields take 1-5, numbers their width.
JAVA_MAX_LETTERS = {
    "G": 5, "u": 19, "y": 19, "D": 3, "M": 5, "L": 5, "d": 2, "Q": 5, "q": 5, "E": 5, "a": 1,
    "h": 2, "K": 2, "k": 2, "H": 2, "m": 2, "s": 2, "S": 9, "A": 19, "n": 19, "N": 19,
}  # fmt: skip
#: letters whose value depends on a locale or a zone: refused by every side
REFUSED_LETTERS = "YwWecFVvzOXxZ"


#: the pseudo parameters CloudFormation substitutes in the variables (``Fn::Sub``)
PSEUDO = {"${AWS::AccountId}": "314159265358", "${AWS::Region}": "eu-west-2"}


def _resolved(value: object) -> str:
    """A variable's value as Lambda sees it: a string, or a ``Fn::Sub`` of pseudo parameters."""
    if isinstance(value, dict):
        assert set(value) == {"Fn::Sub"}, value
        text = str(value["Fn::Sub"])
        for name, replacement in PSEUDO.items():
            text = text.replace(name, replacement)
        assert "${" not in text, text
        return text
    assert isinstance(value, str), value
    return value


def _environments(config: EnvironmentConfig) -> dict[str, dict[str, str]]:
    """Each function's Environment.Variables in the template built for ``config``, by handler."""
    resources = build_template(config).to_dict()["Resources"]
    found = {
        resource["Properties"]["Handler"]: {
            name: _resolved(value)
            for name, value in resource["Properties"]["Environment"]["Variables"].items()
        }
        for resource in resources.values()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    expected = set(READERS) if config.canary.enabled else set(READERS) - {CANARY}
    assert set(found) == expected
    return found


def _data(bundle: str | None = None, transform: Mapping[str, int] | None = None) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    if bundle is not None:
        data["prefixes"]["bundle"] = bundle
        data["prefixes"]["error"] = ERROR_PREFIX
    data["transform"].update(transform or {})
    return data


def _unvalidated(data: dict[str, Any]) -> EnvironmentConfig:
    """The configuration ``data`` describes, built without validation (what deploy would write
    if it accepted ``data``)."""
    valid = parse_config("prod", BASE)
    section = data["transform"]
    return dataclasses.replace(
        valid,
        prefixes=Prefixes(bundle=data["prefixes"]["bundle"], error=data["prefixes"]["error"]),
        transform=TransformSettings(
            inline_max_bytes=section["inline_max_bytes"],
            fetch_concurrency=section["fetch_concurrency"],
            response_budget_bytes=section.get("response_budget_bytes", 6_000_000),
            direct_bundle_max_bytes=section.get("direct_bundle_max_bytes", 128 * 1024 * 1024),
        ),
    )


def check_deploy_accepts_what_runs(data: dict[str, Any]) -> None:
    try:
        config = parse_config("prod", data)
    except ConfigError as refused:
        env = _environments(_unvalidated(data))[TRANSFORM]
        with pytest.raises(errors.ConfigError):  # the base of every function's ConfigError
            TransformConfig.from_env(env)
        assert str(refused)
        return
    for handler, env in _environments(config).items():
        READERS[handler](env)  # raises if the function would refuse what deploy accepted


def _pattern_cases() -> list[str]:
    cases = [
        letter * count for letter, most in JAVA_MAX_LETTERS.items() for count in range(1, most + 2)
    ]
    cases += list(REFUSED_LETTERS)
    cases += [
        "yyyy-MM-dd'T'HH",
        "'year='yyyy'/month='MM'/day='dd'/hour='HH",
        "uuuu/DDD",
        "yyyy/MMM/dd",
        "EEEE-a-hh",
        "''yyyy''",
        "'it''s'-HH",
        "'[quoted reserved]#'yyyy",
        "yyyy'unterminated",
        "yyyy[MM]",
        "#yyyy",
        "yyyy{",
        "yyyy/MM/dd/HH/mm/ss.SSS",
    ]
    return cases


PREFIX_CASES = [f"bundles/!{{timestamp:{pattern}}}/" for pattern in _pattern_cases()] + [
    "bundles/",
    "bundles/sub/",
    "bundles/data-!{timestamp:yyyy}/",
    "bundles/!{timestamp:yyyy}-x/!{firehose:random-string}/",
    "bundles/!{firehose:random-string}/",
    "bundles/! {firehose:random-string}/",
    "bundles/!{ timestamp:yyyy }/",
    "bundles/!{firehose:bogus}/",
    "bundles/!{firehose:error-output-type}/",
    "bundles/!{timestamp:yyyy/",
    "bundles/" + "b" * 470 + "/",
    "bundles/" + "b" * 520 + "/",
    "bundles/" + "!{timestamp:MMMM}" * 40 + "/",
    "bundles/" + "!{timestamp:MMMM}" * 60 + "/",
    "archive/!{timestamp:yyyy}/",
    "bundles/!{timestamp:yyyy}",
    "/bundles/",
]


@pytest.mark.parametrize("bundle", PREFIX_CASES)
def test_bundle_prefix(bundle: str) -> None:
    check_deploy_accepts_what_runs(_data(bundle))


MIB = 1024 * 1024
TRANSFORM_CASES: list[dict[str, int]] = [
    # inline_max_bytes: documented 0-4,000,000 (0: every non-empty file by the direct path)
    *({"inline_max_bytes": value} for value in (-1, 0, 1, MIB, 4_000_000, 4_000_001)),
    # response_budget_bytes: 1,000,000-6,000,000
    *(
        {"response_budget_bytes": value, "inline_max_bytes": 100_000}
        for value in (999_999, 1_000_000, 6_000_000, 6_000_001)
    ),
    # the 3/4 rule at its edge, on both sides, for a few budgets
    *(
        {"response_budget_bytes": budget, "inline_max_bytes": budget * 3 // 4 + delta}
        for budget in (1_000_000, 2_000_000, 4_000_000, 5_333_334)
        for delta in (-4096, -3073, -3072, -3071, -1, 0)
    ),
    {"response_budget_bytes": 5_337_432, "inline_max_bytes": 4_000_000},
    {"response_budget_bytes": 5_337_431, "inline_max_bytes": 4_000_000},
    # fetch_concurrency: 1-64
    *({"fetch_concurrency": value} for value in (0, 1, 64, 65, 256)),
    # direct_bundle_max_bytes: 4,000,000-5 GiB
    *(
        {"direct_bundle_max_bytes": value}
        for value in (3_999_999, 4_000_000, 128 * MIB, 5 * 1024**3, 5 * 1024**3 + 1)
    ),
]


@pytest.mark.parametrize("values", TRANSFORM_CASES, ids=str)
def test_transform_limits(values: dict[str, int]) -> None:
    check_deploy_accepts_what_runs(_data(transform=values))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(st.text(alphabet="yuDMLdHhmsSEaQGkKnNAYw'T-/._ [#", min_size=1, max_size=10))
def test_generated_timestamp_patterns(pattern: str) -> None:
    check_deploy_accepts_what_runs(_data(f"bundles/!{{timestamp:{pattern}}}/"))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.integers(min_value=-1, max_value=4_100_000),
    st.integers(min_value=990_000, max_value=6_010_000),
)
def test_generated_inline_and_budget(inline: int, budget: int) -> None:
    check_deploy_accepts_what_runs(
        _data(transform={"inline_max_bytes": inline, "response_budget_bytes": budget})
    )


#: ``[canary] interval_minutes``: off, the documented 1-60 with its edges, and what is refused
CANARY_CASES: list[object] = [-1, 0, 1, 2, 5, 59, 60, 61, 1440, "5", 5.0, True]


@pytest.mark.parametrize("interval", CANARY_CASES, ids=repr)
def test_canary_interval(interval: object) -> None:
    data = _data()
    data["canary"] = {"interval_minutes": interval}
    try:
        config = parse_config("prod", data)
    except ConfigError as refused:
        assert "canary.interval_minutes" in str(refused)
        if isinstance(interval, int) and not isinstance(interval, bool):
            # what the function would get if deploy wrote it: it refuses it too
            with pytest.raises(errors.ConfigError):
                CanaryConfig.from_env(
                    {"LANDING_BUCKET": "landing", "CANARY_INTERVAL_MINUTES": str(interval)}
                )
        return
    environments = _environments(config)
    assert (CANARY in environments) == (interval != 0)
    if CANARY in environments:
        assert CanaryConfig.from_env(environments[CANARY]).interval_minutes == interval
    for handler, env in environments.items():
        READERS[handler](env)
