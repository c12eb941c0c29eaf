"""Reading and validating `templates/environments/<env>.toml` into an :class:`EnvironmentConfig`."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from templates.config.access import read_access, read_network
from templates.config.deployable import deployable_problems
from templates.config.reader import Invalid, Problems, Table
from templates.config.schema import (
    ENV_NAME_PATTERN,
    ENVIRONMENTS_DIR,
    ConfigError,
    EnvironmentConfig,
    FirehoseBuffering,
)
from templates.config.sections import (
    read_alarms,
    read_canary,
    read_capacity,
    read_firehose,
    read_functions,
    read_prefixes,
    read_processor,
    read_retention,
    read_tags,
    read_transform,
)


def parse_config(
    name: str, data: Mapping[str, Any], source: str = "<config>", *, deployable: bool = True
) -> EnvironmentConfig:
    """Validate a parsed TOML document into an :class:`EnvironmentConfig`.

    Every problem is collected and reported in one :class:`ConfigError` (unknown keys first,
    each with a "did you mean" suggestion when a known key is close). ``deployable=False`` skips
    :func:`deployable_problems`: for readers that deploy nothing (the capacity model, the
    consumer's endpoint lookup), a shipped placeholder account or CIDR changes no answer.
    """
    if not ENV_NAME_PATTERN.fullmatch(name):
        raise ConfigError(
            f"environment name {name!r} is not allowed: expected 1-8 lowercase letters/digits "
            "starting with a letter (it is part of every bucket name)"
        )
    problems = Problems([], [])
    root = Table(data, "", source, problems)

    def section[T](build: Callable[..., T], *args: Any) -> T | None:
        try:
            return build(*args)
        except Invalid:  # its problems are recorded already
            return None
        except ConfigError as error:  # a check across several keys of the section
            problems.add(error)
            return None

    firehose = section(read_firehose, root.require_table("firehose"))
    parts: dict[str, Any] = {
        "firehose": firehose,
        "processor": section(read_processor, root.require_table("processor")),
        "prefixes": section(read_prefixes, root.require_table("prefixes")),
        "transform": section(read_transform, root.require_table("transform")),
        "functions": section(read_functions, root.require_table("functions")),
        "retention": section(read_retention, root.require_table("retention")),
        "alarms": section(
            read_alarms, root.require_table("alarms"), firehose or FirehoseBuffering(1, 0)
        ),
        "access": section(read_access, root.require_table("access")),
    }
    network_table = root.table("network", required=False)
    network = section(read_network, network_table)
    capacity = section(read_capacity, root.table("capacity", required=False))
    canary = section(read_canary, root.table("canary", required=False))
    tags = read_tags(root)
    section(root.close)
    if problems.all() or any(part is None for part in parts.values()) or canary is None:
        raise config_error(problems.all(), source)
    config = EnvironmentConfig(
        name=name, network=network, capacity=capacity, canary=canary, tags=tags, **parts
    )
    refused = deployable_problems(config, source) if deployable else []
    if refused:
        raise config_error(refused, source)
    return config


def config_error(problems: list[str], source: str) -> ConfigError:
    """One error carrying every problem (``.problems``), one per line when there are several."""
    if len(problems) == 1:
        error = ConfigError(problems[0])
    else:
        lines = "\n".join(f"  - {problem.removeprefix(source + ': ')}" for problem in problems)
        error = ConfigError(f"{source}: {len(problems)} problems:\n{lines}")
    error.problems = list(problems)
    return error


def available_environments(directory: Path = ENVIRONMENTS_DIR) -> tuple[str, ...]:
    return tuple(sorted(path.stem for path in directory.glob("*.toml")))


def load_config(
    name: str, directory: Path = ENVIRONMENTS_DIR, *, deployable: bool = True
) -> EnvironmentConfig:
    """Read and validate `<directory>/<name>.toml` (``deployable``: see :func:`parse_config`)."""
    path = directory / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(available_environments(directory)) or "none"
        raise ConfigError(f"no configuration for environment {name!r} at {path} (known: {known})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from error
    return parse_config(name, data, source=str(path), deployable=deployable)
