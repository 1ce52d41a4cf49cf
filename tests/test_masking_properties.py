"""Masking guarantees as properties: deterministic (across compiles and processes),
NULL in NULL out, unique (also under lower()), for every kind of rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datacloner.core.location import Location
from datacloner.core.rules import MaskSpec
from datacloner.masking import compile_mask
from datacloner.masking.base import Masker, RowMasker, same_as_source

REPO = Path(__file__).resolve().parents[1]
SECRET = b"test-secret-0123456789abcdef"
LOC = Location(Path("rules/x.yml"), 1)


def spec(kind: str, **fields: Any) -> MaskSpec:
    return MaskSpec(kind=kind, location=LOC, **fields)


def faker(provider: str, **fields: Any) -> MaskSpec:
    return spec("faker", provider=provider, **fields)


# Text-taking rules of every kind and the pooled providers (most likely to break
# determinism: pools must not depend on build order or on hash()).
TEXT_RULES = [
    faker("email", unique=True),
    faker("email"),
    faker("name"),
    faker("first_name", locale="de_DE"),
    faker("last_name", locale="ja_JP"),
    faker("phone_number", locale="en_GB"),
    faker("street_address", locale="fr_FR"),
    faker("city"),
    faker("postcode"),
    faker("company", locale="hu_HU"),
    faker("address"),
    faker("url"),
    faker("ipv4"),
    faker("ipv6"),
    faker("user_name"),
    faker("sentence"),
    faker("pyint", args={"min_value": 1, "max_value": 1000}),
    spec("hash", options={"format": "hex", "length": 32}),
    spec("hash", options={"format": "uuid"}),
    spec("hash", options={"format": "int", "min": 1, "max": 1000}),
    spec(
        "scrub",
        options={
            "kinds": ["email", "phone", "ipv4", "ipv6", "credit_card", "iban", "url"],
            "patterns": {"ref": r"REF-\d+"},
        },
    ),
    spec("partial", options={"keep_first": 1, "keep_last": 2, "mask_char": "*"}),
    spec("value", value="x"),
    spec("null"),
]
FIRST: list[Masker] = []
SECOND: list[Masker] = []
for rule in TEXT_RULES:
    for store in (FIRST, SECOND):
        compiled = compile_mask(rule, SECRET)
        assert not isinstance(compiled, RowMasker)
        store.append(compiled)

TEXTS = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.sampled_from(
        [
            "Mail jane@corp.com or +1-555-123-4567, card 4111 1111 1111 1111, REF-77",
            "IBAN DE89 3704 0044 0532 0130 00 from 10.0.0.1 / fe80::1 https://x.org/a",
            "Bob@Example.com",
        ]
    ),
)


@settings(max_examples=80, deadline=None)
@given(values=st.lists(TEXTS, max_size=12), which=st.integers(0, len(TEXT_RULES) - 1))
def test_property_deterministic_and_null_preserving(values: list[Any], which: int) -> None:
    a = FIRST[which](values)
    assert a == SECOND[which](values)
    assert [FIRST[which]([v])[0] for v in values] == a  # no dependence on the batch
    assert len(a) == len(values)
    if TEXT_RULES[which].kind == "null":
        assert a == [None] * len(values)
    else:
        assert [v is None for v in a] == [v is None for v in values]


# Rules that draw their output: it never reads as their input (docs/masking.md).
DRAWN = [i for i, r in enumerate(TEXT_RULES) if r.kind in ("faker", "hash")]


@settings(max_examples=80, deadline=None)
@given(data=st.data(), which=st.sampled_from(DRAWN))
def test_property_a_drawn_value_never_equals_its_input(data: st.DataObject, which: int) -> None:
    """Worst case first: inputs that are the rule's own outputs (fakes of fakes)."""
    own = FIRST[which]([f"seed {i}" for i in range(40)])
    values = data.draw(st.lists(st.one_of(TEXTS, st.sampled_from(own)), max_size=12))
    for before, after in zip(values, FIRST[which](values), strict=True):
        if before is not None:
            assert not same_as_source(after, before)


