"""A test double of the transform's fetcher: botocore ``get_object`` calls on a thread pool.

The function fetches inline files with the native fetcher (transforms/crt_fetch.py), whose HTTP
in-process moto cannot intercept. Tests of the batch logic that run against in-process moto
(planning, packing, budgets, re-puts, the direct path) read their inline files with this double:
:func:`transforms.fetch.fetch_object` (the direct path's own read of small files) per reference.
Faults on Landing GETs are tested on the native fetcher (test_native_fetch_faults.py).

It imports only the standard library and the function package, so the transform benchmark's
worker (which runs with nothing else on its path) loads it by file name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.deadline import Deadline
from pipeline.references import ObjectReference
from transforms.fetch import FetchResult, fetch_object

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True, slots=True)
class BotocoreFetcher:
    """:func:`fetch_object` on a thread pool, one botocore client shared by the threads."""

    s3: S3Client

    @contextlib.contextmanager
    def fetching(
        self, references: Sequence[ObjectReference], deadline: Deadline, concurrency: int
    ) -> Iterator[Iterator[FetchResult]]:
        workers = max(1, min(concurrency, len(references)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
            futures = [pool.submit(fetch_object, self.s3, ref, deadline) for ref in references]
            yield (future.result() for future in futures)
