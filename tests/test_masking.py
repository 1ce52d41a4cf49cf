"""Masking, faker rules: determinism, NULLs, constants, args/locale, unique, validation.

The other transformers are in test_masking_transformers.py, fitting the column
in test_masking_fit.py, property and scale tests in test_masking_properties.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from faker.providers.person.de_DE import Provider as GermanPerson
from hypothesis import given, settings
from hypothesis import strategies as st

from datacloner.core.errors import UsageError
from datacloner.core.location import Location
from datacloner.core.rules import MaskSpec
from datacloner.masking import check_spec, compile_mask
from datacloner.masking.kinds.faker_rule import compile_faker

REPO = Path(__file__).resolve().parents[1]
SECRET = b"test-secret-0123456789abcdef"
LOC = Location(Path("rules/users.yml"), 12)
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def faker_spec(provider: str, location: Location = LOC, **options: Any) -> MaskSpec:
    return MaskSpec(kind="faker", provider=provider, location=location, **options)


EMAIL = faker_spec("email")
UNIQUE_EMAIL = faker_spec("email", unique=True)
EVERY_KIND = [
    EMAIL,
    UNIQUE_EMAIL,
    faker_spec("date_of_birth", args={"minimum_age": 18}),
    MaskSpec(kind="value", location=LOC, value="redacted"),
    MaskSpec(kind="null", location=LOC),
]
INPUTS = [f"person{i}@corp.example" for i in range(200)]


# --- determinism ---------------------------------------------------------------------------


def test_same_rule_on_two_columns_gives_same_outputs() -> None:
    # users.email and audit_log.actor_email: equal rules in different files and lines.
    users = compile_mask(faker_spec("email", unique=True), SECRET)
    audit = compile_mask(
        faker_spec("email", Location(Path("rules/audit.yml"), 3), unique=True), SECRET
    )
    assert users(INPUTS) == audit(INPUTS)


def test_output_does_not_depend_on_batching_or_order() -> None:
    masked = compile_mask(EMAIL, SECRET)(INPUTS)
    other = compile_mask(EMAIL, SECRET)
    backwards = other(list(reversed(INPUTS)))
    assert list(reversed(backwards)) == masked
    one_by_one = [other([v])[0] for v in INPUTS]
    assert one_by_one == masked


def test_repeated_inputs_and_bounded_cache_give_same_outputs() -> None:
    uncached = compile_faker(EMAIL, SECRET, cache_size=0)
    tiny_cache = compile_faker(EMAIL, SECRET, cache_size=8)
    values = INPUTS[:50] * 3
    assert tiny_cache(values) == uncached(values) == compile_mask(EMAIL, SECRET)(values)


CROSS_PROCESS_RULES: list[dict[str, Any]] = [
    {"provider": p}
    for p in [
        "email",
        "name",
        "first_name",
        "last_name",
        "user_name",
        "phone_number",
        "address",
        "street_address",
        "city",
        "company",
        "job",
        "ssn",
        "iban",
        "ipv4",
        "uuid4",
        "credit_card_number",
        "sentence",
    ]
] + [
    {"provider": "email", "unique": True},
    {"provider": "name", "locale": "de_DE"},
    {"provider": "phone_number", "locale": "en_GB"},
    {"provider": "pyint", "args": {"min_value": 1, "max_value": 10_000}},
]
CROSS_PROCESS_SCRIPT = """
import json, sys
from pathlib import Path
from datacloner.core.location import Location
from datacloner.masking import compile_mask
from datacloner.core.rules import MaskSpec
job = json.load(sys.stdin)
out = []
for rule in job["rules"]:
    spec = MaskSpec(kind="faker", location=Location(Path("x.yml"), 1), **rule)
    out.append(compile_mask(spec, job["secret"].encode())(job["inputs"]))
