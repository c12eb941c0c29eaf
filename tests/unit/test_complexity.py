"""No function above cyclomatic complexity 15 without a reason (issue 20: decide, then act).

Radon measures every function, method and closure of the project's packages. One above
:data:`LIMIT` passes only when a ``# complexity: <why>`` comment stands on its ``def`` line or in
its body. The fix is usually a split: a planning part that returns data (pure, tested directly)
and an executing part that carries the plan out; the comment is for the few that read best
whole (a flat dispatch over a specification's table, say).
"""

from __future__ import annotations

import io
import re
import textwrap
import tokenize
from pathlib import Path

from radon.complexity import add_inner_blocks, cc_visit
from radon.visitors import Function

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline", "transforms", "templates", "scripts", "localstack_plugins")
LIMIT = 15
#: the reason comment: ``# complexity: <why it stays whole>`` (a reason is required)
MARKER = re.compile(r"#\s*complexity:\s*\S")


def reason_lines(source: str) -> set[int]:
    """Line numbers holding a reason comment (real comments only, not text in strings)."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {
        token.start[0]
        for token in tokens
        if token.type == tokenize.COMMENT and MARKER.match(token.string)
    }


def offenders(source: str, where: str, limit: int = LIMIT) -> list[str]:
    """``where::name (CC n, line l)`` for each function above ``limit`` without a reason."""
    complex_ = [
        block
        for block in add_inner_blocks(cc_visit(source))
        if isinstance(block, Function) and block.complexity > limit
    ]
    reasons = reason_lines(source) if complex_ else set()
    found = []
    for block in complex_:
        if any(block.lineno <= line <= block.endline for line in reasons):
            continue
        name = f"{block.classname}.{block.name}" if block.classname else block.name
        found.append(f"{where}::{name} (CC {block.complexity}, line {block.lineno})")
    return found


def test_no_function_above_the_limit_without_a_reason() -> None:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            where = path.relative_to(ROOT).as_posix()
            found.extend(offenders(path.read_text(encoding="utf-8"), where))
    assert not found, (
        f"functions above cyclomatic complexity {LIMIT}: split each into a planning part that "
        "returns data and an executing part, or say why it stays whole with a "
        "'# complexity: <reason>' comment on its def line or in its body:\n  " + "\n  ".join(found)
    )


def _branchy(name: str, branches: int, comment: str = "") -> str:
    """A function of complexity ``branches + 1``, with ``comment`` as its first body line."""
    body = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(branches))
    first = f"    {comment}\n" if comment else ""
    return f"def {name}(x: int) -> int:\n{first}{body}    return -1\n"


def test_the_check_counts_functions_methods_and_closures() -> None:
    assert offenders(_branchy("fine", LIMIT - 1), "m.py") == []
    assert offenders(_branchy("tangled", LIMIT), "m.py") == ["m.py::tangled (CC 16, line 1)"]
    method = "class Worker:\n" + textwrap.indent(_branchy("step", LIMIT), "    ")
    assert offenders(method, "m.py") == ["m.py::Worker.step (CC 16, line 2)"]
    closure = "def outer() -> None:\n" + textwrap.indent(_branchy("inner", LIMIT), "    ")
    assert offenders(closure, "m.py") == ["m.py::outer.inner (CC 16, line 2)"]


def test_only_a_reason_comment_excuses_a_function() -> None:
    reasoned = _branchy("table", LIMIT, "# complexity: one branch per row of the spec's table")
    assert offenders(reasoned, "m.py") == []
    empty = _branchy("table", LIMIT, "# complexity:")
    assert offenders(empty, "m.py") == ["m.py::table (CC 16, line 1)"]
    in_a_string = _branchy("table", LIMIT, '"""# complexity: not a comment"""')
    assert offenders(in_a_string, "m.py") == ["m.py::table (CC 16, line 1)"]
    elsewhere = _branchy("table", LIMIT) + "\n# complexity: below the function, not in it\n"
    assert offenders(elsewhere, "m.py") == ["m.py::table (CC 16, line 1)"]
