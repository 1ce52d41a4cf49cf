"""The C detectors find exactly the spans the Python detectors find.

``scrub`` and ``scan`` share :mod:`datacloner.detect.detectors`; with the extension
built, emails, phones, IPv4 addresses, cards and IBANs are found in C. A copy
masked where it did not build must be the same, and ``scan`` must flag the
same columns, so every kind set is compared with the pure-Python reference:
on generated text (structured pieces glued by the characters each pattern
turns on, non-ASCII digits and letters included) and on every line of the
Pagila and Northwind dumps.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FIXTURES, _missing
from helpers import native_missing
from hypothesis import given, settings
from hypothesis import strategies as st

from datacloner.core import native as native_ext
from datacloner.core.catalog import Column
from datacloner.core.location import Location
from datacloner.core.rules import MaskSpec
from datacloner.detect import detectors
from datacloner.masking.kinds.scrub import scrub_value_fn

if detectors._detectnative is None:
    native_missing("datacloner.detect._detectnative")

SECRET = b"test-secret-0123456789abcdef"
LOC = Location(Path("rules/x.yml"), 1)
KIND_SETS = [
    frozenset(detectors.KINDS),
    frozenset({"email", "phone"}),
    frozenset({"phone"}),
    frozenset({"email"}),
    frozenset({"credit_card"}),
    frozenset({"ipv4"}),
    frozenset({"iban"}),
    frozenset({"iban", "phone"}),
    frozenset({"ipv4", "phone", "credit_card"}),
    frozenset({"url", "email", "ipv6", "phone"}),
]


def resolved(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """What ``finder(wanted)`` returns, from the pure-Python spans."""
    kept: list[tuple[int, int, str]] = []
    for span in spans:
        if all(span[1] <= k[0] or span[0] >= k[1] for k in kept):
            kept.append(span)
    return sorted(kept)


def native(text: str, wanted: frozenset[str]) -> list[tuple[int, int, str]]:
    return detectors._spans_native(text, wanted, detectors.native_flags(wanted))


def assert_same(text: str) -> None:
    for wanted in KIND_SETS:
        pure = detectors._spans_pure(text, wanted)
        assert native(text, wanted) == pure, (text, wanted)
        assert detectors.finder(wanted)(text) == resolved(pure), (text, wanted)


def luhn_valid(digits: str) -> str:
    return next(digits[:-1] + d for d in "0123456789" if detectors.luhn_ok(digits[:-1] + d))


PIECES = st.one_of(
    st.sampled_from(
        [
            "jane.doe@mail.example",
            ".a_b%c+d-e@x-y.co.uk",
            "a@b.cd.ef1",
            "x@1.com",
            "é@ß.de",
            "@",
            "+1 (555) 123-4567",
            "+44 20 7946 0958 x12",
            "555.123.4567 ext.5",
            "(+30) 210 1234567",
            "016549996",
            "12345.6789",
            "2022-02-15 09:57",
            "15.02.2022",
            "1/2/22",
            "192.168.0.1",
            "01.2.3.4",
            "256.1.1.1",
            "GB82 WEST 1234 5698 7654 32",
            "DE89370400440532013000",
            "FR14 2004 1010 0505 0001 3M02 606",
            "http://x.example/a",
            "fe80::1%eth0",
            "10:30:00",
            # validated by detectors.phone_valid (called back from C): not phones
            "INV-2026-04-0007",
            "Q-0A5F-202604-007",
            "1963-1981",
            "550e8400-e29b-41d4-a716-446655440000",
            "20240101123456",
            "-",
            "_",
        ]
    ),
    st.text(alphabet="0123456789 .-()/+x#etT:@_%AZGB", max_size=30),
    st.text(alphabet="0123456789²٣１é ßİ\n\x00.-", max_size=12),
    st.from_regex(r"[0-9]{12,19}", fullmatch=True).map(luhn_valid),
    st.from_regex(r"[0-9]{4}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{4}", fullmatch=True),
    st.integers(0, 10**15).map(str),
)


# Five texts per example: the same 1,500 texts for half of hypothesis's own cost.
@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(PIECES, min_size=1, max_size=8).map("".join), min_size=5, max_size=5))
def test_native_spans_equal_python_spans(texts: list[str]) -> None:
    for text in texts:
        assert_same(text)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_native_spans_equal_python_spans_on_any_text(text: str) -> None:
    assert_same(text)


@pytest.mark.parametrize(
    "text",
    [
        "Reach her at jane.doe0@mail0.example or +1-200-000-0000 after 5pm.",
        "card 4111 1111 1111 1111 12, iban GB82 WEST 1234 5698 7654 32 ok",
        "555-123-4567 4111111111111111 and 10.0.0.1.5 then 2022-02-15 09:57",
        "١٢٣٤٥٦٧٨٩٠ phone ٥٥٥-١٢٣-٤٥٦٧ or 555-１２３-4567",
        "Greatest Hits 1975-1985, INV-2026-04-0007 for +1 555-123-4567 (v2.4.1-3)",
        "",
    ],
)
def test_native_spans_on_known_texts(text: str) -> None:
    assert_same(text)


def test_native_spans_equal_python_spans_on_real_dumps() -> None:
    """Every line of the Pagila and Northwind dumps: addresses, phones, dates,
    amounts, free-text notes as real schemas hold them."""
    files = [FIXTURES / "northwind" / "northwind.sql", FIXTURES / "pagila" / "pagila-data.sql"]
    if not all(f.exists() for f in files):
        _missing("the Pagila and Northwind fixtures are missing")
    found = 0
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines()[::7]:  # a seventh: fast
            wanted = frozenset(detectors.KINDS)
            spans = native(line, wanted)
            assert spans == detectors._spans_pure(line, wanted), line
            found += len(spans)
    assert found > 100  # the dumps do hold phone numbers, dates and the like


SCRUB_RULES = [
    {"kinds": list(detectors.KINDS), "patterns": {}},
    {"kinds": ["email", "phone"], "patterns": {}},
    {"kinds": ["credit_card", "iban", "ipv4"], "patterns": {}},
]


@contextlib.contextmanager
def python_detectors() -> Iterator[None]:
    """detectors.py without its C form, as where the extension did not build."""
    saved = detectors._detectnative
    detectors._detectnative = None  # type: ignore[assignment]
    try:
        yield
    finally:
        detectors._detectnative = saved


COLUMNS = (None, Column("note", "character varying(40)", max_length=40))


@functools.cache
def scrubbers(rule: int, column: int) -> tuple:
    """(C, Python) scrub value functions for SCRUB_RULES[rule] in COLUMNS[column]."""
    spec = MaskSpec(kind="scrub", location=LOC, options=SCRUB_RULES[rule])
    native = scrub_value_fn(spec, SECRET, COLUMNS[column])
    with python_detectors():
        pure = scrub_value_fn(spec, SECRET, COLUMNS[column])  # no substituter
    return native, pure


def test_scrub_takes_the_c_substitution() -> None:
    substitute = detectors.substituter(["email", "phone"])
    assert substitute is not None
    fakes = (lambda s: "E", lambda s: "P", None, None, None)
    assert substitute("mail jane@x.example or +1 555-123-4567.", fakes) == "mail E or P."
    assert substitute("nothing personal", fakes) is None
    with_url = detectors.substituter(["url", "email"])
    assert with_url is not None and with_url("see https://x.example/a", fakes) is False


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(PIECES, min_size=1, max_size=8).map("".join), min_size=5, max_size=5))
def test_scrub_native_substitution_equals_python(texts: list[str]) -> None:
    """Found, faked and joined in C, or found and joined in Python: the same text,
    also when a varchar(n) cuts it (300 texts, five per example)."""
    for rule in range(len(SCRUB_RULES)):
        for column in range(len(COLUMNS)):
            native, pure = scrubbers(rule, column)
            expected = [native(text) for text in texts]
            with python_detectors():
                got = [pure(text) for text in texts]
            assert got == expected, (texts, SCRUB_RULES[rule], COLUMNS[column])


def test_one_switch_turns_every_native_extension_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """core/native.py decides for all four: built ones load, DATACLONER_PURE_PYTHON
    turns each off, and a module that was never built is None, not an error."""
    names = (
        "datacloner.detect._detectnative",
        "datacloner.masking._fastdraw",
        "datacloner.masking._jsonscan",
        "datacloner.engines.postgres._copynative",
    )
    assert all(native_ext.extension(name) is not None for name in names)
    assert native_ext.extension("datacloner.masking._not_built") is None
    monkeypatch.setenv(native_ext.PURE_PYTHON_ENV, "1")
    assert all(native_ext.extension(name) is None for name in names)
