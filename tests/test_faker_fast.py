"""Every Faker provider on a fast path (issue 15): providers without a compiled
draw take a lazy pool of their real outputs (masking/slots.py).

What a user relies on: the same input gives the same fake in every process,
whatever order the pool's slots were made in and with or without the native
extension; ``unique: true`` still gives distinct outputs at scale; a fake never
equals its input; any provider, args and locale work.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from datacloner.core.catalog import Column
from datacloner.core.location import Location
from datacloner.core.rules import MaskSpec
from datacloner.masking import compile_mask, fast, slots
from datacloner.masking.base import same_as_source

REPO = Path(__file__).resolve().parents[1]
SECRET = b"fast-faker-secret-0123456789"
LOC = Location(Path("rules/x.yml"), 3)


def spec(provider: str, **fields: Any) -> MaskSpec:
    return MaskSpec(kind="faker", location=LOC, provider=provider, **fields)


# Pool-backed rules: with args, with a locale, dates, numbers, long text, unique text.
POOLED: list[dict[str, Any]] = [
    {"provider": "date_between", "args": {"start_date": "-30y", "end_date": "-1y"}},
    {"provider": "date_of_birth", "args": {"minimum_age": 18, "maximum_age": 90}},
    {"provider": "pyint", "args": {"min_value": 1, "max_value": 10_000}},
    {"provider": "iban", "locale": "de_DE"},
    {"provider": "user_agent"},
    {"provider": "credit_card_number", "unique": True},
    {"provider": "pydecimal", "args": {"left_digits": 3, "right_digits": 2}},
]
INPUTS = [f"source value {i} {i * 7919 % 10007}" for i in range(300)]

CHILD = """
import json, sys
from pathlib import Path
from datacloner.core.location import Location
from datacloner.core.rules import MaskSpec
from datacloner.masking import compile_mask
job = json.load(sys.stdin)
out = []
for rule in job["rules"]:
    mask = compile_mask(MaskSpec(kind="faker", location=Location(Path("y.yml"), 9), **rule),
                        job["secret"].encode())
    # other values first, in reverse: the pool's slots are made in another order
    mask(job["warm"])
    out.append(list(reversed(mask(list(reversed(job["inputs"]))))))
