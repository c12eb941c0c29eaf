"""`aggregator loadgen`: upload a seeded, realistic mix of files to the Landing bucket.

The package is also the load API the demo, the end-to-end tests and the benchmarks share:
:func:`plan_mix` decides the files, :func:`upload_all` sends them, and every
:class:`UploadRecord` says what S3 stored (key, version id, size, SHA-256, completion time).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scripts.loadgen.content import FileKind, FileSpec, generate, same_content, sha256_of
from scripts.loadgen.manifest import read_manifest, write_manifest
from scripts.loadgen.plan import DEFAULT_LARGE_SIZE, MIB, MixConfig, hostile_keys, plan_mix
from scripts.loadgen.upload import UploadError, UploadRecord, upload_all, upload_file

__all__ = [
    "FileKind",
    "FileSpec",
    "MixConfig",
    "UploadError",
    "UploadRecord",
    "generate",
    "hostile_keys",
    "plan_mix",
    "read_manifest",
    "same_content",
    "sha256_of",
    "upload_all",
    "upload_file",
    "write_manifest",
]

HELP = "upload a seeded mix of files (text, empty, compressible, binary, large, odd keys)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default="local", help="environment whose stack to feed")
    parser.add_argument("--endpoint-url", help="override the endpoint (default: the env's)")
    parser.add_argument("--bucket", help="target bucket (default: the stack's LandingBucketName)")
    parser.add_argument("--files", type=int, default=100, help="how many files (default 100)")
    parser.add_argument("--rate", type=float, default=10.0, help="files per second, 0 for no limit")
    parser.add_argument("--concurrency", type=int, default=8, help="uploads in flight")
    parser.add_argument("--seed", type=int, default=0, help="seed (same seed, same files)")
    parser.add_argument("--prefix", default="loadgen/", help="key prefix of the ordinary files")
    parser.add_argument(
        "--large-mb",
        type=int,
        default=DEFAULT_LARGE_SIZE // MIB,
        help="size of the one large file in MiB (> 64); 0 for none",
    )
    parser.add_argument("--no-hostile-keys", action="store_true", help="only ordinary keys")
    parser.add_argument("--manifest", type=Path, help="write the upload records here (JSON lines)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="the summary as JSON on stdout")


def run(args: argparse.Namespace) -> int:
    from scripts.session import EnvSession, stack_outputs

    try:
        config = MixConfig(
            count=args.files,
            seed=args.seed,
            prefix=args.prefix,
            large_size=args.large_mb * MIB if args.large_mb else None,
            hostile_keys=not args.no_hostile_keys,
        )
    except ValueError as error:
        print(f"aggregator loadgen: {error}", file=sys.stderr)
        return 2
    session = EnvSession.from_args(args)
    bucket = args.bucket or stack_outputs(session)["LandingBucketName"]
    specs = plan_mix(config)
    try:
        records = upload_all(
            session.client("s3"),
            bucket,
            specs,
            rate=args.rate or None,
            concurrency=args.concurrency,
            progress=not args.quiet,
        )
    except UploadError as error:
        print(f"aggregator loadgen: {error}", file=sys.stderr)
        return 1
    if args.manifest:
        write_manifest(args.manifest, records)
    total = sum(record.size for record in records)
    if records:
        elapsed = records[-1].completed_at - records[0].started_at
        rate = len(records) / elapsed if elapsed > 0 else float("inf")
    else:
        rate = 0.0
    if getattr(args, "json", False):
        summary = {
            "files": len(records),
            "bytes": total,
            "bucket": bucket,
            "files_per_second": rate if rate != float("inf") else None,
        }
        print(json.dumps(summary))
        return 0
    print(
        f"loadgen: {len(records)} files, {total / MIB:.1f} MiB uploaded to {bucket} "
        f"({rate:.1f} files/s)"
    )
    return 0
