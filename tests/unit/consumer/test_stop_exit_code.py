"""A daemon stopped by SIGTERM ends with 0 even when the pass it was in had a rejected bundle
(docs/operations.md: "SIGTERM or Ctrl-C stops it with 0"; systemd would mark 1 a failed stop)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from scripts import consume
from scripts.cli import EXIT_OK
from tests.unit.consumer.bundles import SourceFile, build_bundle, files_on_disk, stage
from tests.unit.consumer.conftest import BUCKET, consume_args


def test_sigterm_during_a_pass_with_a_rejected_bundle_stops_the_daemon_with_0(
    cli: None, s3: Any, output: Path
) -> None:
    stage(s3, BUCKET, "bundles/1-bad.gz", b"\x1f\x8b not really gzip")
    stage(s3, BUCKET, "bundles/2-good.gz", build_bundle([SourceFile("k", b"v")]))

    def terminate(**_: Any) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # systemctl stop, while the good bundle ends

    s3.meta.events.register("before-call.s3.DeleteObject", terminate)

    assert consume.run(consume_args(output, "--interval", "60")) == EXIT_OK
    assert files_on_disk(output) == {"k~v1": b"v"}
