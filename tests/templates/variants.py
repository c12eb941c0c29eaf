"""Configurations beyond the shipped environments that the scanners also check (issue 16).

The shipped files cover the internet path without restriction (dev, local) and the private path
with an endpoint the stack creates (prod); these add the internet path narrowed by
``consumer_cidrs`` and the private path through an existing endpoint, and prod scaled out to
several delivery streams (issue 15).
"""

from __future__ import annotations

from typing import Any

from templates.config import EnvironmentConfig, parse_config
from tests.environments import filled_data

_CHANGES: dict[str, dict[str, Any]] = {
    "internet-cidrs": {
        "consumer_path": "internet",
        "consumer_cidrs": ["100.64.30.0/24"],
        "consumer_endpoint_url": "",
        "privatelink": None,
    },
    "existing-endpoint": {
        "consumer_cidrs": [],
        "privatelink": {"endpoint_id": "vpce-0123456789abcdef0"},
    },
}


def consumer_path_variants() -> dict[str, EnvironmentConfig]:
    """Variant name -> prod's configuration (placeholders filled in) with that consumer path."""
    variants = {}
    for name, changes in _CHANGES.items():
        data = filled_data("prod")
        for key, value in changes.items():
            if value is None:
                data["access"].pop(key, None)
            else:
                data["access"][key] = value
        variants[name] = parse_config("prod", data, source=f"prod.toml ({name})")
    return variants


#: streams of the scaled-out variant: enough that every per-stream resource repeats
SCALED_OUT_STREAMS = 3


def stream_variants() -> dict[str, EnvironmentConfig]:
    """Variant name -> prod's configuration (placeholders filled in) with N delivery streams."""
    data = filled_data("prod")
    data["firehose"]["streams"] = SCALED_OUT_STREAMS
    name = f"{SCALED_OUT_STREAMS}-streams"
    return {name: parse_config("prod", data, source=f"prod.toml ({name})")}


def scanned_variants() -> dict[str, EnvironmentConfig]:
    """Every variant the scanners check besides the shipped environments."""
    return {**consumer_path_variants(), **stream_variants()}