DATE_RULES = [spec("shift", options={"days": 30}), spec("shift", options={"hours": 2})]
NUMBER_RULES = [spec("noise", options={"ratio": 0.2})]


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.dates(), st.datetimes()), max_size=12),
    which=st.integers(0, len(DATE_RULES) - 1),
)
def test_property_shift_is_deterministic_bounded_and_keeps_types(
    values: list[Any], which: int
) -> None:
    rule = DATE_RULES[which]
    a = compile_mask(rule, SECRET)
    b = compile_mask(rule, SECRET)
    assert not isinstance(a, RowMasker) and not isinstance(b, RowMasker)
    out = a(values)
    assert out == b(values)
    for before, after in zip(values, out, strict=True):
        assert type(before) is type(after)
        if before is not None:
            assert before != after


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.none(),
            st.integers(-(10**9), 10**9),
            st.decimals(allow_nan=False, allow_infinity=False, places=2, max_value=10**6),
            st.floats(allow_nan=False, allow_infinity=False, width=32),
        ),
        max_size=12,
    )
)
def test_property_noise_is_deterministic_bounded_and_keeps_types(values: list[Any]) -> None:
    a = compile_mask(NUMBER_RULES[0], SECRET)
    assert not isinstance(a, RowMasker)
    out = a(values)
    assert out == a(list(values))
    for before, after in zip(values, out, strict=True):
        assert type(before) is type(after)
        if before is not None:
            assert abs(float(after) - float(before)) <= abs(float(before)) * 0.2 + 1


# --- across processes ----------------------------------------------------------------------


def as_data(rule: MaskSpec) -> dict[str, Any]:
    return {
        "kind": rule.kind,
        "provider": rule.provider,
        "args": rule.args,
        "locale": rule.locale,
        "unique": rule.unique,
        "value": rule.value,
        "options": rule.options,
        "nested": {k: as_data(v) for k, v in rule.nested.items()},
    }


SCRIPT = """
import json, sys
from pathlib import Path
from datacloner.core.location import Location
from datacloner.masking import compile_mask
from datacloner.core.rules import MaskSpec
def build(d):
    d = dict(d, nested={k: build(v) for k, v in d["nested"].items()})
    return MaskSpec(location=Location(Path("elsewhere.yml"), 99), **d)
job = json.load(sys.stdin)
rules = [build(d) for d in job["rules"]]
order = range(len(rules)) if job["forward"] else reversed(range(len(rules)))
out = {}
for i in order:  # compiling in another order must not change any pool
    out[i] = compile_mask(rules[i], job["secret"].encode())(job["inputs"][i])
print(json.dumps([out[i] for i in range(len(rules))], default=str))
"""


@pytest.mark.parametrize(("hash_seed", "forward"), [("1", False), ("4242", True)])
def test_every_kind_is_deterministic_across_processes(hash_seed: str, forward: bool) -> None:
    inputs = [
        "jane@corp.com",
        "Jane@Corp.com",
        "42",
        "Mail jane@corp.com or +1-555-123-4567 about REF-12, IBAN DE89 3704 0044 0532 0130 00",
        None,
    ]
    rules = TEXT_RULES + [
        spec(
            "json",
            options={"paths": ["a.*.b"]},
            nested={"a.*.b": faker("name", locale="de_DE")},
        )
    ]
    documents = ['{"a": [{"b": "x"}, {"b": "y"}]}', None, '{"a": {"k": {"b": "z"}}}']
    job = {
        "rules": [as_data(r) for r in rules],
        "secret": SECRET.decode(),
        "inputs": [documents if r.kind == "json" else inputs for r in rules],
        "forward": forward,
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    here = []
    for rule, values in zip(rules, job["inputs"], strict=True):
        compiled = compile_mask(rule, SECRET)
        assert not isinstance(compiled, RowMasker)
        here.append(compiled(values))
    assert json.loads(done.stdout) == json.loads(json.dumps(here, default=str))


# --- unique at scale -----------------------------------------------------------------------


def unique_at_scale(n: int) -> None:
    half = n // 2
    inputs = [f"User{i}@Example.com" for i in range(half)]
    inputs += [v.lower() for v in inputs]  # case variants: distinct, but equal under lower()
    assert len(set(inputs)) == n
    for rule in (faker("email", unique=True), faker("name", unique=True)):
        compiled = compile_mask(rule, SECRET)
        assert not isinstance(compiled, RowMasker)
        out = compiled(inputs)
        assert len({v.lower() for v in out}) == n


def test_unique_on_100k_distinct_inputs_with_case_variants() -> None:
    unique_at_scale(100_000)


@pytest.mark.slow
def test_unique_on_1m_distinct_inputs_with_case_variants() -> None:
    unique_at_scale(1_000_000)


@settings(max_examples=40, deadline=None)
@given(values=st.sets(st.text(min_size=1, max_size=20), max_size=40))
def test_property_unique_is_injective_under_lower(values: set[str]) -> None:
    for rule in (faker("email", unique=True), faker("city", unique=True)):
        compiled = compile_mask(rule, SECRET)
        assert not isinstance(compiled, RowMasker)
        out = compiled(sorted(values))
        assert len({v.lower() for v in out}) == len(values)
