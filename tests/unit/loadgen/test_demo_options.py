"""The demo's option checks and output folder handling (no LocalStack needed)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from scripts import demo


def _args(**overrides: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    args = parser.parse_args([])
    for name, value in overrides.items():
        setattr(args, name, value)
    return args


def test_defaults_are_a_realistic_mix() -> None:
    options = demo.DemoOptions.from_args(_args())
    assert options.files == 200
    assert options.large_size is not None and options.large_size > 64 * 1024 * 1024
    assert options.warmup and not options.keep_running


@pytest.mark.parametrize(("name", "value"), [("files", 0), ("timeout", 0.0)])
def test_invalid_options_are_refused(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"--{name}"):
        demo.DemoOptions.from_args(_args(**{name: value}))


def test_output_made_by_an_earlier_demo_is_recreated(tmp_path: Path) -> None:
    output = demo._fresh_output(tmp_path / "out")
    (output / "old-file").write_text("from the last run")
    again = demo._fresh_output(tmp_path / "out")
    assert again == output
    assert not (again / "old-file").exists()


def test_foreign_non_empty_output_is_refused(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("not the demo's")
    with pytest.raises(ValueError, match="not made by the demo"):
        demo._fresh_output(tmp_path)
    assert (tmp_path / "precious.txt").exists()


def test_run_exits_2_on_invalid_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.run(_args(files=0)) == 2
    assert "aggregator demo: --files must be >= 1" in capsys.readouterr().err
