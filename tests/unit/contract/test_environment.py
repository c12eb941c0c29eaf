"""The environment parsers: defaults when unset, refusals that name the variable."""

from __future__ import annotations

import pytest

from pipeline import errors
from pipeline.contract import environment as variables
from pipeline.contract import limits
from pipeline.copier.config import ConfigError as CopierConfigError
from pipeline.copier.config import CopierConfig
from pipeline.ingest.config import ConfigError as IngestConfigError
from pipeline.ingest.config import IngestConfig
from pipeline.monitor import config as monitor
from templates.config import ConfigError as TemplateConfigError
from transforms.config import ConfigError as TransformConfigError


def test_integer_reads_separators_and_defaults() -> None:
    name = variables.FETCH_CONCURRENCY
    assert variables.integer({name: "1_6"}, name, limits.FETCH_CONCURRENCY) == 16
    assert variables.integer({}, name, limits.FETCH_CONCURRENCY) == limits.FETCH_CONCURRENCY.default
    assert (
        variables.integer({name: variables.write_integer(64)}, name, limits.FETCH_CONCURRENCY) == 64
    )


@pytest.mark.parametrize(
    ("text", "message"), [("x", "must be an integer"), ("65", "between 1 and 64")]
)
def test_integer_refusals_name_the_variable(text: str, message: str) -> None:
    name = variables.FETCH_CONCURRENCY
    with pytest.raises(variables.EnvironmentValueError, match=f"{name}.*{message}|{message}"):
        variables.integer({name: text}, name, limits.FETCH_CONCURRENCY)


def test_every_config_error_is_a_pipeline_config_error() -> None:
    for error in (IngestConfigError, CopierConfigError, monitor.ConfigError, TransformConfigError):
        assert issubclass(error, errors.ConfigError)
    assert issubclass(TemplateConfigError, errors.ConfigError)


def test_missing_variables_are_refused_with_the_fix() -> None:
    with pytest.raises(errors.ConfigError, match="DISTRIBUTION_BUCKET is not set"):
        CopierConfig.from_env({})
    with pytest.raises(errors.ConfigError, match="DISTRIBUTION_BUCKET is not set"):
        monitor.bucket_from_env({" ": ""})
    with pytest.raises(errors.ConfigError, match="DELIVERY_STREAM_NAMES is not set"):
        IngestConfig.from_env({})
