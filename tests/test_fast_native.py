"""The native fast path of faker rules gives exactly the pure-Python outputs.

A refresh on a machine where the C extension did not build must give the same
target as one where it did, so every output is compared with the Python one:
providers with every kind of draw (weighted picks, formats, digit templates,
letters, IP functions), several locales and scripts, unique or not, columns
with and without a length limit, odd text (empty, lone surrogates, long).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from helpers import native_missing
from hypothesis import given, settings
from hypothesis import strategies as st

from datacloner.core.catalog import Column
from datacloner.core.location import Location
from datacloner.core.rules import MaskSpec
from datacloner.masking import compile_mask, fast
from datacloner.masking.base import BadValue
from datacloner.masking.keyed import VALUE_PERSON, KeyedHash, rule_key
from datacloner.masking.registry import value_fn

SECRET = b"test-secret-0123456789abcdef"
LOC = Location(Path("rules/x.yml"), 1)

if not fast.available():
    native_missing("datacloner.masking._fastdraw")

PROVIDERS = [
    "name",
    "first_name",
    "last_name",
    "email",
    "safe_email",
    "free_email",
    "user_name",
    "phone_number",
    "street_address",
    "street_name",
    "city",
    "postcode",
    "company",
    "address",
    "url",
    "ipv4",
    "ipv6",
    "building_number",
]
LOCALES = ["en_US", "de_DE", "fr_FR", "ja_JP", "ru_RU", "en_GB", "nl_NL", "pt_BR"]
COLUMNS = [
    None,
    Column("c", "text"),
    Column("c", "character varying(24)", max_length=24),
    Column("c", "character varying(60)", max_length=60),
]
ODD = ["", "a", "x" * 129, "é" * 300, "Bob@X.com", "bob@x.com", "日本語", "\ud800lone", "a\x00b"]


def maskers(spec: MaskSpec, column: Column | None, monkeypatch: pytest.MonkeyPatch) -> tuple:
    native = compile_mask(spec, SECRET, column)
    with monkeypatch.context() as m:
        m.setenv("DATACLONER_PURE_PYTHON", "1")
        pure = compile_mask(spec, SECRET, column)
    return native, pure


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("unique", [False, True])
def test_every_provider_gives_the_python_outputs(
    locale: str, unique: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    values: list[Any] = ODD + [f"value {i} {i * 7919:x}" for i in range(300)]
    values += [None, ["x", None, "y"], 42]  # NULL, an array, a non-text value
    for provider in PROVIDERS:
        if unique and provider in ("ipv4", "ipv6"):
            continue  # unique needs room for a token: not an inet column's job
        for column in COLUMNS:
            spec = MaskSpec(
                kind="faker", location=LOC, provider=provider, locale=locale, unique=unique
            )
            native, pure = maskers(spec, column, monkeypatch)
            assert native(values) == pure(values), (provider, locale, unique, column)


@pytest.mark.parametrize("provider", ["city", "date_of_birth", "email"])
def test_repeated_values_past_the_memo_give_the_python_outputs(
    provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repeated values are drawn once and remembered (32,768 of them): a column
    of few distinct values keeps its memo, one of distinct values drops it after
    4,096, one of rare repeats after 131,072. Either way, every batch (a memo hit
    or not) gives the Python outputs."""
    spec = MaskSpec(kind="faker", location=LOC, provider=provider, unique=provider == "email")
    repeated = [f"city {i % 300}" for i in range(140_000)]  # hits: the memo stays
    distinct = [f"user{i}@corp.example" for i in range(140_000)]  # memo dropped at 4,096
    many = [f"v{i % 40_000}" for i in range(140_000)]  # more distinct values than it holds
    rare = [f"r{i}" if i % 20 else "r0" for i in range(140_000)]  # dropped at 131,072
    # a fresh masker (and memo) for each column: a memo dropped stays dropped
    for values in (repeated, distinct, many, rare, repeated[:5_000] + distinct[:5_000]):
        native, pure = maskers(spec, None, monkeypatch)
        assert native(values) == pure(values)
    native, pure = maskers(spec, None, monkeypatch)
    native(repeated[:5_000])  # the memo holds "city 7" now: a hit gives the same
    assert native(["city 7"]) == pure(["city 7"]) == native(["city 7"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(), min_size=1, max_size=20))
def test_any_text_gives_the_python_outputs(values: list[str]) -> None:
    for provider, unique in [("email", True), ("name", False), ("phone_number", False)]:
        spec = MaskSpec(kind="faker", location=LOC, provider=provider, unique=unique)
        native = compile_mask(spec, SECRET)
        os.environ["DATACLONER_PURE_PYTHON"] = "1"
        try:
            pure = compile_mask(spec, SECRET)
        finally:
            del os.environ["DATACLONER_PURE_PYTHON"]
        assert native(values) == pure(values)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=600))
def test_native_blake2b_is_keyed_blake2b(data: bytes) -> None:
    from datacloner.masking import _fastdraw

    key = rule_key(SECRET, "identity")
    native = _fastdraw.FastDraw(("lit", "x"), key, VALUE_PERSON, False, -1, str)
    assert native.digest(data) == KeyedHash(SECRET, "identity")(data)
    assert (
        native.digest(data)
        == hashlib.blake2b(data, key=key, digest_size=32, person=VALUE_PERSON).digest()
    )


JSON_DOC = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["name", "contact", "email", "x", "0"]), children, max_size=4
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), JSON_DOC.map(json.dumps), st.just("{not json")), max_size=8))
def test_json_batches_give_the_per_document_outputs(texts: list[str | None]) -> None:
    """A json rule masks JSON text a batch at a time, each path's values in one
    call. Its outputs, and the row an invalid document is reported at, are those
    of the copying path that masks one parsed document at a time (the path dicts
    and lists from SQLAlchemy take), written as compact JSON."""
    spec = MaskSpec(
        kind="json",
        location=LOC,
        nested={
            "name": MaskSpec(kind="faker", location=LOC, provider="name"),
            "contact.email": MaskSpec(kind="faker", location=LOC, provider="email", unique=True),
            "contact.*": MaskSpec(
                kind="hash", location=LOC, options={"format": "hex", "length": 12}
            ),
            "x.0": MaskSpec(kind="faker", location=LOC, provider="city"),
        },
    )
    batch = compile_mask(spec, SECRET)
    one = value_fn(spec, SECRET)
    expected: list[Any] = []
    bad = None
    for i, text in enumerate(texts):
        if text is None:
            expected.append(None)
            continue
        try:
            doc = json.loads(text)
        except ValueError:
            bad = i
            break
        masked = one(doc) if isinstance(doc, dict | list) else doc
        unchanged = masked is doc  # no path matched: the text is kept byte for byte
        compact = json.dumps(masked, ensure_ascii=False, separators=(",", ":"))
        expected.append(text if unchanged else compact)
    if bad is None:
        assert batch(texts) == expected
    else:
        with pytest.raises(BadValue) as caught:
            batch(texts)
        assert caught.value.index == bad
