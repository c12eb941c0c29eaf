"""Faithful Firehose key naming against the rules of the Firehose guide (pure functions)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime

import pytest

from localstack_plugins.firehose import naming

MOMENT = datetime(2018, 8, 27, 10, 30, 5, 123456)  # a Monday


def _counter() -> Callable[[], str]:
    numbers = itertools.count()
    return lambda: f"r{next(numbers):010d}"


def test_each_random_string_occurrence_gets_a_new_value() -> None:
    evaluated = naming.evaluate(
        "!{firehose:random-string}/x/!{firehose:random-string}/", MOMENT, random=_counter()
    )
    assert evaluated == "r0000000000/x/r0000000001/"
    first, _, second, _ = naming.evaluate(
        "!{firehose:random-string}/x/!{firehose:random-string}/", MOMENT
    ).split("/")
    assert len(first) == len(second) == 11
    assert first != second


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("yyyy/MM/dd/HH", "2018/08/27/10"),
        ("'year='yyyy'/month='MM'/day='dd'/hour='HH", "year=2018/month=08/day=27/hour=10"),
        ("yyyy-MM-dd'T'HH:mm:ss.SSS", "2018-08-27T10:30:05.123"),
        ("yy MMM MMMM d D DDD", "18 Aug August 27 239 239"),
        ("EEE EEEE a h hh K k", "Mon Monday AM 10 10 10 10"),
        ("Q QQQ QQQQ G u", "3 Q3 3rd quarter AD 2018"),
        ("''yyyy''", "'2018'"),
        ("'it''s' HH", "it's 10"),
        ("A", str(((10 * 60 + 30) * 60 + 5) * 1000 + 123)),
    ],
)
def test_timestamp_patterns_follow_java_datetimeformatter(pattern: str, expected: str) -> None:
    assert naming.format_timestamp(pattern, MOMENT) == expected


def test_the_guides_quoted_example_evaluates_as_documented() -> None:
    error_prefix = (
        "myErrorPrefix/!{timestamp:'year='yyyy'/month='MM'/day='dd'/hour='HH}/"
        "!{firehose:error-output-type}"
    )
    naming.validate_prefixes("myPrefix/!{timestamp:yyyy}/", error_prefix)
    assert (
        naming.evaluate(error_prefix, datetime(2018, 7, 6, 23), "processing-failed")
        == "myErrorPrefix/year=2018/month=07/day=06/hour=23/processing-failed"
    )


@pytest.mark.parametrize(
    "pattern", ["yyyy'unterminated", "YYYY", "ww", "yyyy[MM]", "zzz", "ddd", "HHH", "aa", "#"]
)
def test_refused_or_invalid_patterns_are_errors(pattern: str) -> None:
    with pytest.raises(naming.PrefixError):
        naming.validate_prefixes(f"p/!{{timestamp:{pattern}}}/", "e/!{firehose:error-output-type}/")


@pytest.mark.parametrize(
    ("prefix", "error_prefix", "message"),
    [
        ("!{timestamp:yyyy}/", "", "cannot be null or empty"),
        ("p/", "e/!{timestamp:yyyy}/", "must contain at least one"),
        ("p/", "e/!{firehose:random-string}/", "must contain at least one"),
        ("p/!{firehose:error-output-type}/", "e/!{firehose:error-output-type}/", "not allowed"),
        ("p/!{foo:bar}/", "e/!{firehose:error-output-type}/", "Unsupported expression"),
        ("p/!{timestamp:yyyy/", "e/", "can only appear"),
        ("p/", "e/!{firehose:error-output-type}!{", "can only appear"),
        ("p" * 500 + "/", "e/", "limit is 512"),
        ("p/", "e" * 500 + "/!{firehose:error-output-type}/", "limit is 512"),
        ("!{timestamp:MMMM}" * 60, "e/!{firehose:error-output-type}/", "limit is 512"),
    ],
)
def test_prefixes_aws_refuses_at_create_time(prefix: str, error_prefix: str, message: str) -> None:
    with pytest.raises(naming.PrefixError, match=message):
        naming.validate_prefixes(prefix, error_prefix)


@pytest.mark.parametrize(
    ("prefix", "error_prefix"),
    [
        ("bundles/!{timestamp:yyyy/MM/dd/HH}/", "errors/!{firehose:error-output-type}/"),
        ("plain/", ""),
        ("", ""),
        ("p/", "errors/"),
        ("p" * 470 + "/", ""),
    ],
)
def test_prefixes_aws_accepts(prefix: str, error_prefix: str) -> None:
    naming.validate_prefixes(prefix, error_prefix)


def test_empty_error_prefix_places_failures_under_the_prefix() -> None:
    """The guide: Prefix ``myFirehosePrefix`` → ``myFirehosePrefix/processing-failed/2018/...``."""
    effective = naming.effective_error_prefix("", "plain/")
    assert naming.evaluate(effective, MOMENT, "processing-failed") == (
        "plain/processing-failed/2018/08/27/10/"
    )
    assert naming.evaluate(naming.effective_error_prefix("", ""), MOMENT, "processing-failed") == (
        "processing-failed/2018/08/27/10/"
    )


def test_default_time_folders_are_appended_to_a_prefix_without_timestamp() -> None:
    assert naming.evaluate(naming.effective_prefix("plain/"), MOMENT) == "plain/2018/08/27/10/"
    assert naming.effective_prefix("p/!{timestamp:yyyy}/") == "p/!{timestamp:yyyy}/"


def test_an_evaluation_over_512_characters_fails_loudly() -> None:
    with pytest.raises(naming.PrefixError, match="limit is 512"):
        naming.evaluate("x" * 510 + "!{timestamp:yyyy}", MOMENT)
