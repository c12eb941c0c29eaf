"""What each package may import, read from the source with ``ast`` (nothing is imported).

The rules (README's layout table and docs/architecture.md state them too):

* ``pipeline/contract/`` imports only the standard library and ``pipeline.contract`` itself: every
  side (Lambdas, templates, operator commands, emulator) imports it, so it must carry nothing.
* Runtime packages: ``pipeline/`` imports only ``pipeline``; ``transforms/`` only ``pipeline``
  and ``transforms``. Neither imports ``templates``, ``scripts`` nor ``localstack_plugins``, and
  their third-party imports are what the Lambda package ships: the ``lambda`` dependency group of
  pyproject.toml and what it depends on (so never troposphere, LocalStack or tqdm).
* ``templates/`` (deploy time) imports ``pipeline``, ``transforms`` and itself, never ``scripts``;
  ``scripts/`` (the operator CLI) imports any project package. Both take third-party code only
  from the project's ``dependencies`` (what ``pip install`` of the CLI brings): never LocalStack,
  which runs in its own process (``python -m localstack_plugins.launch``).
* ``templates/`` imports no ``localstack_plugins`` module, with the one exception listed in
  :data:`EXCEPTIONS`; ``scripts/`` imports only the standard-library-only launcher constants.
* ``localstack_plugins/`` (the emulator) imports from the project only ``pipeline.contract``: it
  plays AWS, so running the pipeline's own code there would prove that code against itself.

Imports under ``if TYPE_CHECKING:`` follow the project rules but may name stub-only packages
(``mypy_boto3_*``), which never load at run time. Dynamic imports (``importlib``) are not seen.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import textwrap
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("pipeline", "transforms", "templates", "scripts", "localstack_plugins")

#: project modules each package may import (a module is allowed when it is or lies under one)
ALLOWED_PROJECT: dict[str, tuple[str, ...]] = {
    "pipeline/contract": ("pipeline.contract",),
    "pipeline": ("pipeline",),
    "transforms": ("pipeline", "transforms"),
    "templates": ("pipeline", "transforms", "templates"),
    "scripts": (
        "pipeline",
        "transforms",
        "templates",
        "scripts",
        "localstack_plugins.owner",
        "localstack_plugins.telemetry",
    ),
    "localstack_plugins": ("pipeline.contract", "localstack_plugins"),
}
#: the dependency sets of pyproject.toml whose modules each package may import ("dependencies":
#: the project's own; else a dependency group), with what they require. () is the standard
#: library only; None is anything (the emulator runs inside LocalStack, with every group).
THIRD_PARTY: dict[str, tuple[str, ...] | None] = {
    "pipeline/contract": (),
    "pipeline": ("lambda",),
    "transforms": ("lambda",),
    # `deploy`: the extra of the deploy tools (troposphere, localstack-client)
    "templates": ("dependencies", "deploy"),
    # `report`: matplotlib, imported only when a latency picture is asked for
    "scripts": ("dependencies", "deploy", "report"),
    "localstack_plugins": None,
}
#: (file, module) imports that break a rule today, each with why it must (for now).
#: An exception that no longer occurs fails the test: delete it then.
EXCEPTIONS: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    file: str  # relative to the project root
    line: int
    module: str  # absolute, with the imported name for ``from`` imports: ``pipeline.aws.Client``
    type_only: bool  # under ``if TYPE_CHECKING:``


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(source: str, file: str) -> Iterator[Import]:
    """Every import statement of ``source`` (module ``file``), relative ones made absolute."""
    package = file.removesuffix(".py").split("/")[:-1]  # a package's __init__: the package

    def visit(node: ast.AST, type_only: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.body:
                    yield from visit_one(statement, True)
                for statement in child.orelse:
                    yield from visit_one(statement, type_only)
            else:
                yield from visit_one(child, type_only)

    def visit_one(node: ast.AST, type_only: bool) -> Iterator[Import]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(file, node.lineno, alias.name, type_only)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                yield Import(file, node.lineno, f"{module}.{alias.name}", type_only)
        else:
            yield from visit(node, type_only)

    yield from visit(ast.parse(source), False)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def _distributions(kind: str) -> frozenset[str]:
    """The distributions of a dependency set of pyproject.toml, with everything they require."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    if kind == "dependencies":
        direct = project["project"]["dependencies"]
    elif kind in project["project"].get("optional-dependencies", {}):
        direct = project["project"]["optional-dependencies"][kind]
    else:
        direct = project["dependency-groups"][kind]
    pending = [Requirement(text).name for text in direct]
    found: set[str] = set()
    while pending:
        name = _normalise(pending.pop())
        if name in found:
            continue
        found.add(name)
        for text in importlib.metadata.distribution(name).requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return frozenset(found)


@cache
def _module_distributions() -> dict[str, frozenset[str]]:
    return {
        module: frozenset(_normalise(name) for name in names)
        for module, names in importlib.metadata.packages_distributions().items()
    }


def _under(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == prefix or module.startswith(f"{prefix}.") for prefix in prefixes)


