"""The planned mix: reproducible, exactly the requested count, every special case present."""

from __future__ import annotations

from collections import Counter

import pytest

from scripts.loadgen import FileKind, MixConfig, hostile_keys, plan_mix
from scripts.loadgen.plan import DEFAULT_LARGE_SIZE, MIB


def test_same_seed_same_plan_other_seed_other_plan() -> None:
    assert plan_mix(MixConfig(count=200, seed=4)) == plan_mix(MixConfig(count=200, seed=4))
    assert plan_mix(MixConfig(count=200, seed=4)) != plan_mix(MixConfig(count=200, seed=5))


def test_plan_has_every_kind_of_file_and_the_hostile_keys() -> None:
    specs = plan_mix(MixConfig(count=300, seed=1, prefix="run/"))
    assert len(specs) == 300
    kinds = Counter(spec.kind for spec in specs)
    assert kinds[FileKind.LARGE] == 1
    assert kinds[FileKind.EMPTY] >= 2
    assert kinds[FileKind.COMPRESSIBLE] >= 1
    assert kinds[FileKind.BINARY] >= 1
    assert kinds[FileKind.TEXT] > 100
    keys = {spec.key for spec in specs}
    assert len(keys) == len(specs), "keys must be unique within a plan"
    assert set(hostile_keys("s1", "run/")) <= keys
    assert any(key.startswith("../") for key in keys)
    assert any(key.startswith("/") for key in keys)
    large = next(spec for spec in specs if spec.kind is FileKind.LARGE)
    assert large.size == DEFAULT_LARGE_SIZE > 64 * MIB


def test_small_sizes_average_near_the_production_mean() -> None:
    specs = plan_mix(MixConfig(count=5000, seed=2, large_size=None, hostile_keys=False))
    text = [spec.size for spec in specs if spec.kind is FileKind.TEXT]
    mean = sum(text) / len(text)
    assert 20_000 < mean < 34_000
    assert max(spec.size for spec in specs) <= MIB


def test_small_counts_keep_the_most_important_cases_first() -> None:
    assert [s.kind for s in plan_mix(MixConfig(count=1, seed=0))] == [FileKind.LARGE]
    assert plan_mix(MixConfig(count=0)) == []
    no_large = plan_mix(MixConfig(count=3, large_size=None, hostile_keys=False))
    assert [s.kind for s in no_large] == [FileKind.EMPTY, FileKind.EMPTY, FileKind.COMPRESSIBLE]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (dict(count=-1), "--files"),
        (dict(count=1, large_size=64 * MIB), "over 64 MiB"),
        (dict(count=1, mean_size=0), "mean size"),
    ],
)
def test_invalid_mix_is_refused_with_a_message(config: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MixConfig(**config)  # type: ignore[arg-type]
