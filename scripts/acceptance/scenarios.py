"""What an acceptance run uploads: the scenarios of issue 22, scaled, all under the run prefix.

Pure: :func:`plan_scenarios` turns a :class:`Scale`, the run prefix and the environment's inline
limit into a list of :class:`Scenario` (files, pace, concurrency). Every key starts with the run
prefix (``_acceptance/<run-id>/``), including the hostile ones: the traversal and leading-slash
keys that :func:`scripts.loadgen.hostile_keys` deliberately leaves outside any prefix are put
under it, so a run never writes (or cleans up) anything outside its own prefix.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.contract.prefixes import ACCEPTANCE_ROOT
from scripts.loadgen import FileKind, FileSpec, hostile_keys
from scripts.loadgen.plan import file_seed

MIB = 1 << 20
#: the one large file of the size mix at ``full`` (issue 22: 100 MiB)
FULL_LARGE_BYTES = 100 * MIB
#: ... and at ``small``: just over the uploader's multipart threshold, so it is still a multipart
#: upload and a direct-path file, at a size a loaded laptop moves in a second or two
SMALL_LARGE_BYTES = 16 * MIB + 1
#: size of the baseline/burst files (the production mean, SPEC)
TYPICAL_BYTES = 27_000


@dataclass(frozen=True, slots=True)
class Scale:
    """How big a run is: rates and durations of the paced scenarios, and the large file."""

    name: str
    baseline_rate: float  # files/s
    baseline_seconds: float
    burst_rate: float  # files/s asked for; the report says what the client reached
    burst_seconds: float
    burst_concurrency: int
    large_bytes: int
    few_mib_bytes: int

    @property
    def baseline_files(self) -> int:
        return max(1, round(self.baseline_rate * self.baseline_seconds))

    @property
    def burst_files(self) -> int:
        return max(1, round(self.burst_rate * self.burst_seconds))


SCALES: dict[str, Scale] = {
    # issue 22: 10 files/s for a minute, 100 files/s for 30-60 s, a 100 MiB file
    "full": Scale("full", 10.0, 60.0, 100.0, 30.0, 32, FULL_LARGE_BYTES, 4 * MIB),
    # a minute or two on the local stack, the same shape
    "small": Scale("small", 10.0, 4.0, 100.0, 2.0, 16, SMALL_LARGE_BYTES, 2 * MIB),
}


@dataclass(frozen=True, slots=True)
class Scenario:
    """One group of files, uploaded together at ``rate`` files/s (None: as fast as possible)."""

    name: str
    files: tuple[FileSpec, ...]
    rate: float | None
    concurrency: int
    what: str  # one line for the report


def new_run_id(now: datetime | None = None) -> str:
    """``20261208T001500Z-1a2b3c``: sortable by time, unique across concurrent runs."""
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{moment}-{secrets.token_hex(3)}"


def run_prefix(run_id: str) -> str:
    """The Landing prefix every object of the run lives under."""
    if not run_id or "/" in run_id:
        raise ValueError(f"a run id is one path component, got {run_id!r}")
    return f"{ACCEPTANCE_ROOT}{run_id}/"


def _files(prefix: str, name: str, kind: FileKind, sizes: list[int], seed: int) -> list[FileSpec]:
    return [
        FileSpec(f"{prefix}{name}/{name}-{n:05d}.dat", kind, size, file_seed(seed, n))
        for n, size in enumerate(sizes)
    ]


def hostile_under(prefix: str, tag: str) -> list[str]:
    """The loader's hostile keys (spaces, Unicode, ``..``, a leading ``/``, 900-byte names), each
    under ``prefix``: a key that does not start with it gets it in front, so ``../escape`` becomes
    ``<prefix>../escape`` and ``/leading`` becomes ``<prefix>/leading`` (an empty component)."""
    keys = hostile_keys(tag, prefix)
    return [key if key.startswith(prefix) else prefix + key for key in keys]


def plan_scenarios(scale: Scale, prefix: str, inline_max_bytes: int) -> list[Scenario]:
    """The scenarios of one run, in upload order."""
    if not prefix.startswith(ACCEPTANCE_ROOT):
        raise ValueError(f"acceptance keys live under {ACCEPTANCE_ROOT!r}, got {prefix!r}")
    baseline = _files(prefix, "baseline", FileKind.TEXT, [TYPICAL_BYTES] * scale.baseline_files, 1)
    burst = _files(prefix, "burst", FileKind.BINARY, [TYPICAL_BYTES // 3] * scale.burst_files, 2)
    sizes = [
        FileSpec(f"{prefix}sizes/zero-bytes.dat", FileKind.EMPTY, 0, file_seed(3, 0)),
        FileSpec(f"{prefix}sizes/small.txt", FileKind.TEXT, 1_500, file_seed(3, 1)),
        FileSpec(
            f"{prefix}sizes/just-over-inline.bin",
            FileKind.BINARY,
            inline_max_bytes + 1,
            file_seed(3, 2),
        ),
        FileSpec(
            f"{prefix}sizes/few-mib.bin", FileKind.BINARY, scale.few_mib_bytes, file_seed(3, 3)
        ),
        FileSpec(f"{prefix}sizes/large.bin", FileKind.LARGE, scale.large_bytes, file_seed(3, 4)),
    ]
    hostile = [
        FileSpec(key, FileKind.TEXT, 700 + n, file_seed(4, n))
        for n, key in enumerate(hostile_under(prefix, "a"))
    ]
    overwritten_key = f"{prefix}overwrite/same-key.txt"
    overwrite = [
        FileSpec(overwritten_key, FileKind.TEXT, 2_000, file_seed(5, 0)),
        FileSpec(overwritten_key, FileKind.TEXT, 2_100, file_seed(5, 1)),
    ]
    return [
        Scenario(
            "baseline",
            tuple(baseline),
            scale.baseline_rate,
            8,
            f"{len(baseline)} files at {scale.baseline_rate:g} files/s",
        ),
        Scenario(
            "burst",
            tuple(burst),
            scale.burst_rate,
            scale.burst_concurrency,
            f"{len(burst)} files at {scale.burst_rate:g} files/s asked",
        ),
        Scenario(
            "size-mix",
            tuple(sizes),
            None,
            len(sizes),
            f"0 B, 1.5 kB, inline limit + 1 ({inline_max_bytes + 1:,} B), "
            f"{scale.few_mib_bytes / MIB:g} MiB, {scale.large_bytes / MIB:.0f} MiB",
        ),
        Scenario(
            "hostile-keys",
            tuple(hostile),
            None,
            4,
            "spaces, Unicode, '..', a leading '/', percent and plus signs, a 900-byte name",
        ),
        # one at a time, in order: the second put is a new version of the same key
        Scenario("overwrite", tuple(overwrite), None, 1, "one key written twice (two versions)"),
    ]
