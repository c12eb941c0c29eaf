"""Snapshots of the generated templates: any change to the infrastructure shows up in review.

After an intended change, regenerate with ``UPDATE_SNAPSHOTS=1 pytest tests/templates``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from templates.config import EnvironmentConfig, available_environments
from templates.stack import build_template, render
from tests.environments import filled_config

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"


def machine_independent(config: EnvironmentConfig) -> EnvironmentConfig:
    """``architecture = "host"`` (local) resolves to this machine's CPU: snapshot it as arm64."""
    functions = dataclasses.replace(config.functions, architecture="arm64")
    return dataclasses.replace(config, functions=functions)


@pytest.mark.parametrize("env", available_environments())
def test_template_matches_snapshot(env: str) -> None:
    text = render(build_template(machine_independent(filled_config(env))))
    snapshot = SNAPSHOTS / f"{env}.json"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(text, encoding="utf-8")
    assert snapshot.is_file(), f"no snapshot for {env}: run with UPDATE_SNAPSHOTS=1"
    assert text == snapshot.read_text(encoding="utf-8"), (
        f"the {env} template changed; if intended, run UPDATE_SNAPSHOTS=1 pytest tests/templates"
    )


@pytest.mark.parametrize("env", available_environments())
def test_rendering_is_deterministic(env: str) -> None:
    first = render(build_template(filled_config(env)))
    second = render(build_template(filled_config(env)))
    assert first == second
