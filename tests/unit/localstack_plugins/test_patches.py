"""The patch registry: every target exists in the pinned LocalStack, checks fail loudly.

Pure checks over the imported modules: no LocalStack process is started.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from localstack.aws.protocol import serializer
from localstack.services.s3.provider import S3Provider

from localstack_plugins import launch, patches
from localstack_plugins.patches import REGISTRY, Kind, Patch, PatchError

ROOT = Path(__file__).resolve().parents[3]
FOREIGN_PACKAGES = ("localstack", "rolo", "twisted", "moto", "werkzeug", "plux")


def _rename(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> None:
    """What an upstream rename does to the patch: the old name is gone, a new one exists."""
    monkeypatch.setattr(owner, f"{name}_renamed", getattr(owner, name), raising=False)
    monkeypatch.delattr(owner, name)


def _recording(registry: tuple[Patch, ...]) -> tuple[list[str], list[Patch]]:
    """The registry with installers that only record that they were called."""
    calls: list[str] = []

    def recorder(name: str) -> Callable[[], object]:
        return lambda: calls.append(name)

    return calls, [dataclasses.replace(p, install=recorder(p.name)) for p in registry]


def test_the_installed_localstack_is_the_pinned_one_and_the_lock_agrees() -> None:
    assert patches.installed_localstack() == patches.PINNED_LOCALSTACK
    pin = re.search(r'"localstack-core\[runtime\]==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert pin is not None
    assert pin.group(1) == patches.PINNED_LOCALSTACK


@pytest.mark.parametrize("patch", REGISTRY, ids=lambda patch: patch.name)
def test_every_registered_target_exists_with_the_expected_signature(patch: Patch) -> None:
    assert patches.problems_of(patch) == ()
    assert patch.written_for == patches.PINNED_LOCALSTACK
    assert patch.reason and patch.rests_on and patch.targets
    if patch.kind is Kind.SPEED:
        assert patch.gain, f"speed patch {patch.name} without its measured gain"


def test_names_are_unique() -> None:
    assert len({patch.name for patch in REGISTRY}) == len(REGISTRY)


def _patching_functions(path: Path) -> set[str]:
    """Top-level functions of ``path`` that assign an attribute of a foreign module or class
    (``X.attr = ...`` or ``setattr(X, ...)`` with ``X`` imported from LocalStack & co)."""
    tree = ast.parse(path.read_text())
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)

    def foreign_names(node: ast.AST) -> set[str]:
        names: set[str] = set()
        for item in ast.walk(node):
            if isinstance(item, ast.ImportFrom) and (item.module or "").startswith(
                FOREIGN_PACKAGES
            ):
                names.update(alias.asname or alias.name for alias in item.names)
            elif isinstance(item, ast.Import):
                names.update(
                    (alias.asname or alias.name).split(".")[0]
                    for alias in item.names
                    if alias.name.startswith(FOREIGN_PACKAGES)
                )
        return names

    def root(node: ast.AST) -> str | None:
        while isinstance(node, ast.Attribute):
            node = node.value
        return node.id if isinstance(node, ast.Name) else None

    found: set[str] = set()
    for function in tree.body:
        if not isinstance(function, ast.FunctionDef):
            continue
        foreign = foreign_names(function)
        for item in ast.walk(function):
            targets: list[ast.AST] = []
            if isinstance(item, ast.Assign):
                targets = [t for t in item.targets if isinstance(t, ast.Attribute)]
            elif (
                isinstance(item, ast.Call)
                and isinstance(item.func, ast.Name)
                and item.func.id == "setattr"
            ):
                targets = [item.args[0]]
            if any(root(target) in foreign for target in targets):
                found.add(f"{module}.{function.name}")
    return found


def test_every_patch_of_foreign_internals_is_applied_through_the_registry() -> None:
    patching = {
        name
        for path in sorted((ROOT / "localstack_plugins").rglob("*.py"))
        for name in _patching_functions(path)
    }
    installers = {f"{p.install.__module__}.{p.install.__qualname__}" for p in REGISTRY}
    assert "localstack_plugins.s3_listing.install" in patching  # the scan sees patches
    assert patching - installers == set(), "patches applied outside the registry"


def test_a_renamed_fidelity_target_stops_the_start_naming_the_patch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _rename(monkeypatch, S3Provider, "list_objects_v2")
    calls, registry = _recording(REGISTRY)
    with pytest.raises(PatchError, match="fidelity patch 's3-listing-raw-markers'") as raised:
        patches.apply(registry, installed=patches.PINNED_LOCALSTACK)
    assert "S3Provider.list_objects_v2 not found" in str(raised.value)
    assert calls == [], "nothing is applied when a patch that must apply cannot"


def test_a_renamed_speed_target_skips_that_patch_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _rename(monkeypatch, serializer, "parse_to_aware_datetime")
    calls, registry = _recording(REGISTRY)
    with caplog.at_level(logging.WARNING, logger=patches.__name__):
        outcomes = patches.apply(registry, installed=patches.PINNED_LOCALSTACK)
    skipped = [outcome.patch.name for outcome in outcomes if not outcome.applied]
    assert skipped == ["header-timestamp-cache"]
    assert "speed patch 'header-timestamp-cache' skipped" in caplog.text
    assert calls == [p.name for p in REGISTRY if p.name != "header-timestamp-cache"]


def test_a_changed_signature_is_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    def complete(self: object, context: object) -> None: ...

    monkeypatch.setattr(S3Provider, "complete_multipart_upload", complete)
    with pytest.raises(PatchError, match=r"s3-complete-multipart-once.*parameters"):
        patches.plan(REGISTRY)


def test_another_localstack_version_stops_the_start_before_any_patch() -> None:
    calls, registry = _recording(REGISTRY)
    with pytest.raises(PatchError, match=r"localstack-core 2099\.1\.0 is installed"):
        patches.apply(registry, installed="2099.1.0")
    assert calls == []


def test_without_speed_patches_only_the_others_apply() -> None:
    calls, registry = _recording(REGISTRY)
    outcomes = patches.apply(registry, speed=False, installed=patches.PINNED_LOCALSTACK)
    assert calls == [p.name for p in REGISTRY if p.kind is not Kind.SPEED]
    assert {o.note for o in outcomes if not o.applied} == {"speed patches switched off"}


def test_named_speed_patches_are_left_out_and_every_other_applies() -> None:
    calls, registry = _recording(REGISTRY)
    left_out = "gil-switch-interval, header-timestamp-cache"
    outcomes = patches.apply(registry, installed=patches.PINNED_LOCALSTACK, skip=left_out)
    assert calls == [
        p.name for p in REGISTRY if p.name not in {"gil-switch-interval", "header-timestamp-cache"}
    ]
    assert {o.patch.name: o.note for o in outcomes if not o.applied} == {
        "gil-switch-interval": "left out on request",
        "header-timestamp-cache": "left out on request",
    }


@pytest.mark.parametrize("name", ["s3-listing-raw-markers", "no-such-patch"])
def test_only_speed_patches_can_be_left_out(name: str) -> None:
    calls, registry = _recording(REGISTRY)
    with pytest.raises(PatchError, match=f"not a speed patch of the registry: {name}"):
        patches.apply(registry, installed=patches.PINNED_LOCALSTACK, skip=name)
    assert calls == []


def test_the_launcher_reports_a_patch_that_cannot_apply_and_exits(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _rename(monkeypatch, S3Provider, "list_object_versions")
    report = tmp_path / "patches.json"
    monkeypatch.setenv(launch.REPORT_VARIABLE, str(report))
    with pytest.raises(SystemExit) as exited:
        launch.apply_patches()
    assert exited.value.code == launch.PATCH_EXIT_CODE
    assert "s3-listing-raw-markers" in json.loads(report.read_text())["error"]


def test_every_speed_patch_is_in_a_measured_group() -> None:
    """``make bench-patches`` measures each group; the registry carries the group's figure."""
    speed = [p for p in REGISTRY if p.kind is Kind.SPEED]
    assert {p.group for p in speed} == set(patches.GAINS)
    assert all(p.gain.startswith(patches.GAINS[p.group]) for p in speed)
    assert all(not p.group for p in REGISTRY if p.kind is not Kind.SPEED)
