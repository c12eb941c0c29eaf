"""`aggregator capacity` and the optional `[capacity]` config section."""

from __future__ import annotations

import argparse
import copy
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from scripts.capacity import parse_size
from scripts.capacity.constants import MIB, default_prices, default_quotas
from scripts.capacity.model import limits_for
from scripts.cli import main
from templates.config import ENVIRONMENTS_DIR, ConfigError, parse_config

BASE: dict[str, Any] = tomllib.loads((ENVIRONMENTS_DIR / "prod.toml").read_text())


def _config(capacity: dict[str, Any]) -> Any:
    data = copy.deepcopy(BASE)
    data["capacity"] = capacity
    return parse_config("prod", data, source="prod.toml", deployable=False)


@pytest.mark.parametrize(
    ("text", "size"),
    [("27KB", 27_000), ("27kb", 27_000), ("1.5MiB", 1_572_864), ("512", 512), ("2 GB", 2 * 10**9)],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "KB", "-1KB", "27 TB", "1e3"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size(text)


def test_no_capacity_section_means_the_region_defaults() -> None:
    config = parse_config("prod", copy.deepcopy(BASE), source="prod.toml", deployable=False)
    assert config.capacity is None
    assert limits_for(config, "eu-west-2") == (
        default_quotas("eu-west-2"),
        default_prices("eu-west-2"),
    )


def test_overrides_replace_the_named_constants_only() -> None:
    config = _config(
        {
            "region": "us-east-1",
            "quotas": {"firehose_bytes_per_second": 10 * MIB, "consumer_files_per_second": 500},
            "prices": {"transfer_out_per_gb": 0.02},
        }
    )
    assert config.capacity is not None and config.capacity.region == "us-east-1"
    quotas, prices = limits_for(config, "us-east-1")
    assert quotas.firehose_bytes_per_second == 10 * MIB
    assert quotas.consumer_files_per_second == 500
    assert quotas.firehose_requests_per_second == 2000  # untouched default
    assert prices.transfer_out_per_gb == 0.02
    assert prices.s3_put_per_1000 == default_prices("us-east-1").s3_put_per_1000


def test_an_unknown_override_is_refused_naming_the_known_ones() -> None:
    config = _config({"quotas": {"firehose_byte_per_second": 1}})
    with pytest.raises(ConfigError, match=r"firehose_byte_per_second.*firehose_bytes_per_second"):
        limits_for(config, "eu-west-2")


@pytest.mark.parametrize(
    ("capacity", "shown"),
    [
        ({"region": "London"}, "capacity.region"),
        ({"quotas": {"lambda_concurrency": -1}}, "capacity.quotas.lambda_concurrency"),
        ({"prices": {"s3_put_per_1000": "cheap"}}, "capacity.prices.s3_put_per_1000"),
        ({"streams": 2}, "unknown key capacity.streams"),
    ],
)
def test_bad_capacity_values_are_refused(capacity: dict[str, Any], shown: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(shown)):
        _config(capacity)


def test_capacity_for_prod_prints_every_limit_and_exits_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["capacity", "--env", "prod"]) == 0
    out = capsys.readouterr().out
    for text in (
        "firehose records/s",
        "firehose bytes/s",
        "firehose requests/s",
        "processor concurrency",
        "lambda concurrent executions",
        "landing PUT",
        "copier seconds per bundle: 1.7 seconds of 900 (0.2%) at burst; never breaks",
        "consumer files/s",
        "first to break: firehose bytes/s",
        "within the 120 s SLO",
        "monthly cost",
    ):
        assert text in out


def test_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capacity", "--env", "prod", "--region", "us-east-1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["load"]["region"] == "us-east-1"
    assert report["quotas"]["firehose_bytes_per_second"] == 5 * MIB
    names = [item["name"] for item in report["resources"]]
    assert report["first_to_break"] in names
    copier = next(item for item in report["resources"] if item["name"].startswith("copier"))
    assert copier["break_files_per_second"] is None  # never breaks: JSON null, not Infinity
    assert report["cost"]["total"] > 0


def test_a_load_over_a_limit_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capacity", "--env", "prod", "--burst", "5000"]) == 1
    out = capsys.readouterr().out
    assert "OVER firehose bytes/s" in out
    assert "unbounded" in out


def test_a_missing_environment_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capacity", "--env", "nosuch"]) == 2
    assert "no configuration for environment 'nosuch'" in capsys.readouterr().err


def test_capacity_needs_no_aws_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    assert main(["capacity", "--env", "prod", "--streams", "2"]) == 0
    assert "2 stream(s)" in capsys.readouterr().out


def test_the_stream_count_defaults_to_the_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = copy.deepcopy(BASE)
    data["firehose"]["streams"] = 3
    scaled = parse_config("prod", data, source="prod.toml", deployable=False)
    monkeypatch.setattr("templates.config.load_config", lambda *_, **__: scaled)

    assert main(["capacity", "--env", "prod", "--burst", "2000"]) == 0
    assert "3 stream(s)" in capsys.readouterr().out  # 2,000 files/s: over one stream's bytes/s
    assert main(["capacity", "--env", "prod", "--burst", "2000", "--streams", "1"]) == 1
    assert "1 stream(s)" in capsys.readouterr().out


def test_a_load_near_a_limit_is_flagged_but_carried(capsys: pytest.CaptureFixture[str]) -> None:
    # prod's first limit, Firehose bytes/s in eu-west-2, breaks at ~761 files/s: 650 is ~85 %
    assert main(["capacity", "--env", "prod", "--burst", "650"]) == 0
    out = capsys.readouterr().out
    assert "NEAR firehose bytes/s" in out
    assert "OVER" not in out
    assert "NEAR: at 80% or more of a per-second limit" in out


def test_a_light_load_is_not_flagged(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capacity", "--env", "prod"]) == 0
    assert "NEAR" not in capsys.readouterr().out
