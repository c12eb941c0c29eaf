"""The shipped environment files with their placeholders filled in, as an operator would.

`dev.toml` and `prod.toml` ship with the AWS documentation's example accounts and addresses and no
alarm destination; validation refuses them until replaced (docs/configuration.md, "Before the first
deploy"). Tests that render those environments use these stand-in values instead.
"""

from __future__ import annotations

import copy
import tomllib
from typing import Any

from templates.config import ENVIRONMENTS_DIR, LOCAL_ENV_NAME, EnvironmentConfig, parse_config

#: what an operator writes in place of the placeholders (accounts not used in AWS examples)
FILLED_IN: dict[tuple[str, str], object] = {
    ("access", "external_principal"): "arn:aws:iam::314159265358:root",
    ("access", "consumer_principal"): "arn:aws:iam::271828182845:role/onprem-consumer",
    ("access", "external_cidrs"): ["100.64.12.0/24"],
    ("alarms", "email"): "pipeline-oncall@example.org",
}


def shipped_data(env: str) -> dict[str, Any]:
    """The environment file exactly as shipped."""
    return tomllib.loads((ENVIRONMENTS_DIR / f"{env}.toml").read_text(encoding="utf-8"))


def filled_data(env: str) -> dict[str, Any]:
    """The shipped file with its placeholders replaced (``local`` needs none)."""
    data = copy.deepcopy(shipped_data(env))
    if env != LOCAL_ENV_NAME:
        for (section, key), value in FILLED_IN.items():
            data[section][key] = value
    return data


def filled_config(env: str) -> EnvironmentConfig:
    """The validated configuration of ``env`` as an operator would deploy it."""
    return parse_config(env, filled_data(env), source=f"{env}.toml (filled in)")