def _rule_of(file: str) -> str:
    return "pipeline/contract" if file.startswith("pipeline/contract/") else file.split("/")[0]


def violation(found: Import) -> str | None:
    """Why ``found`` breaks its package's rule (None: it may import that)."""
    rule = _rule_of(found.file)
    root = found.module.split(".")[0]
    if root in PROJECT:
        if _under(found.module, ALLOWED_PROJECT[rule]):
            return None
        allowed = ", ".join(ALLOWED_PROJECT[rule])
        return f"{rule}/ may import from the project only {allowed} (see this test's docstring)"
    if root in sys.stdlib_module_names or root == "__future__":
        return None
    kinds = THIRD_PARTY[rule]
    if kinds is None:
        return None
    if not kinds:
        return f"{rule}/ imports only the standard library and {ALLOWED_PROJECT[rule][0]}"
    if found.type_only and root.startswith("mypy_boto3_"):
        return None
    shipped = _module_distributions().get(root, frozenset())
    if any(shipped & _distributions(kind) for kind in kinds):
        return None
    where = " + ".join(f"`{kind}`" for kind in kinds)
    return (
        f"{rule}/ may import third-party code only from pyproject.toml's {where} and what that "
        "requires (nothing else is installed where it runs): move the code or the dependency"
    )


def project_imports() -> Iterator[Import]:
    for package in PROJECT:
        for path in sorted((ROOT / package).rglob("*.py")):
            file = path.relative_to(ROOT).as_posix()
            yield from imports_of(path.read_text(encoding="utf-8"), file)


def test_every_package_imports_only_what_its_rule_allows() -> None:
    broken, excused = [], set()
    for found in project_imports():
        why = violation(found)
        if why is None:
            continue
        key = next(
            (k for k in EXCEPTIONS if k[0] == found.file and _under(found.module, [k[1]])), None
        )
        if key is not None:
            excused.add(key)
            continue
        broken.append(f"{found.file}:{found.line} imports {found.module}: {why}")
    stale = [f"{file} -> {module}" for file, module in EXCEPTIONS if (file, module) not in excused]
    assert not broken, "imports across a package boundary:\n  " + "\n  ".join(broken)
    assert not stale, (
        "these exceptions no longer occur: delete them from EXCEPTIONS in "
        "tests/unit/test_import_boundaries.py\n  " + "\n  ".join(stale)
    )


def _problems(source: str, file: str) -> list[str]:
    return [
        f"{found.module}: {why}"
        for found in imports_of(textwrap.dedent(source), file)
        if (why := violation(found)) is not None
    ]


def test_the_rules_catch_each_kind_of_crossing() -> None:
    # runtime code reaching deploy-time, operator or emulator code, relative imports included
    assert _problems("from templates.config import load_config\n", "transforms/x.py")
    assert _problems("from ..scripts import cli\n", "transforms/x.py")
    assert _problems("import localstack_plugins.firehose\n", "pipeline/copier/x.py")
    assert _problems("import transforms.config\n", "pipeline/x.py")
    # third-party code the Lambda package does not ship
    assert _problems("import troposphere\n", "pipeline/x.py")
    assert _problems("from tqdm import tqdm\n", "transforms/x.py")
    assert _problems("import localstack.utils\n", "scripts/x.py")
    # the contract: standard library and itself only, even for a sibling of pipeline
    assert _problems("from pipeline.errors import ConfigError\n", "pipeline/contract/x.py")
    assert _problems("from .. import errors\n", "pipeline/contract/x.py")
    assert _problems("import boto3\n", "pipeline/contract/x.py")
    # the emulator takes only the contract from the project
    assert _problems("from transforms.prefix import parse\n", "localstack_plugins/x.py")
    assert _problems("from pipeline.bundle import Bundle\n", "localstack_plugins/x.py")
    assert _problems("import scripts.cli\n", "templates/x.py")


def test_the_rules_allow_what_each_package_needs() -> None:
    allowed = {
        "pipeline/contract/x.py": [
            "import re",
            "from . import y",
            "from pipeline.contract.y import Z",
        ],
        "pipeline/x.py": [
            "from botocore.config import Config",
            "from aws_lambda_powertools import L",
        ],
        "transforms/x.py": [
            "import awscrt.s3",
            "from pipeline.contract import y",
            "from . import y",
        ],
        "templates/x.py": [
            "import troposphere.s3",
            "from transforms.config import TransformConfig",
        ],
        "scripts/x.py": ["from tqdm import tqdm", "from localstack_plugins.owner import OWNER_PID"],
        "localstack_plugins/x.py": ["import localstack.utils", "from pipeline.contract import y"],
    }
    for file, lines in allowed.items():
        assert _problems("\n".join(lines) + "\n", file) == [], file
    typed = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mypy_boto3_s3 import S3\n"
    )
    assert _problems(typed, "transforms/x.py") == []
    assert _problems(typed.replace("mypy_boto3_s3", "templates.config"), "transforms/x.py")
