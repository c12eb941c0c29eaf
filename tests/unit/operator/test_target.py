"""The preamble `aggregator deploy`, `diff` and `destroy` share (scripts/target.py)."""

from __future__ import annotations

import argparse

import pytest

from scripts.session import EnvSession
from scripts.target import ConfiguredTarget, add_target_arguments
from templates.config import load_config


def test_env_is_required_and_the_endpoint_optional() -> None:
    parser = argparse.ArgumentParser()
    add_target_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args([])
    args = parser.parse_args(["--env", "local"])
    assert (args.env, args.endpoint_url) == ("local", None)


@pytest.mark.parametrize(
    ("endpoint", "profile", "expected"),
    [
        (None, None, "environment local: account 1, region eu-west-2"),
        (
            "http://localhost:4566",
            "ops",
            "environment local: account 1, region eu-west-2, endpoint http://localhost:4566, "
            "profile ops",
        ),
    ],
)
def test_where_names_account_region_endpoint_and_profile(
    endpoint: str | None, profile: str | None, expected: str
) -> None:
    session = EnvSession("local", "eu-west-2", endpoint, _session=None, profile=profile)
    target = ConfiguredTarget(session, "1", load_config("local"))
    assert target.where == expected
