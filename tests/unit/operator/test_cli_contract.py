"""One CLI contract: --version, --json everywhere, defaults in --help, one exit-code table."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from pipeline.copier.staging import StagingError
from pipeline.errors import ConfigError, TransientError, UsageError
from scripts import cli
from scripts.changeset import ConfirmationError, DeployError
from scripts.package import PackageError
from scripts.session import EndpointUnreachableError, RegionMissingError, StackNotFoundError
from templates.config import ConfigError as TemplateConfigError

DOCS = Path(__file__).resolve().parents[3] / "docs" / "operations.md"


def _leaf_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every runnable (sub)command's parser, by its full name."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(name: str, parser: argparse.ArgumentParser) -> None:
        children = [
            action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
        ]
        if not children:
            found[name] = parser
        for action in children:
            for child_name, child in action.choices.items():
                walk(f"{name} {child_name}".strip(), child)

    walk("", cli.build_parser())
    return found


def test_every_command_is_registered() -> None:
    assert set(cli.COMMANDS) >= {"deploy", "diff", "destroy", "status", "template", "local"}


@pytest.mark.parametrize("command", sorted(_leaf_parsers()))
def test_every_command_offers_json(command: str) -> None:
    options = {o for a in _leaf_parsers()[command]._actions for o in a.option_strings}
    assert "--json" in options, f"`aggregator {command}` has no --json"


@pytest.mark.parametrize("command", sorted(_leaf_parsers()))
def test_every_aws_command_takes_region_and_profile(command: str) -> None:
    options = {o for a in _leaf_parsers()[command]._actions for o in a.option_strings}
    if "--endpoint-url" in options:
        assert {"--region", "--profile"} <= options


@pytest.mark.parametrize("command", sorted(_leaf_parsers()))
def test_help_shows_every_default(command: str) -> None:
    parser = _leaf_parsers()[command]
    text = " ".join(parser.format_help().split())  # undo line wrapping
    for action in parser._actions:
        default = action.default
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        if default in (None, False, [], argparse.SUPPRESS):
            continue
        assert "default" in (action.help or "").lower() or f"(default: {default})" in text, (
            f"`aggregator {command}` {action.option_strings[0]}: default {default!r} not shown"
        )


def test_loadgen_rate_default_matches_the_docs() -> None:
    args = cli.build_parser().parse_args(["loadgen"])
    assert args.rate == 10.0


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--version"])
    assert stopped.value.code == 0
    assert re.fullmatch(r"aggregator \d+\.\d+\.\d+\n", capsys.readouterr().out)


def test_usage_error_exits_2() -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["status", "--no-such-option"])
    assert stopped.value.code == cli.EXIT_USAGE


def test_exit_code_table_is_documented_once_and_matches() -> None:
    text = DOCS.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\d+)` \| ([^|]+) \|", text, flags=re.MULTILINE))
    assert {int(code) for code in rows} == set(cli.EXIT_CODES)
    for code, meaning in cli.EXIT_CODES.items():
        assert rows[str(code)].strip().startswith(meaning)
    help_text = cli.build_parser().format_help()
    for code in cli.EXIT_CODES:
        assert re.search(rf"^\s+{code}\s", help_text, flags=re.MULTILINE)


def test_json_errors_are_machine_readable(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["template", "--env", "prod", "--json"])
    assert code == cli.EXIT_USAGE
    import json

    document = json.loads(capsys.readouterr().out)
    assert document["exit_code"] == 2 and "111122223333" in document["error"]


def test_paths_default_to_the_project_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    template_args = cli.build_parser().parse_args(["template", "--env", "local"])
    local_args = cli.build_parser().parse_args(["local", "status"])
    root = Path(cli.__file__).resolve().parents[1]
    assert template_args.build_dir == root / "build"
    assert local_args.state_dir == root / ".localstack"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("bad value"), cli.EXIT_USAGE),
        (UsageError("bad call"), cli.EXIT_USAGE),
        (RegionMissingError("no region"), cli.EXIT_USAGE),
        (ConfirmationError("no terminal"), cli.EXIT_USAGE),
        (TransientError("later"), cli.EXIT_TEMPORARY),
        (StagingError("short read"), cli.EXIT_TEMPORARY),
        (StackNotFoundError("no stack"), cli.EXIT_PROBLEM),
        (EndpointUnreachableError("down"), cli.EXIT_PROBLEM),
        (DeployError("failed"), cli.EXIT_PROBLEM),
        (PackageError("failed"), cli.EXIT_PROBLEM),
        (TemplateConfigError("bad config"), cli.EXIT_USAGE),
    ],
)
def test_error_kinds_map_to_the_exit_code_table(error: Exception, code: int) -> None:
    assert cli.classify(error) == (code, str(error))


def test_an_unexpected_error_is_not_classified() -> None:
    assert cli.classify(KeyError("bug")) is None
