"""Reading the EMF metric lines a handler printed (powertools Metrics) in unit tests."""

from __future__ import annotations

import json


def emf_values(output: str) -> dict[str, list[float]]:
    """Every metric value in ``output``'s EMF lines, by metric name, in the order printed."""
    found: dict[str, list[float]] = {}
    for line in output.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        for definition in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            value = document[definition["Name"]]
            found.setdefault(definition["Name"], []).extend(
                value if isinstance(value, list) else [value]
            )
    return found