print(json.dumps(out, default=str))
"""


@pytest.mark.parametrize("pure", [False, True])
def test_pooled_fakes_are_the_same_in_another_process(pure: bool) -> None:
    # Another interpreter, another str-hash salt, slots made in another order,
    # with and without the native extension: the same fakes.
    job = {
        "rules": POOLED,
        "secret": SECRET.decode(),
        "inputs": INPUTS,
        "warm": [f"warm {i}" for i in range(500)],
    }
    env = {**os.environ, "PYTHONHASHSEED": "777"}
    if pure:
        env["DATACLONER_PURE_PYTHON"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        check=True,
    )
    here = [compile_mask(spec(**rule), SECRET)(INPUTS) for rule in POOLED]
    assert json.loads(done.stdout) == json.loads(json.dumps(here, default=str))


def test_native_and_python_paths_agree_on_pools(monkeypatch: pytest.MonkeyPatch) -> None:
    if not fast.available():
        pytest.skip("native extension not built")
    values: list[Any] = INPUTS + ["", "\ud800lone", "x" * 300, None, 42, ["a", None]]
    columns = [None, Column("c", "character varying(12)", max_length=12)]
    drawn_with_args = [
        {"provider": "email", "args": {"domain": "Corp.Example"}, "unique": True},
        {"provider": "numerify", "args": {"text": "%##-!@"}},
        {"provider": "bothify", "args": {"text": "??-###", "letters": "ABC"}},
        {"provider": "lexify"},
        {"provider": "ipv4_public"},
        {"provider": "ssn"},
    ]
    for rule in POOLED + drawn_with_args + [{"provider": "user_agent", "unique": True}]:
        for column in columns:
            if rule.get("unique") and column is not None:
                continue  # a 16-character token does not fit 12
            native = compile_mask(spec(**rule), SECRET, column)
            monkeypatch.setenv("DATACLONER_PURE_PYTHON", "1")
            pure = compile_mask(spec(**rule), SECRET, column)
            monkeypatch.delenv("DATACLONER_PURE_PYTHON")
            assert native(values) == pure(values), (rule, column)


def test_unique_stays_unique_at_200k_values() -> None:
    inputs = [f"card {i:07d}" for i in range(200_000)]
    out = compile_mask(spec("credit_card_number", unique=True), SECRET)(inputs)
    assert len({v.lower() for v in out}) == len(inputs)
    # the realistic part comes from the pool, the token makes it unique
    assert all(re.fullmatch(r"\d{12,19}-[a-z2-7]{16}", v) for v in out[:1000])


def test_a_fake_never_equals_its_source() -> None:
    # A small output space: most inputs are themselves possible fakes.
    small = spec("random_int", args={"min": 1, "max": 40})
    mask = compile_mask(small, SECRET)
    inputs = [str(i) for i in range(1, 41)] + list(range(1, 41))
    out = mask(inputs)
    assert not any(same_as_source(o, v) for o, v in zip(out, inputs, strict=True))
    # Dates: feed a rule its own fakes back.
    dob = compile_mask(spec("date_of_birth", args={"minimum_age": 18, "maximum_age": 20}), SECRET)
    fakes = [str(d) for d in dob([f"x{i}" for i in range(2000)])]
    again = dob(fakes)
    assert not any(same_as_source(o, v) for o, v in zip(again, fakes, strict=True))


def test_args_and_locale_are_honoured_on_pools() -> None:
    inputs = [f"v{i}" for i in range(3000)]
    today = date.today()
    hired = compile_mask(
        spec("date_between", args={"start_date": "-30y", "end_date": "-1y"}), SECRET
    )(inputs)
    assert all(today - timedelta(days=30 * 366) <= d <= today - timedelta(days=364) for d in hired)
    assert len(set(hired)) > 2000  # a pool of thousands of dates, not a handful
    ints = compile_mask(spec("pyint", args={"min_value": 5, "max_value": 9}), SECRET)(inputs)
    assert set(ints) == {5, 6, 7, 8, 9}
    ibans = compile_mask(spec("iban", locale="de_DE"), SECRET)(inputs)
    assert all(re.fullmatch(r"DE\d{20}", v) for v in ibans)
    digits = compile_mask(spec("numerify", args={"text": "%###"}), SECRET)(inputs)
    assert all(re.fullmatch(r"[1-9]\d{3}", v) for v in digits)
    assert len(set(digits)) > 2000  # compiled: every one of the 9,000 outputs reachable
    emails = compile_mask(spec("email", args={"domain": "Corp.Example"}), SECRET)(inputs)
    assert all(re.fullmatch(r"[a-z0-9._]+@corp\.example", v) for v in emails)
    assert len(set(emails)) > 2900  # drawn, not pooled: names x formats x digits


def test_pool_outputs_are_bounded_and_lists_are_not_shared() -> None:
    # The documented trade-off: at most SLOTS distinct fakes per rule, so a big
    # table costs at most SLOTS Faker calls.
    wide = spec("pyint", args={"min_value": 0, "max_value": 10**9})
    out = compile_mask(wide, SECRET)([f"n{i}" for i in range(3 * slots.SLOTS)])
    assert slots.SLOTS // 2 < len(set(out)) <= slots.SLOTS
    rule = spec("pylist", args={"nb_elements": 3, "value_types": [int]})
    mask = compile_mask(rule, SECRET)
    first = mask(["a", "b"])
    first[0].append("changed by a caller")
    assert mask(["a"])[0] != first[0]  # the pool's list was handed out as a copy