print(json.dumps(out, default=str))
"""


def mask_all(rules: list[dict[str, Any]], secret: bytes, inputs: list[Any]) -> list[list[Any]]:
    return [
        compile_mask(MaskSpec(kind="faker", location=LOC, **rule), secret)(inputs) for rule in rules
    ]


@pytest.mark.parametrize("hash_seed", ["1", "4242"])
def test_deterministic_across_processes(hash_seed: str) -> None:
    # A fresh interpreter with a different str-hash salt: catches any use of hash()
    # or set ordering, in our code or in a Faker provider.
    inputs = INPUTS[:20] + ["42", "Bob@Example.com"]
    job = {"rules": CROSS_PROCESS_RULES, "secret": SECRET.decode(), "inputs": inputs}
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", CROSS_PROCESS_SCRIPT],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        check=True,
    )
    here = json.loads(json.dumps(mask_all(CROSS_PROCESS_RULES, SECRET, inputs), default=str))
    assert json.loads(done.stdout) == here


def test_different_secret_gives_different_outputs() -> None:
    a = compile_mask(UNIQUE_EMAIL, SECRET)(INPUTS)
    b = compile_mask(UNIQUE_EMAIL, b"another secret")(INPUTS)
    assert sum(x == y for x, y in zip(a, b, strict=True)) == 0
    names_a = compile_mask(faker_spec("name"), SECRET)(INPUTS)
    names_b = compile_mask(faker_spec("name"), b"another secret")(INPUTS)
    assert sum(x == y for x, y in zip(names_a, names_b, strict=True)) < len(INPUTS) // 10


def test_long_secret_is_accepted_and_all_of_it_counts() -> None:
    long_secret = b"x" * 64 + b"tail"
    a = compile_mask(UNIQUE_EMAIL, long_secret)(INPUTS[:10])
    b = compile_mask(UNIQUE_EMAIL, b"x" * 64 + b"other")(INPUTS[:10])
    assert a != b


@pytest.mark.parametrize(
    ("as_object", "as_text"),
    [
        (42, "42"),
        (Decimal("10.50"), "10.50"),
        (date(2024, 2, 29), "2024-02-29"),
        (uuid.UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678"),
        (b"raw bytes", "raw bytes"),
        (memoryview(b"raw bytes"), "raw bytes"),
    ],
)
def test_python_objects_mask_like_their_text(as_object: Any, as_text: str) -> None:
    # PostgreSQL COPY gives text, SQLAlchemy gives objects: both must agree.
    mask = compile_mask(UNIQUE_EMAIL, SECRET)
    assert mask([as_object]) == mask([as_text])


def test_array_values_are_masked_element_by_element() -> None:
    mask = compile_mask(faker_spec("phone_number"), SECRET)
    out = mask([["+1 555 0100", None, "+1 555 0101"], None, []])
    assert out[0][0] == mask(["+1 555 0100"])[0]
    assert out[0][1] is None
    assert out[0][2] == mask(["+1 555 0101"])[0]
    assert out[1:] == [None, []]


# --- NULL, value, null ---------------------------------------------------------------------


@pytest.mark.parametrize("spec", EVERY_KIND, ids=lambda s: f"{s.kind}-{s.provider}-{s.unique}")
def test_null_in_null_out_for_every_kind(spec: MaskSpec) -> None:
    mask = compile_mask(spec, SECRET)
    assert mask([None, None]) == [None, None]
    assert mask([]) == []
    out = mask([None, "a", None])
    assert out[0] is None and out[2] is None and len(out) == 3


def test_value_kind_replaces_every_non_null() -> None:
    mask = compile_mask(MaskSpec(kind="value", location=LOC, value="$2b$12$dev"), SECRET)
    assert mask(["hash1", None, 7, ""]) == ["$2b$12$dev", None, "$2b$12$dev", "$2b$12$dev"]


def test_null_kind_nulls_everything() -> None:
    mask = compile_mask(MaskSpec(kind="null", location=LOC), SECRET)
    assert mask(["123-45-6789", None, 0, b""]) == [None, None, None, None]


def test_outputs_are_what_faker_returns() -> None:
    assert all(EMAIL_RE.fullmatch(v) for v in compile_mask(EMAIL, SECRET)(INPUTS))
    dates = compile_mask(faker_spec("date_of_birth"), SECRET)(INPUTS[:5])
    assert all(isinstance(d, date) for d in dates)


# --- args and locale -----------------------------------------------------------------------


def test_args_are_honoured() -> None:
    spec = faker_spec("date_of_birth", args={"minimum_age": 18, "maximum_age": 30})
    today = date.today()
    for born in compile_mask(spec, SECRET)(INPUTS):
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        assert 18 <= age <= 30


def test_locale_is_honoured() -> None:
    german = compile_mask(faker_spec("first_name", locale="de_DE"), SECRET)(INPUTS)
    assert set(german) <= set(GermanPerson.first_names)
    british = compile_mask(faker_spec("phone_number", locale="en_GB"), SECRET)(INPUTS)
    assert all(re.match(r"(\+44|\(?0)", p) for p in british), british
    american = compile_mask(faker_spec("phone_number"), SECRET)(INPUTS)
    assert british != american


# --- unique --------------------------------------------------------------------------------


def test_unique_gives_distinct_outputs_even_under_lower() -> None:
    inputs = [f"User{i}@Example.com" for i in range(50_000)]
    inputs += [v.lower() for v in inputs]  # case variants: distinct inputs, equal under lower()
    assert len(set(inputs)) == 100_000
    out = compile_mask(UNIQUE_EMAIL, SECRET)(inputs)
    assert len({v.lower() for v in out}) == 100_000
    assert all(EMAIL_RE.fullmatch(v) for v in out[:1000])


def test_unique_email_puts_the_token_in_the_local_part() -> None:
    out = compile_mask(UNIQUE_EMAIL, SECRET)(["Bob@x.com", "bob@x.com"])
    tokens = [re.fullmatch(r"[^@]+\.([a-z2-7]{16})@example\.(org|com|net)", v) for v in out]
    assert all(tokens), out
    assert tokens[0].group(1) != tokens[1].group(1)  # type: ignore[union-attr]


def test_unique_non_email_text_gets_a_suffix() -> None:
    out = compile_mask(faker_spec("name", unique=True), SECRET)(["a", "A"])
    assert all(re.fullmatch(r".+-[a-z2-7]{16}", v) for v in out)
    assert out[0].lower() != out[1].lower()


def test_unique_uuid_stays_a_uuid() -> None:
    out = compile_mask(faker_spec("uuid4", unique=True), SECRET)(INPUTS)
    assert len({uuid.UUID(v) for v in out}) == len(INPUTS)
    assert all(v == str(uuid.UUID(v)) for v in out)


# --- property tests ------------------------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.integers(),
    st.binary(max_size=30),
    st.dates(),
    st.decimals(allow_nan=False, allow_infinity=False),
)
PROPERTY_SPECS = [EMAIL, UNIQUE_EMAIL, faker_spec("first_name", locale="de_DE")]
FIRST = [compile_mask(s, SECRET) for s in PROPERTY_SPECS]
SECOND = [compile_mask(s, SECRET) for s in PROPERTY_SPECS]


@settings(max_examples=60, deadline=None)
@given(values=st.lists(SCALARS, max_size=20), which=st.integers(0, len(PROPERTY_SPECS) - 1))
def test_property_deterministic_and_null_preserving(values: list[Any], which: int) -> None:
    a = FIRST[which](values)
    assert a == SECOND[which](values)
    assert len(a) == len(values)
    assert [v is None for v in a] == [v is None for v in values]


@settings(max_examples=60, deadline=None)
@given(numbers=st.lists(st.integers(), max_size=10))
def test_property_ints_mask_like_their_text(numbers: list[int]) -> None:
    assert FIRST[0](numbers) == FIRST[0]([str(n) for n in numbers])


@settings(max_examples=40, deadline=None)
@given(values=st.sets(st.text(min_size=1, max_size=20), max_size=30))
def test_property_unique_is_injective(values: set[str]) -> None:
    out = FIRST[1](sorted(values))
    assert len({v.lower() for v in out}) == len(values)


# --- check_spec ----------------------------------------------------------------------------


def assert_usage_error(spec: MaskSpec, *fragments: str) -> UsageError:
    with pytest.raises(UsageError) as caught:
        check_spec(spec, column="public.users.email")
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert "rules/users.yml:12" in message
    assert "public.users.email" in message
    for fragment in fragments:
        assert fragment in message
    return caught.value


def test_unknown_provider_suggests_the_closest() -> None:
    error = assert_usage_error(faker_spec("emial"), "'emial'", "Did you mean: email")
    assert error.hint and "faker.readthedocs.io" in error.hint
    assert_usage_error(faker_spec("frist_name"), "first_name")


def test_generator_plumbing_is_not_a_provider() -> None:
    assert_usage_error(faker_spec("seed_instance"), "unknown Faker provider")


def test_unknown_locale_names_close_ones() -> None:
    assert_usage_error(faker_spec("name", locale="de_XX"), "'de_XX'", "de_DE")
    assert_usage_error(faker_spec("name", locale="en_GX"), "en_GB")


def test_locale_spellings_faker_accepts_are_accepted() -> None:
    check_spec(faker_spec("name", locale="en-GB"), column="c")
    check_spec(faker_spec("name", locale="de"), column="c")


def test_bad_args_are_a_usage_error() -> None:
    error = assert_usage_error(
        faker_spec("date_of_birth", args={"min_age": 18}), "bad args", "min_age"
    )
    assert error.hint and "minimum_age" in error.hint  # shows the real signature
    assert_usage_error(
        faker_spec("date_of_birth", args={"minimum_age": 50, "maximum_age": 10}), "minimum_age"
    )


def test_unique_on_a_non_text_provider_is_a_usage_error() -> None:
    assert_usage_error(faker_spec("date_of_birth", unique=True), "unique", "date")
    assert_usage_error(faker_spec("pyint", unique=True), "unique", "int")


def test_unique_on_a_constant_is_a_usage_error() -> None:
    assert_usage_error(MaskSpec(kind="value", location=LOC, value="x", unique=True), "unique")


def test_unsupported_kind_is_a_usage_error() -> None:
    assert_usage_error(MaskSpec(kind="bogus", location=LOC), "'bogus'")
    with pytest.raises(UsageError):
        compile_mask(MaskSpec(kind="bogus", location=LOC), SECRET)


@pytest.mark.parametrize("spec", EVERY_KIND, ids=lambda s: f"{s.kind}-{s.provider}-{s.unique}")
def test_good_rules_pass_check(spec: MaskSpec) -> None:
    check_spec(spec, column="public.users.email")


def test_compile_rejects_unknown_provider_too() -> None:
    with pytest.raises(UsageError, match="rules/users.yml:12"):
        compile_mask(faker_spec("emial"), SECRET)
