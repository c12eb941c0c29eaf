"""Generated templates of every environment, as text and as parsed JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts.template import write_templates
from templates.config import EnvironmentConfig, available_environments
from templates.stack import build_template, render
from tests.environments import filled_config
from tests.templates.variants import scanned_variants

ENVIRONMENTS = available_environments()


@pytest.fixture(scope="session", params=ENVIRONMENTS)
def config(request: pytest.FixtureRequest) -> EnvironmentConfig:
    return filled_config(str(request.param))


@pytest.fixture(scope="session")
def template(config: EnvironmentConfig) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(render(build_template(config)))
    return parsed


@pytest.fixture(scope="session")
def rendered_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every environment's pipeline and artifacts templates under <dir>/<env>/, and the
    consumer-path variants' under <dir>/variants/<variant>/<env>/."""
    root = tmp_path_factory.mktemp("build")
    for env in ENVIRONMENTS:
        write_templates(filled_config(env), root)
    for name, variant in scanned_variants().items():
        write_templates(variant, root / "variants" / name)
    return root
