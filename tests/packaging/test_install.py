"""The slim install: the wheel, installed without extras into a clean virtual environment, is a
working on-premise consumer and carries none of the deploy tools (issue 23).

The wheel is built with ``uv build`` and installed with ``uv pip install`` (the lock's versions as
constraints; uv's cache makes a re-run cost seconds), then run as an operator would: by its
console script, from a folder outside the source tree, against a moto server holding a real
bundle (``pipeline.bundle``, as the copier stages it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import boto3
import pytest

from scripts.cli import DEPLOY_EXTRA_HINT, EXIT_OK, EXIT_USAGE
from tests.moto_server import moto_server
from tests.unit.consumer.bundles import SourceFile, build_bundle, files_on_disk, stage

pytestmark = pytest.mark.packaging

ROOT: Final = Path(__file__).resolve().parents[2]
REGION: Final = "eu-west-2"
BUCKET: Final = "distribution"
FILES: Final = [SourceFile("in/a.csv", b"a,b\n1,2\n"), SourceFile("in/b.bin", bytes(range(256)))]
#: the packages of the `deploy` extra (pyproject.toml) and LocalStack itself, by import name
ABSENT: Final = ("troposphere", "localstack_client", "localstack")
COMMAND_TIMEOUT: Final = 120


@dataclass(frozen=True)
class SlimInstall:
    venv: Path
    workdir: Path  # outside the source tree: nothing can be imported from the checkout

    def run(
        self, *argv: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / argv[0]), *argv[1:]],
            cwd=self.workdir,
            env=env or clean_environment(self.workdir),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )


def uv_binary() -> str | None:
    """The uv that `make setup` uses (scripts/bootstrap.sh: on PATH, else .tools/bin/uv)."""
    local = ROOT / ".tools" / "bin" / "uv"
    return shutil.which("uv") or (str(local) if local.exists() else None)


def clean_environment(home: Path) -> dict[str, str]:
    """The machine's environment without this checkout's venv and without any AWS setting but
    moto's credentials: what a service's environment file would give."""
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "UV_PROJECT_ENVIRONMENT")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in drop and not key.startswith(("AWS_", "AGGREGATOR_"))
    }
    env |= {
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        "UV_PYTHON_DOWNLOADS": "never",
    }
    return env


def _uv(uv: str, *argv: str, cwd: Path) -> str:
    done = subprocess.run(
        [uv, *argv], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"uv {' '.join(argv)} failed:\n{done.stderr}"
    return done.stdout


@dataclass(frozen=True)
class Built:
    uv: str
    wheel: Path
    constraints: Path  # the lock's versions of the run-time dependencies
    base: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    uv = uv_binary()
    assert uv is not None, (
        "uv is not installed: run `make setup` (scripts/bootstrap.sh installs it)"
    )
    base = tmp_path_factory.mktemp("slim-install")
    wheels = base / "dist"
    _uv(uv, "build", "--wheel", "--out-dir", str(wheels), "--quiet", cwd=ROOT)
    (wheel,) = wheels.glob("*.whl")
    constraints = base / "constraints.txt"
    _uv(
        uv,
        *("export", "--frozen", "--no-default-groups", "--no-emit-project", "--no-hashes"),
        *("--format", "requirements-txt", "--quiet", "--output-file", str(constraints)),
        cwd=ROOT,
    )
    return Built(uv, wheel, constraints, base)


@pytest.fixture(scope="module")
def slim(built: Built) -> SlimInstall:
    """``pip install <wheel>`` (uv's pip) into a clean venv of the machine's Python 3.13."""
    venv, workdir = built.base / "venv", built.base / "work"
    workdir.mkdir()
    # the Python running the tests: uv finds its base installation (the machine's 3.13)
    _uv(built.uv, "venv", "--quiet", "--python", sys.executable, str(venv), cwd=workdir)
    _uv(
        built.uv,
        *("pip", "install", "--quiet", "--python", str(venv / "bin" / "python")),
        *("--constraint", str(built.constraints), str(built.wheel)),
        cwd=workdir,
    )
    return SlimInstall(venv, workdir)


def test_uv_tool_install_gives_a_working_consume_without_the_deploy_tools(built: Built) -> None:
    tools, bin_dir, workdir = built.base / "tools", built.base / "bin", built.base / "tool-work"
    workdir.mkdir()
    env = clean_environment(workdir) | {"UV_TOOL_DIR": str(tools), "UV_TOOL_BIN_DIR": str(bin_dir)}
    done = subprocess.run(
        [
            *(built.uv, "tool", "install", "--quiet", "--python", sys.executable),
            *("--constraints", str(built.constraints), str(built.wheel)),
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    helped = subprocess.run(
        [str(bin_dir / "aggregator"), "consume", "--help"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert helped.returncode == EXIT_OK, helped.stderr
    assert "--once" in helped.stdout
    (tool_python,) = tools.glob("*/bin/python")
    probe = subprocess.run(
        [str(tool_python), "-c", "import troposphere"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert "No module named 'troposphere'" in probe.stderr


def test_the_slim_install_has_neither_troposphere_nor_localstack(slim: SlimInstall) -> None:
    for module in ABSENT:
        done = slim.run("python", "-c", f"import {module}")
        assert done.returncode != 0, f"{module} is installed by `pip install <wheel>`"
        assert f"No module named '{module}'" in done.stderr
    # the positive control: the same probe finds what the consumer needs
    found = slim.run(
        "python", "-c", "import boto3, prometheus_client, scripts; print(scripts.__file__)"
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith(str(slim.venv)), "imported from the checkout, not the wheel"


def test_consume_help_runs_in_the_slim_install(slim: SlimInstall) -> None:
    done = slim.run("aggregator", "consume", "--help")
    assert done.returncode == EXIT_OK, done.stderr
    assert "--once" in done.stdout and "--endpoint-url" in done.stdout


def test_a_once_pass_delivers_a_real_bundle_from_moto(slim: SlimInstall) -> None:
    with moto_server() as endpoint:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        stage(s3, BUCKET, "bundles/2026/01/01/00/one.gz", build_bundle(FILES))
        output, ledger = slim.workdir / "inbox", slim.workdir / "state" / "ledger.db"

        done = slim.run(
            *("aggregator", "consume", "--env", "prod", "--region", REGION, "--bucket", BUCKET),
            *("--endpoint-url", endpoint, "--output", str(output), "--ledger", str(ledger)),
            *("--once", "--json", "--no-progress"),
        )

        assert done.returncode == EXIT_OK, done.stderr
        assert "Traceback" not in done.stderr
        summary = json.loads(done.stdout.splitlines()[-1])
        assert summary["counts"]["delivered"] == 1
        assert files_on_disk(output) == {f"{f.key}~{f.version_id}": f.content for f in FILES}
        assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0  # delivered, then deleted
        assert ledger.exists()


@pytest.mark.parametrize("argv", [("deploy", "--env", "dev", "--yes"), ("template", "--help")])
def test_a_deploy_command_names_the_extra_in_one_line(
    slim: SlimInstall, argv: tuple[str, ...]
) -> None:
    done = slim.run("aggregator", *argv)
    assert done.returncode == EXIT_USAGE
    assert done.stderr == f"aggregator {argv[0]}: {DEPLOY_EXTRA_HINT}\n"
    assert done.stdout == ""


def test_the_local_environment_without_an_endpoint_names_the_extra(slim: SlimInstall) -> None:
    done = slim.run("aggregator", "consume", "--env", "local", "--once", "--no-progress")
    assert done.returncode == EXIT_USAGE
    assert "pip install 's3-aggregator[deploy]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
