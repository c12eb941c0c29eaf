"""The evaluation behind the native fetcher: client CPU per 27 KB GET for each candidate path.

Not part of ``make bench`` (a one-off comparison; docs/performance.md gives its figures). Run
``python -m tests.benchmarks.fetch_paths [files]``. Every path GETs the same version-pinned
objects from a keep-alive moto server in its own process and hashes each body; printed per path:
our CPU per GET (user + system of this process, every thread), the server's, and wall time.

Paths: botocore ``get_object`` (sequential, and 32 threads sharing the client); botocore trimmed
(``parameter_validation`` off, checksums only when required); botocore's own SigV4 signer on a
prepared request sent by a urllib3 pool (no client pipeline); awscrt's ``S3Client`` waited on one
request at a time, from 32 threads, and with 32 requests in flight from one thread (the shape
``transforms/crt_fetch.py`` uses).
"""

from __future__ import annotations

import collections
import hashlib
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import botocore.session
import urllib3
from awscrt import auth, http
from awscrt import s3 as crt_s3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config

from tests.moto_server import MotoServer, moto_server_process

SIZE = 27_000
REGION = "eu-west-2"
BUCKET = "landing"
CONCURRENCY = 32


def _report(name: str, server: MotoServer, files: int, run: Callable[[], list[bytes]]) -> None:
    server_before, wall, cpu = server.cpu_seconds(), time.perf_counter(), time.process_time()
    bodies = run()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    server_cpu = server.cpu_seconds() - server_before
    if len(bodies) != files or any(len(body) != SIZE for body in bodies):
        raise RuntimeError(f"{name}: wrong bodies")
    print(
        f"fetch_paths {name}: {cpu / files * 1000:.3f} ms CPU per GET (server "
        f"{server_cpu / files * 1000:.2f} ms, wall {wall / files * 1000:.2f} ms per GET)",
        flush=True,
    )


def main() -> None:
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
        os.environ.setdefault(name, value)
    session = botocore.session.get_session()
    with moto_server_process(keep_alive=True) as server:
        endpoint = server.endpoint
        setup: Any = session.create_client("s3", endpoint_url=endpoint, region_name=REGION)
        location: Any = {"LocationConstraint": REGION}
        setup.create_bucket(Bucket=BUCKET, CreateBucketConfiguration=location)
        setup.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        body = os.urandom(SIZE)
        objects = [
            (key, setup.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"])
            for key in (f"bench/{index:05d}.bin" for index in range(files))
        ]

        def run(get: Callable[[tuple[str, str]], bytes], threads: int = 0) -> list[bytes]:
            if not threads:
                return [get(item) for item in objects]
            with ThreadPoolExecutor(threads) as pool:
                return list(pool.map(get, objects))

        def botocore_get(**options: Any) -> Callable[[tuple[str, str]], bytes]:
            config = Config(
                retries={"mode": "standard", "total_max_attempts": 1},
                max_pool_connections=CONCURRENCY + 4,
                tcp_keepalive=True,
                **options,
            )
            client: Any = session.create_client(
                "s3", endpoint_url=endpoint, region_name=REGION, config=config
            )
            client.head_bucket(Bucket=BUCKET)

            def get(item: tuple[str, str]) -> bytes:
                answer = client.get_object(Bucket=BUCKET, Key=item[0], VersionId=item[1])
                content: bytes = answer["Body"].read()
                hashlib.sha256(content).hexdigest()
                return content

            return get

        plain = botocore_get()
        _report("botocore get_object, sequential", server, files, lambda: run(plain))
        _report("botocore get_object, 32 threads", server, files, lambda: run(plain, 32))
        trimmed = botocore_get(
            parameter_validation=False,
            response_checksum_validation="when_required",
            request_checksum_calculation="when_required",
        )
        _report("botocore trimmed, sequential", server, files, lambda: run(trimmed))
        _report("botocore trimmed, 32 threads", server, files, lambda: run(trimmed, 32))

        credentials = session.get_credentials()
        assert credentials is not None
        signer = S3SigV4Auth(credentials.get_frozen_credentials(), "s3", REGION)
        host, port = endpoint.removeprefix("http://").split(":")
        pool = urllib3.HTTPConnectionPool(host, int(port), maxsize=CONCURRENCY + 4)

        def signed(item: tuple[str, str]) -> bytes:
            path = f"/{BUCKET}/{quote(item[0])}?versionId={quote(item[1], safe='')}"
            request = AWSRequest(
                "GET", endpoint + path, {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
            )
            signer.add_auth(request)
            answer = pool.urlopen(
                "GET", path, headers=dict(request.headers.items()), preload_content=False
            )
            content: bytes = answer.read(SIZE + 1)
            answer.release_conn()
            hashlib.sha256(content).hexdigest()
            return content

        _report("botocore signer + urllib3, sequential", server, files, lambda: run(signed))
        _report("botocore signer + urllib3, 32 threads", server, files, lambda: run(signed, 32))

        provider = auth.AwsCredentialsProvider.new_static("bench", "bench")
        client = crt_s3.S3Client(
            region=REGION,
            signing_config=crt_s3.create_default_s3_signing_config(
                region=REGION, credential_provider=provider
            ),
            tls_mode=crt_s3.S3RequestTlsMode.DISABLED,
            max_active_connections_override=CONCURRENCY,
            retry_config=crt_s3.S3RetryConfig(retry_mode=crt_s3.S3RetryMode.NONE),
        )

        def start(item: tuple[str, str]) -> tuple[Any, list[bytes]]:
            chunks: list[bytes] = []
            path = f"/{BUCKET}/{quote(item[0])}?versionId={quote(item[1], safe='')}"
            request = client.make_request(
                type=crt_s3.S3RequestType.DEFAULT,
                operation_name="GetObject",
                request=http.HttpRequest(
                    "GET", path, http.HttpHeaders([("Host", f"{host}:{port}")])
                ),
                on_body=lambda chunk, **_: chunks.append(bytes(chunk)),
            )
            return request, chunks

        def collect(started: tuple[Any, list[bytes]]) -> bytes:
            started[0].finished_future.result(30)
            content = b"".join(started[1])
            hashlib.sha256(content).hexdigest()
            return content

        def one(item: tuple[str, str]) -> bytes:
            return collect(start(item))

        def in_flight() -> list[bytes]:
            window: collections.deque[tuple[Any, list[bytes]]] = collections.deque()
            done = []
            for item in objects:
                if len(window) >= CONCURRENCY:
                    done.append(collect(window.popleft()))
                window.append(start(item))
            done.extend(collect(started) for started in window)
            return done

        _report("awscrt S3Client, sequential", server, files, lambda: run(one))
        _report("awscrt S3Client, 32 threads", server, files, lambda: run(one, 32))
        _report("awscrt S3Client, 32 in flight, one thread", server, files, in_flight)


if __name__ == "__main__":
    main()
