"""Which files a run uploads: a seeded, reproducible mix of sizes, kinds and keys."""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

from scripts.loadgen.content import FileKind, FileSpec

MIB = 1 << 20
#: Default size of the one large file of a mix: over Firehose's 64 MB comfort zone, so it takes
#: the transform's direct path.
DEFAULT_LARGE_SIZE = 72 * MIB
#: Average size of a landing object in production (SPEC).
DEFAULT_MEAN_SIZE = 27_000
_MAX_SMALL_SIZE = 1 * MIB


@dataclass(frozen=True, slots=True)
class MixConfig:
    """Shape of a generated mix (validated here, once)."""

    count: int
    seed: int = 0
    prefix: str = "loadgen/"
    mean_size: int = DEFAULT_MEAN_SIZE
    large_size: int | None = DEFAULT_LARGE_SIZE
    hostile_keys: bool = True

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError(f"--files must be >= 0, got {self.count}")
        if self.mean_size <= 0:
            raise ValueError(f"mean size must be > 0 bytes, got {self.mean_size}")
        if self.large_size is not None and self.large_size <= 64 * MIB:
            raise ValueError(
                f"the large file must be over 64 MiB to exercise the direct path, "
                f"got {self.large_size} bytes"
            )


def file_seed(run_seed: int, index: int) -> int:
    """A per-file seed derived from the run seed (stable across Python versions)."""
    digest = hashlib.sha256(f"{run_seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def hostile_keys(tag: str, prefix: str = "") -> list[str]:
    """Keys that break naive code: URL-encoding look-alikes, unicode, traversal, long names.

    ``tag`` makes them unique per run; the traversal and leading-slash keys deliberately ignore
    ``prefix`` so that they start with ``../`` and ``/``.
    """
    return [
        f"{prefix}odd keys/with spaces {tag}.txt",
        f"{prefix}plus+sign+{tag}.txt",
        f"{prefix}percent%2Fencoded%20{tag}.txt",
        f"{prefix}unicode/ünïcødé-日本語-{tag}.txt",
        f"{prefix}query?and#hash&amp;{tag}.txt",
        f"{prefix}back\\slash {tag}.txt",
        f"../escape-{tag}/../../etc/passwd",
        f"/leading-slash-{tag}/file.txt",
        f"{prefix}dots/../../up-{tag}.txt",
        f"{prefix}long-{tag}/" + "x" * 900 + ".txt",
    ]


def plan_mix(config: MixConfig) -> list[FileSpec]:
    """Exactly ``config.count`` files: the special cases first, then a seeded random mix.

    Order of the special cases (as many as fit): the large file, the hostile keys, two zero-byte
    files, one highly compressible and one binary file. The rest is drawn with weights
    text 60 % / binary 20 % / compressible 12 % / empty 8 %, sizes log-normal around
    ``mean_size`` (capped at 1 MiB).
    """
    rng = random.Random(config.seed)  # noqa: S311 - reproducible test data
    tag = f"s{config.seed}"
    prefix = config.prefix
    specials: list[tuple[str, FileKind, int | None]] = []
    if config.large_size is not None:
        specials.append((f"{prefix}large/large-{tag}.bin", FileKind.LARGE, config.large_size))
    if config.hostile_keys:
        specials += [(key, FileKind.TEXT, None) for key in hostile_keys(tag, config.prefix)]
    specials += [(f"{prefix}empty/empty-{tag}-{n}.dat", FileKind.EMPTY, 0) for n in range(2)]
    specials.append((f"{prefix}compressible/compressible-{tag}.log", FileKind.COMPRESSIBLE, None))
    specials.append((f"{prefix}binary/binary-{tag}.bin", FileKind.BINARY, None))

    specs: list[FileSpec] = []
    for index in range(config.count):
        seed = file_seed(config.seed, index)
        if index < len(specials):
            key, kind, size = specials[index]
        else:
            kind = rng.choices(
                (FileKind.TEXT, FileKind.BINARY, FileKind.COMPRESSIBLE, FileKind.EMPTY),
                weights=(60, 20, 12, 8),
            )[0]
            key = f"{config.prefix}{kind.value}/{index:06d}-{tag}.{_SUFFIX[kind]}"
            size = None
        if size is None:
            size = _draw_size(rng, kind, config.mean_size)
        specs.append(FileSpec(key=key, kind=kind, size=size, seed=seed))
    return specs


_SUFFIX = {
    FileKind.TEXT: "csv",
    FileKind.BINARY: "bin",
    FileKind.COMPRESSIBLE: "log",
    FileKind.EMPTY: "dat",
    FileKind.LARGE: "bin",
}


def _draw_size(rng: random.Random, kind: FileKind, mean_size: int) -> int:
    if kind is FileKind.EMPTY:
        return 0
    sigma = 0.8
    mu = math.log(mean_size) - sigma * sigma / 2  # so that the mean is mean_size
    size = round(rng.lognormvariate(mu, sigma))
    if kind is FileKind.COMPRESSIBLE:
        size *= 4  # log files are bigger and squeeze well
    return max(1, min(size, _MAX_SMALL_SIZE))
