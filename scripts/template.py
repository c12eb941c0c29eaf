"""`aggregator template --env ENV`: write an environment's templates to build/<env>/.

The output is deterministic: the same configuration always produces byte-identical files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from templates.bootstrap import build_bootstrap_template
from templates.config import ConfigError, EnvironmentConfig, available_environments, load_config
from templates.stack import build_template, render

HELP = "write build/<env>/pipeline.json (and the artifacts bootstrap template)"
BUILD_DIR = Path("build")
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
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR, help="output root (build)")


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.env)
    except ConfigError as error:
        print(f"aggregator template: {error}", file=sys.stderr)
        return 2
    for path in write_templates(config, args.build_dir):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0
