"""`aggregator template --env ENV`: write an environment's templates to build/<env>/.

The output is deterministic: the same configuration always produces byte-identical files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scripts.package import PROJECT_ROOT
from templates.bootstrap import build_bootstrap_template
from templates.config import EnvironmentConfig, available_environments, load_config
from templates.stack import build_template, render

HELP = "write build/<env>/pipeline.json (and the artifacts bootstrap template)"
#: under the project root whatever the current directory is
BUILD_DIR = PROJECT_ROOT / "build"
PIPELINE_FILE = "pipeline.json"
ARTIFACTS_FILE = "artifacts.json"


def write_templates(config: EnvironmentConfig, build_dir: Path = BUILD_DIR) -> list[Path]:
    """Render both templates of ``config`` under ``build_dir/<env>/``; returns the paths."""
    folder = build_dir / config.name
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, template in (
        (PIPELINE_FILE, build_template(config)),
        (ARTIFACTS_FILE, build_bootstrap_template(config)),
    ):
        path = folder / filename
        path.write_text(render(template), encoding="utf-8")
        written.append(path)
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env",
        required=True,
        help="environment, one of: " + ", ".join(available_environments()),
    )
    parser.add_argument(
        "--build-dir", type=Path, default=BUILD_DIR, help="output root (default: <project>/build)"
    )
    parser.add_argument("--json", action="store_true", help="the written files as JSON")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.env)  # a ConfigError is reported by scripts.cli (exit 2)
    written = write_templates(config, args.build_dir)
    if args.json:
        files = [{"path": str(path), "bytes": path.stat().st_size} for path in written]
        print(json.dumps({"env": config.name, "files": files}))
        return 0
    for path in written:
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0
