"""Each contract value of pipeline/contract/{naming,slo,metrics,quotas}.py is defined once.

The tree is parsed (not grepped): a string literal equal to a metric name, the metric namespace,
the project name or the default region, a stack name built by hand (``f"s3-aggregator-{env}"``),
or a module-level re-definition of a quota or SLO constant, anywhere outside the contract module,
fails the test. Docstrings and comments may mention the values.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from pipeline.contract import metrics, naming, quotas, slo

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("pipeline", "transforms", "templates", "scripts", "localstack_plugins")
CONTRACT = ROOT / "pipeline" / "contract"

#: (path, value) -> why the literal may stay there (no entry may be needed for long)
ALLOWED = {
    # a price table keyed by region, not a default
    ("scripts/capacity/constants.py", naming.DEFAULT_REGION): "price table key",
    # an arbitrary, fixed SVG id salt
    ("scripts/delivery/plot.py", naming.PROJECT): "SVG hash salt",
}


def _strings(module: object) -> set[str]:
    return {
        value for name, value in vars(module).items() if name.isupper() and isinstance(value, str)
    }


GUARDED_STRINGS = _strings(metrics) | {naming.PROJECT, naming.DEFAULT_REGION}
GUARDED_NAMES = {
    name: value
    for module in (quotas, slo)
    for name, value in vars(module).items()
    if name.isupper() and isinstance(value, int | float) and name != "MIB"
}


def _sources() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if CONTRACT not in path.parents:
                yield path


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
        ):
            found.add(id(body[0].value))
    return found


def _violations(path: Path) -> Iterator[tuple[str, int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if node.value in GUARDED_STRINGS:
                yield node.value, node.lineno, "literal"
            elif node.value.startswith(f"{naming.PROJECT}-") and node.value.endswith("-"):
                yield f"{naming.PROJECT}-", node.lineno, "stack name built by hand"
        if isinstance(node, ast.Constant) and node.value == quotas.MAX_RECORD_BYTES:
            yield str(node.value), node.lineno, "Firehose record limit"
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant | ast.BinOp):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in GUARDED_NAMES:
                    yield target.id, node.lineno, "re-defined"


def test_contract_values_are_defined_only_in_the_contract() -> None:
    found = []
    for path in _sources():
        relative = path.relative_to(ROOT).as_posix()
        for value, line, what in _violations(path):
            if (relative, value) not in ALLOWED:
                found.append(f"{relative}:{line}: {what} {value!r}")
    assert not found, "import it from pipeline/contract instead:\n" + "\n".join(sorted(set(found)))


def test_the_guard_sees_a_copy(tmp_path: Path) -> None:
    copy = tmp_path / "copy.py"
    copy.write_text(
        'NAME = "FileAgeSeconds"\nMAX_BATCH_RECORDS = 500\nSTACK = f"s3-aggregator-{1}"\n'
    )
    found = {what for _, _, what in _violations(copy)}
    assert found == {"literal", "re-defined", "stack name built by hand"}


def test_the_slo_and_the_quotas_hold_the_documented_figures() -> None:
    assert [(t.statistic, t.fraction, t.seconds) for t in slo.SLO_TARGETS] == [
        ("p95", 0.95, 120),
        ("p99.9", 0.999, 180),
    ]
    assert quotas.direct_put_quota("eu-west-2") == quotas.DEFAULT_QUOTA
    assert quotas.direct_put_quota("us-east-1") == quotas.LARGE_QUOTA
    assert quotas.PROCESSOR_CONCURRENCY_PER_STREAM == 5
    assert naming.stack_name("prod") == "s3-aggregator-prod"
