"""The one prefix grammar: parsing returns data, formatting reads it; every side agrees."""

from __future__ import annotations

from datetime import datetime

import pytest

from localstack_plugins.firehose import naming
from pipeline.contract import prefixes
from pipeline.contract.prefixes import Field, Namespace, PrefixError, Text, Timestamp
from transforms import prefix as transform_prefix

MOMENT = datetime(2018, 8, 27, 10, 30, 5, 123456)  # a Monday


def test_a_pattern_parses_into_fields_and_literals() -> None:
    assert prefixes.parse_pattern("yyyy-MM-dd'T'HH") == (
        Field("y", 4),
        Text("-"),
        Field("M", 2),
        Text("-"),
        Field("d", 2),
        Text("T"),
        Field("H", 2),
    )
    assert prefixes.parse_pattern("''") == (Text("'"),)
    assert prefixes.parse_pattern("'it''s'") == (Text("it's"),)


def test_a_prefix_parses_into_text_and_expressions() -> None:
    assert prefixes.parse_prefix("bundles/!{timestamp:DDD}/!{firehose:random-string}/") == (
        Text("bundles/"),
        Timestamp((Field("D", 3),)),
        Text("/"),
        Namespace("firehose:random-string"),
        Text("/"),
    )


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("yyyy-MM-dd'T'HH", "2018-08-27T10"),
        ("uuuu/DDD", "2018/239"),
        ("MMM", "Aug"),
        ("MMMMM", "A"),
        ("QQQQQ", "3"),
        ("GGGG", "Anno Domini"),
        ("kk KK hh a", "10 10 10 AM"),
        ("SSSSSSSSS", "123456000"),
        ("n", "123456000"),
        ("N", str(((10 * 60 + 30) * 60 + 5) * 10**9 + 123456000)),
    ],
)
def test_formats_follow_java(pattern: str, expected: str) -> None:
    assert prefixes.format_timestamp(pattern, MOMENT) == expected


@pytest.mark.parametrize("expression", ["bundles/", "bundles/!{timestamp:yyyy-MM-dd'T'HH}/x-"])
def test_the_transform_and_the_emulator_evaluate_alike(expression: str) -> None:
    emulated = naming.evaluate(naming.effective_prefix(expression), MOMENT, random=lambda: "r" * 11)
    assert transform_prefix.evaluate(expression, MOMENT, "r" * 11) == emulated


def test_the_transform_derives_every_random_string_from_its_argument() -> None:
    key = transform_prefix.evaluate("bundles/!{firehose:random-string}/", MOMENT, "abcdefghijk")
    assert key == "bundles/abcdefghijk/2018/08/27/10/"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("bundles/!{timestamp:yyyy'T}/", "incomplete string literal"),
        ("bundles/!{timestamp:HHH}/", "Too many pattern letters: H"),
        ("bundles/!{timestamp:ww}/", "pattern letter 'w' is not evaluated"),
        ("bundles/!{timestamp:yyyy[MM]}/", "not supported"),
        ("bundles/!{timestamp:b}/", "Unknown pattern letter: b"),
        ("bundles/!{firehose:error-output-type}/", "allowed only in the error prefix"),
        ("bundles/!{firehose:nope}/", "Unsupported expression"),
        ("bundles/!{timestamp:yyyy/", "can only appear"),
        ("errors/!{timestamp:yyyy}/", "starting with 'bundles/'"),
        ("bundles/!{timestamp:yyyy}", "ending '/'"),
        ("bundles/" + "!{timestamp:MMMM}" * 60 + "/", "limit is 512"),
    ],
)
def test_bundle_prefixes_refused(expression: str, message: str) -> None:
    with pytest.raises(PrefixError, match=message):
        prefixes.validate_bundle_prefix(expression)


def test_static_prefix_and_roots() -> None:
    assert prefixes.static_prefix("bundles/data-!{timestamp:yyyy}/") == "bundles/data-"
    assert prefixes.BUNDLE_ROOT == "bundles/"
    assert prefixes.ERROR_ROOT == "errors/"
