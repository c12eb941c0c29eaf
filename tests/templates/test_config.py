"""Config validation: each invalid value is refused naming the key, the value and the range."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

import templates.config as config_module
from templates.config import (
    ConfigError,
    available_environments,
    load_config,
    parse_config,
)
from tests.environments import filled_config, filled_data

BASE: dict[str, Any] = filled_data("prod")


def _with(section: str, key: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    table = data
    for part in section.split("."):
        table = table[part]
    table[key] = value
    return data


def _refused(data: dict[str, Any], name: str = "prod") -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(name, data, source="prod.toml")
    return str(caught.value)


def test_every_shipped_environment_is_valid_once_its_placeholders_are_filled() -> None:
    assert set(available_environments()) >= {"local", "dev", "prod"}
    for env in available_environments():
        assert filled_config(env).name == env
    assert load_config("local").name == "local"  # local needs nothing filled in


@pytest.mark.parametrize(
    ("section", "key", "value", "allowed"),
    [
        ("firehose", "buffer_size_mb", 0, "from 1 to 128"),
        ("firehose", "buffer_size_mb", 200, "from 1 to 128"),
        ("firehose", "buffer_size_mb", 1.5, "from 1 to 128"),
        ("firehose", "buffer_interval_seconds", 1000, "from 0 to 900"),
        ("firehose", "buffer_interval_seconds", -1, "from 0 to 900"),
        ("processor", "buffer_size_mb", 0.1, "from 0.2 to 3.0"),
        ("processor", "buffer_size_mb", 4, "from 0.2 to 3.0"),
        ("processor", "buffer_interval_seconds", 1000, "from 0 to 900"),
        ("processor", "number_of_retries", -1, "from 0 to 300"),
        ("transform", "fetch_concurrency", 0, "from 1 to 64"),
        ("transform", "inline_max_bytes", 5_000_000, "from 0 to 4000000"),
        ("transform", "response_budget_bytes", 7_000_000, "from 1000000 to 6000000"),
        ("transform", "direct_bundle_max_bytes", 1_000_000, "from 4000000 to 5368709120"),
        ("functions", "architecture", "arm", "one of arm64, x86_64"),
        ("functions", "log_level", "LOUD", "one of DEBUG, INFO, WARNING, ERROR"),
        ("functions", "max_retry_attempts", 3, "from 0 to 2"),
        ("functions.transform", "timeout_seconds", 301, "from 1 to 300"),
        ("functions.copier", "timeout_seconds", 901, "from 1 to 900"),
        ("functions.ingest", "memory_mb", 64, "from 128 to 10240"),
        ("retention", "landing_expiration_days", 0, "from 1 to 3650"),
        ("retention", "log_retention_days", 10, "one of 1, 3, 5, 7"),
        ("alarms", "backlog_count_threshold", 0, "from 1 to 100000000"),
        ("alarms", "backlog_oldest_age_seconds", 10, "from 60 to 1209600"),
        ("alarms", "freshness_seconds", 60, "more than firehose.buffer_interval_seconds"),
        ("alarms", "email", "not-an-address", "an e-mail address"),
        ("alarms", "topic_arn", "arn:aws:sqs:eu-west-2:123456789012:q", "an SNS topic ARN"),
        ("alarms", "anomaly_detection", "yes", "true or false"),
        ("access", "external_principal", "someone", "an IAM ARN"),
        ("access", "consumer_principal", "arn:aws:iam::12:root", "an IAM ARN"),
    ],
)
def test_invalid_value_is_refused_with_key_value_and_range(
    section: str, key: str, value: Any, allowed: str
) -> None:
    message = _refused(_with(section, key, value))
    assert f"{section}.{key}" in message
    assert repr(value) in message
    assert allowed in message


@pytest.mark.parametrize(
    ("value", "shown", "allowed"),
    [
        (["10.0.0.1/8"], "'10.0.0.1/8'", "a CIDR block"),
        (["0.0.0.0/0"], "['0.0.0.0/0']", "narrower than /0"),
        ([], "[]", "a non-empty list"),
    ],
)
def test_bad_external_cidrs_are_refused(value: list[str], shown: str, allowed: str) -> None:
    message = _refused(_with("access", "external_cidrs", value))
    assert "access.external_cidrs" in message and shown in message and allowed in message


def test_prefix_expression_without_error_prefix_is_refused() -> None:
    message = _refused(_with("prefixes", "error", ""))
    assert "prefixes.error = ''" in message
    assert "ErrorOutputPrefix" in message


def test_static_bundle_prefix_without_error_prefix_is_refused() -> None:
    """Firehose would then write failures under ``bundles/processing-failed/``."""
    data = _with("prefixes", "bundle", "bundles/")
    data["prefixes"]["error"] = ""
    message = _refused(data)
    assert "prefixes.error = ''" in message and "bundles/processing-failed/" in message


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("error", "errors/!{timestamp:yyyy}/", "!{firehose:error-output-type}"),
        ("error", "errors/!{firehose:error-output-type}/!{timestamp:ww}/", "ErrorOutputPrefix"),
        ("bundle", "bundles/!{timestamp:yyyy'}/", "incomplete string literal"),
        ("bundle", "bundles/" + "b" * 520 + "/", "limit is 512"),
        ("bundle", "bundles/!{firehose:error}/", "Unsupported expression"),
    ],
)
def test_prefixes_firehose_refuses_are_refused(key: str, value: str, shown: str) -> None:
    message = _refused(_with("prefixes", key, value))
    assert f"prefixes.{key}" in message and shown in message
    assert "\n" not in message


def test_quoted_literals_in_timestamps_are_accepted() -> None:
    value = "bundles/!{timestamp:'year='yyyy'/month='MM}/"
    assert parse_config("prod", _with("prefixes", "bundle", value)).prefixes.bundle == value


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("archive/!{timestamp:yyyy}/", "starting with 'bundles/'"),
        ("bundles/!{timestamp:yyyy}", "ending '/'"),
        ("bundles/!{firehose:error-output-type}/", "allowed only in the error prefix"),
    ],
)
def test_bad_bundle_prefix_is_refused(value: str, allowed: str) -> None:
    message = _refused(_with("prefixes", "bundle", value))
    assert "prefixes.bundle" in message and repr(value) in message and allowed in message


def test_error_prefix_inside_bundle_prefix_is_refused() -> None:
    message = _refused(_with("prefixes", "error", "bundles/errors/"))
    assert "prefixes.error" in message and "copier" in message


def test_inline_threshold_must_fit_the_response_budget() -> None:
    data = _with("transform", "inline_max_bytes", 4_000_000)
    data["transform"]["response_budget_bytes"] = 2_000_000
    assert "once base64-encoded: at most 1496928 (3/4 of the budget" in _refused(data)


def test_email_and_existing_topic_are_exclusive() -> None:
    data = _with("alarms", "email", "ops@example.com")
    data["alarms"]["topic_arn"] = "arn:aws:sns:eu-west-2:123456789012:alarms"
    assert "alarms.email" in _refused(data)


def test_unknown_key_is_refused() -> None:
    message = _refused(_with("firehose", "buffer_size_mib", 5))
    assert "unknown key firehose.buffer_size_mib (did you mean 'buffer_size_mb'?)" in message


def test_misspelt_key_is_reported_as_unknown_first_then_missing() -> None:
    data = copy.deepcopy(BASE)
    data["alarms"]["freshnes_seconds"] = data["alarms"].pop("freshness_seconds")
    with pytest.raises(ConfigError) as caught:
        parse_config("prod", data, source="prod.toml")
    problems = caught.value.problems
    assert problems[0].startswith("prod.toml: unknown key alarms.freshnes_seconds")
    assert "did you mean 'freshness_seconds'?" in problems[0]
    assert "missing required key alarms.freshness_seconds" in problems[1]


def test_every_problem_is_reported_in_one_run() -> None:
    data = copy.deepcopy(BASE)
    data["firehose"]["buffer_size_mb"] = 0
    data["functions"]["ingest"]["memory_mb"] = 1
    data["functions"]["copier"]["timeout_seconds"] = 5000
    data["retention"]["log_retention_days"] = 10
    data["access"]["external_principal"] = "nobody"
    data["sections_typo"] = {}
    with pytest.raises(ConfigError) as caught:
        parse_config("prod", data, source="prod.toml")
    problems = caught.value.problems
    assert len(problems) == 6, problems
    assert "unknown key sections_typo" in problems[0]
    text = str(caught.value)
    assert text.startswith("prod.toml: 6 problems:")
    for key in (
        "firehose.buffer_size_mb",
        "functions.ingest.memory_mb",
        "functions.copier.timeout_seconds",
        "retention.log_retention_days",
        "access.external_principal",
    ):
        assert key in text


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_shipped_placeholders_are_refused_until_filled(env: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    text = "\n".join(caught.value.problems)
    assert "account 111122223333" in text and "account 444455556666" in text
    assert "203.0.113.0/24" in text
    assert "notify nobody" in text


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("access", "external_principal", "arn:aws:iam::123456789012:root", "account 1234567890"),
        ("access", "consumer_principal", "arn:aws:iam::000000000000:role/c", "account 00000000"),
        ("access", "external_cidrs", ["198.51.100.0/25"], "documentation range"),
        ("access", "external_cidrs", ["192.0.0.0/16"], "documentation range"),
        ("access", "external_cidrs", ["2001:db8::/48"], "documentation range"),
        ("alarms", "topic_arn", "arn:aws:sns:eu-west-2:111122223333:alarms", "account 1111"),
    ],
)
def test_examples_are_refused_outside_local(
    section: str, key: str, value: Any, expected: str
) -> None:
    data = _with(section, key, value)
    if key == "topic_arn":
        data["alarms"]["email"] = ""
    assert expected in _refused(data)
    # the same values are accepted for the local stack
    local = copy.deepcopy(data)
    parse_config("local", local, source="local.toml")


def test_an_alarm_destination_is_required_outside_local() -> None:
    data = _with("alarms", "email", "")
    assert "notify nobody" in _refused(data)
    data["alarms"]["topic_arn"] = "arn:aws:sns:eu-west-2:314159265358:pager"
    assert parse_config("prod", data).alarms.topic_arn


def test_tags_are_read_and_validated() -> None:
    data = copy.deepcopy(BASE)
    data["tags"] = {"cost-centre": "data-42", "owner": "team@example.org"}
    assert parse_config("prod", data).tags == {
        "cost-centre": "data-42",
        "owner": "team@example.org",
    }
    data["tags"] = {"owner": 5}
    assert "tags.owner" in _refused(data)


def test_missing_key_is_named() -> None:
    data = copy.deepcopy(BASE)
    del data["firehose"]["buffer_interval_seconds"]
    assert "missing required key firehose.buffer_interval_seconds" in _refused(data)


def test_environment_name_must_fit_bucket_names() -> None:
    assert "1-8 lowercase" in _refused(copy.deepcopy(BASE), name="production")


def test_network_section_is_validated() -> None:
    data = copy.deepcopy(BASE)
    data["network"] = {"vpc_id": "vpc-0123abcd", "subnet_ids": ["sn-1"], "route_table_ids": []}
    message = _refused(data)
    assert "network.subnet_ids" in message and "'sn-1'" in message


def test_missing_environment_file_lists_known_ones(tmp_path: Path) -> None:
    (tmp_path / "dev.toml").write_text("")
    with pytest.raises(ConfigError, match=r"no configuration for environment 'qa'.*known: dev"):
        load_config("qa", tmp_path)


def test_malformed_toml_is_reported(tmp_path: Path) -> None:
    (tmp_path / "dev.toml").write_text("[firehose\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config("dev", tmp_path)


def _access(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data["access"].update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "shown", "allowed"),
    [
        ({"consumer_path": "vpn"}, "'vpn'", "one of internet, privatelink"),
        ({"consumer_cidrs": ["10.20.0.0/33"]}, "10.20.0.0/33", "a CIDR block"),
        ({"consumer_cidrs": ["0.0.0.0/0"]}, "0.0.0.0/0", "narrower than /0"),
        ({"consumer_cidrs": []}, "vpc-", "non-empty access.consumer_cidrs"),
        ({"privatelink": {"vpc_id": "vpc-0123456789abcdef0"}}, "vpc-", "non-empty subnet_ids"),
        (
            {"privatelink": {"endpoint_id": "vpce-0123456789abcdef0", "vpc_id": "vpc-01234567"}},
            "vpce-0123456789abcdef0",
            "not both",
        ),
        (
            {"privatelink": {"endpoint_id": "vpce-0123456789abcdef0"}},
            "vpce-0123456789abcdef0",
            "no access.consumer_cidrs with an existing endpoint",
        ),
        ({"privatelink": {"endpoint_id": "vpc-1"}, "consumer_cidrs": []}, "vpc-1", "vpce-"),
        (
            {"consumer_endpoint_url": "https://s3.eu-west-2.amazonaws.com"},
            "https://s3.eu-west-2.amazonaws.com",
            "an S3 interface endpoint URL",
        ),
        (
            {
                "consumer_cidrs": [],
                "privatelink": {"endpoint_id": "vpce-0123456789abcdef0"},
                "consumer_endpoint_url": (
                    "https://bucket.vpce-0fffffffffffffff0-abcd1234.s3.eu-west-2.vpce.amazonaws.com"
                ),
            },
            "vpce-0fffffffffffffff0",
            "the DNS name of access.privatelink.endpoint_id",
        ),
    ],
)
def test_consumer_access_is_validated(changes: dict[str, Any], shown: str, allowed: str) -> None:
    message = _refused(_access(**changes))
    assert "access." in message and shown in message and allowed in message, message


def test_internet_path_refuses_privatelink_settings() -> None:
    message = _refused(_access(consumer_path="internet"))
    assert "access.privatelink" in message and 'unless consumer_path = "privatelink"' in message
    data = _access(consumer_path="internet")
    del data["access"]["privatelink"]
    data["access"]["consumer_endpoint_url"] = (
        "https://bucket.vpce-0123456789abcdef0-abcd1234.s3.eu-west-2.vpce.amazonaws.com"
    )
    assert "access.consumer_endpoint_url" in _refused(data)


def test_privatelink_without_its_section_says_what_to_add() -> None:
    data = copy.deepcopy(BASE)
    del data["access"]["privatelink"]
    message = _refused(data)
    assert "access.consumer_path" in message and "[access.privatelink]" in message


def test_consumer_path_defaults_to_internet_without_restriction() -> None:
    data = copy.deepcopy(BASE)
    for key in ("consumer_path", "consumer_cidrs", "consumer_endpoint_url", "privatelink"):
        del data["access"][key]
    access = parse_config("prod", data).access
    assert (access.consumer_path, access.consumer_cidrs, access.privatelink) == (
        "internet",
        (),
        None,
    )


def test_unknown_privatelink_key_is_refused() -> None:
    data = copy.deepcopy(BASE)
    data["access"]["privatelink"]["subnets"] = ["subnet-0123456789abcdef0"]
    assert "access.privatelink.subnets" in _refused(data)


@pytest.mark.parametrize(
    ("machine", "expected"),
    [("x86_64", "x86_64"), ("AMD64", "x86_64"), ("aarch64", "arm64"), ("arm64", "arm64")],
)
def test_host_architecture_is_the_lambda_name_of_this_cpu(
    monkeypatch: pytest.MonkeyPatch, machine: str, expected: str
) -> None:
    monkeypatch.setattr("platform.machine", lambda: machine)
    assert config_module.host_architecture() == expected


def test_a_cpu_lambda_cannot_run_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("platform.machine", lambda: "riscv64")
    with pytest.raises(ValueError, match="set arm64 or x86_64"):
        config_module.host_architecture()


def test_the_local_environment_builds_for_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("platform.machine", lambda: "aarch64")
    assert filled_config("local").functions.architecture == "arm64"
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    assert filled_config("local").functions.architecture == "x86_64"
    assert filled_config("prod").functions.architecture == "arm64"
