"""Routing references over N streams: stable, one stream per key, balanced, few moves."""

from __future__ import annotations

import collections
import subprocess
import sys

import pytest

from pipeline.routing import (
    StreamNamesError,
    jump_index,
    key_hash,
    parse_stream_names,
    stream_for,
    stream_index,
)

STREAMS = ("s3-aggregator-prod", "s3-aggregator-prod-2", "s3-aggregator-prod-3")
KEYS = [f"incoming/{day:02d}/file-{n:05d}.dat" for day in range(1, 11) for n in range(1000)]


def test_the_same_key_always_goes_to_the_same_stream() -> None:
    first = [stream_for("landing", key, STREAMS) for key in KEYS[:500]]
    again = [stream_for("landing", key, STREAMS) for key in KEYS[:500]]
    assert first == again
    assert set(first) == set(STREAMS)


def test_the_hash_does_not_depend_on_the_process() -> None:
    """Python's own hash() is salted per process; the routing must not be (redrive, Lambdas)."""
    code = (
        "from pipeline.routing import stream_index;"
        "print([stream_index('landing', f'k{n}', 7) for n in range(50)])"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert runs == {str([stream_index("landing", f"k{n}", 7) for n in range(50)]) + "\n"}


def test_known_values_pin_the_function() -> None:
    """A change of hash or index function reroutes every key of a running stack: pinned here."""
    assert key_hash("landing", "a.txt") == key_hash("landing", "a.txt")
    assert key_hash("landing", "a.txt") != key_hash("landing2", "a.txt")
    # bucket and key are separated: ("ab", "c") and ("a", "bc") are different objects
    assert key_hash("ab", "c") != key_hash("a", "bc")
    assert [jump_index(key, 10) for key in (0, 1, 2**63, 2**64 - 1)] == [0, 6, 5, 9]


def test_keys_spread_evenly_over_the_streams() -> None:
    for count in (2, 3, 5, 16):
        streams = tuple(f"s{n}" for n in range(count))
        spread = collections.Counter(stream_for("landing", key, streams) for key in KEYS)
        expected = len(KEYS) / count
        assert set(spread) == set(streams)
        assert all(abs(n - expected) < 0.1 * expected for n in spread.values()), spread


def test_one_stream_takes_everything() -> None:
    assert {stream_for("landing", key, ("only",)) for key in KEYS[:200]} == {"only"}


def test_adding_a_stream_moves_only_its_share_and_only_to_it() -> None:
    before = [stream_index("landing", key, 3) for key in KEYS]
    after = [stream_index("landing", key, 4) for key in KEYS]
    moved = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert {a for _, a in moved} == {3}  # nothing moves between the old streams
    assert abs(len(moved) / len(KEYS) - 1 / 4) < 0.03


def test_unicode_and_odd_keys_route() -> None:
    for key in ("ünïcødé/文件.txt", "../../up.txt", "/leading", "a" * 1024, "+%20"):
        assert stream_for("landing", key, STREAMS) in STREAMS


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a", ("a",)), ("a,b", ("a", "b")), (" a , b ,", ("a", "b")), ("x.y_z-1", ("x.y_z-1",))],
)
def test_stream_names_are_parsed_in_order(text: str, expected: tuple[str, ...]) -> None:
    assert parse_stream_names(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "is not set"), (" , ", "is not set"), ("a,a", "twice"), ("a b", "not a stream name")],
)
def test_bad_stream_names_are_refused(text: str, message: str) -> None:
    with pytest.raises(StreamNamesError, match=message):
        parse_stream_names(text)


def test_an_index_needs_a_bucket() -> None:
    with pytest.raises(ValueError, match="at least one"):
        jump_index(1, 0)
