"""Reading a TOML document: tables that know their dotted path, record every problem and refuse
unknown keys (one run reports every problem of the document)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from templates.config.schema import ConfigError


class Invalid(Exception):
    """A table had invalid values; they are recorded, so checks across its keys are skipped."""


@dataclass
class Problems:
    """Every problem found in one document, unknown keys first when reported."""

    unknown: list[str]
    other: list[str]

    def add(self, error: ConfigError, unknown: bool = False) -> None:
        (self.unknown if unknown else self.other).append(str(error))

    def all(self) -> list[str]:
        return self.unknown + self.other


def did_you_mean(key: str, known: set[str] | list[str] | tuple[str, ...]) -> str:
    """`` (did you mean X?)`` for the closest known key, or "" when none is close."""
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Table:
    """A TOML table that remembers its dotted path and refuses unknown keys when closed.

    A value outside its range is recorded (not raised) and a placeholder returned, so one run
    reports every problem of the document; :meth:`close` then raises :class:`Invalid` so checks
    that combine several keys are not run on placeholders.
    """

    def __init__(
        self,
        data: Mapping[str, Any],
        path: str,
        source: str,
        problems: Problems | None = None,
        absent: bool = False,
    ) -> None:
        self._data = data
        self._path = path
        self._source = source
        self._used: set[str] = set()
        self._problems = problems if problems is not None else Problems([], [])
        self._failed = absent
        self._absent = absent  # a missing required table: already reported, reads stay silent

    def _key(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def error(self, key: str, value: object, allowed: str) -> ConfigError:
        return ConfigError(
            f"{self._source}: {self._key(key)} = {value!r} is not allowed: expected {allowed}"
        )

    def _soft[T](self, read: Callable[[], T], placeholder: T) -> T:
        if self._absent:
            return placeholder
        try:
            return read()
        except ConfigError as error:
            self._problems.add(error)
            self._failed = True
            return placeholder

    def _raw(self, key: str, default: object = ...) -> object:
        self._used.add(key)
        if key in self._data:
            return self._data[key]
        if default is ...:
            raise ConfigError(f"{self._source}: missing required key {self._key(key)}")
        return default

    def _table(self, key: str, required: bool) -> Table | None:
        value = self._raw(key, ... if required else None)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(key, value, "a table")
        return Table(value, self._key(key), self._source, self._problems)

    def table(self, key: str, required: bool = True) -> Table | None:
        absent = Table({}, self._key(key), self._source, self._problems, absent=True)
        return self._soft(lambda: self._table(key, required), absent if required else None)

    def keys(self) -> tuple[str, ...]:
        return tuple(str(key) for key in self._data)

    def require_table(self, key: str) -> Table:
        table = self.table(key)
        assert table is not None
        return table

    def integer(
        self, key: str, low: int, high: int, default: int | None = None, allowed: str = ""
    ) -> int:
        def read() -> int:
            value = self._raw(key, ... if default is None else default)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise self.error(key, value, allowed or f"an integer from {low} to {high}")
            return value

        return self._soft(read, low if default is None else default)

    def number(self, key: str, low: float, high: float, default: float | None = None) -> float:
        def read() -> float:
            value = self._raw(key, ... if default is None else default)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not low <= value <= high
            ):
                raise self.error(key, value, f"a number from {low} to {high}")
            return float(value)

        return self._soft(read, float(low if default is None else default))

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None) -> str:
        def read() -> str:
            value = self._raw(key, ... if default is None else default)
            if value not in choices:
                raise self.error(key, value, "one of " + ", ".join(choices))
            return str(value)

        return self._soft(read, default or choices[0])

    def boolean(self, key: str, default: bool) -> bool:
        def read() -> bool:
            value = self._raw(key, default)
            if not isinstance(value, bool):
                raise self.error(key, value, "true or false")
            return value

        return self._soft(read, default)

    def string(self, key: str, pattern: re.Pattern[str], allowed: str, default: str = "") -> str:
        def read() -> str:
            value = self._raw(key, default if default else ...)
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise self.error(key, value, allowed)
            return value

        return self._soft(read, default)

    def optional_string(self, key: str, pattern: re.Pattern[str], allowed: str) -> str | None:
        def read() -> str | None:
            value = self._raw(key, "")
            if value == "":
                return None
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise self.error(key, value, allowed + ' (or "" for none)')
            return value

        return self._soft(read, None)

    def strings(
        self, key: str, pattern: re.Pattern[str], allowed: str, required: bool = True
    ) -> tuple[str, ...]:
        def read() -> tuple[str, ...]:
            value = self._raw(key, ... if required else [])
            if not isinstance(value, list) or (required and not value):
                raise self.error(
                    key, value, f"a {'non-empty ' if required else ''}list of {allowed}"
                )
            for item in value:
                if not isinstance(item, str) or not pattern.fullmatch(item):
                    raise self.error(key, item, allowed)
            return tuple(value)

        return self._soft(read, ())

    def raw_string(self, key: str) -> str:
        def read() -> str:
            value = self._raw(key)
            if not isinstance(value, str):
                raise self.error(key, value, "a string")
            return value

        return self._soft(read, "")

    def string_map(self, key: str, pattern: re.Pattern[str], allowed: str) -> dict[str, str]:
        """An optional table of string values (``[tags]``), keys and values matching ``pattern``."""

        def read() -> dict[str, str]:
            value = self._raw(key, {})
            if not isinstance(value, dict):
                raise self.error(key, value, "a table of strings")
            for name, item in value.items():
                if not pattern.fullmatch(name) or not isinstance(item, str):
                    raise self.error(f"{key}.{name}", item, allowed)
                if not pattern.fullmatch(item):
                    raise self.error(f"{key}.{name}", item, allowed)
            return dict(value)

        return self._soft(read, {})

    def close(self) -> None:
        if self._absent:
            raise Invalid
        for key in sorted(set(self._data) - self._used):
            self._problems.add(
                ConfigError(
                    f"{self._source}: unknown key {self._key(key)}"
                    f"{did_you_mean(key, self._used)}: see docs/configuration.md"
                ),
                unknown=True,
            )
            self._failed = True
        if self._failed:
            raise Invalid
