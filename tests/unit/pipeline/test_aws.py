"""The functions' client factories (pipeline/aws.py): the config each asks for, one client each."""

from __future__ import annotations

from typing import Any

from pipeline import aws


def _settings(client: Any) -> tuple[object, ...]:
    config = client.meta.config
    return (
        client.meta.service_model.service_name,
        config.retries,
        config.connect_timeout,
        config.read_timeout,
        config.max_pool_connections,
        config.tcp_keepalive,
    )


def test_defaults_are_three_standard_attempts_and_the_module_timeouts() -> None:
    expected = ({"mode": "standard", "total_max_attempts": 3}, 5, 30, 10, True)
    assert _settings(aws.s3()) == ("s3", *expected)
    assert _settings(aws.firehose()) == ("firehose", *expected)


def test_each_option_reaches_the_client() -> None:
    s3 = aws.s3(max_attempts=1, max_pool_connections=40, connect_timeout=2.0, read_timeout=3.0)
    firehose = aws.firehose(max_attempts=2, connect_timeout=1.5, read_timeout=4.0)
    once = {"mode": "standard", "total_max_attempts": 1}
    assert _settings(s3) == ("s3", once, 2.0, 3.0, 40, True)
    assert _settings(firehose) == (
        "firehose",
        {"mode": "standard", "total_max_attempts": 2},
        1.5,
        4.0,
        10,
        True,
    )


def test_one_client_per_configuration_however_it_is_spelt() -> None:
    assert aws.s3() is aws.s3(max_attempts=3) is aws.client("s3")
    assert aws.s3(read_timeout=3.0, max_attempts=1) is aws.s3(max_attempts=1, read_timeout=3.0)
    assert aws.s3(max_attempts=1) is not aws.s3()
    assert aws.client("firehose") is not aws.client("s3")


def test_reset_forgets_the_clients() -> None:
    before = aws.s3()
    aws.reset_clients()
    assert aws.s3() is not before
