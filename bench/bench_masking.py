"""Masking micro-benchmark: values per second per transformer, one core.

    python bench/bench_masking.py [--n 200000] [--batch 1000] [--only name,email]
    python bench/bench_masking.py --families [--n 200000]   # µs/value per Faker provider

Each transformer masks N distinct inputs in batches (as a refresh does), on
one core, after compiling the rule once (pools are built outside the timing,
as they are once per process in a refresh). The target (issue 3) is at least
200,000 values/s for the common Faker providers and for scrub on a
200-character note.

``--families`` times every Faker provider family that ``rules/*.yml``,
``examples/`` and ``bench/rules.yml`` use or ``scan`` suggests, with their
arguments and locales, in microseconds per value (pools included: a fresh
process-wide cache, so the one-off cost of building a pool is counted), and
lists the slowest first. The target (issue 15) is at most about 2 µs a value.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datacloner.core.catalog import Column  # noqa: E402
from datacloner.core.location import Location  # noqa: E402
from datacloner.core.rules import MaskSpec  # noqa: E402
from datacloner.masking import compile_mask  # noqa: E402
from datacloner.masking.base import RowMasker  # noqa: E402

SECRET = b"bench-secret-0123456789abcdef"
LOC = Location(Path("bench.yml"), 1)
TARGET = 200_000


def spec(kind: str, **fields: Any) -> MaskSpec:
    return MaskSpec(kind=kind, location=LOC, **fields)


def faker(provider: str, **fields: Any) -> MaskSpec:
    return spec("faker", provider=provider, **fields)


def emails(n: int) -> list[str]:
    return [f"user{i}.x{i * 7919 % 100003}@corp{i % 97}.example" for i in range(n)]


def texts(n: int, prefix: str) -> list[str]:
    return [f"{prefix} {i} {i * 2654435761 % 4294967296:x}" for i in range(n)]


_FILLER = (
    "Customer called about the late delivery of order {i}; asked for a refund to the card "
    "on file. Reach her at {email} or {phone} after 5pm. Agent {agent} promised a callback "
    "within two working days."
)


def notes(n: int) -> list[str]:
    """~200-character support notes, each holding one email and one phone number."""
    out = []
    for i in range(n):
        phone = f"+1-{200 + i % 700:03d}-{i % 1000:03d}-{i * 37 % 10000:04d}"
        note = _FILLER.format(
            i=i, email=f"jane.doe{i}@mail{i % 89}.example", phone=phone, agent=i % 50
        )
        out.append(note[:200] if len(note) > 200 else note.ljust(200, "."))
    return out


def plain_notes(n: int) -> list[str]:
    """~200-character notes with nothing personal in them (most notes, in practice)."""
    return [
        f"Order {i} shipped late: the courier lost the parcel twice. Refund approved by the "
        f"team lead on review; customer satisfied, no further action needed. Ticket closed "
        f"after the follow-up call, case {i % 977}."[:200].ljust(200, ".")
        for i in range(n)
    ]


def documents(n: int) -> list[str]:
    return [
        json.dumps(
            {
                "id": i,
                "name": f"Jane Doe {i}",
                "contact": {"email": f"jane{i}@example.com", "phone": f"555-01{i % 100:02d}"},
                "items": [{"sku": f"A{i}", "phone": f"555-{i % 10000:04d}"}],
                "tags": ["vip", "newsletter"],
            }
        )
        for i in range(n)
    ]


def dates(n: int) -> list[str]:
    start = date(1950, 1, 1)
    return [
        f"{start + timedelta(days=i % 25000)} {i % 24:02d}:{i % 60:02d}:{i * 7 % 60:02d}+00"
        for i in range(n)
    ]


def numbers(n: int) -> list[str]:
    return [f"{i * 13 % 100000}.{i % 100:02d}" for i in range(n)]


CASES: list[tuple[str, MaskSpec, Callable[[int], list[Any]], Column | None]] = [
    ("name", faker("name"), lambda n: texts(n, "Name"), None),
    ("first_name", faker("first_name"), lambda n: texts(n, "First"), None),
    ("last_name", faker("last_name"), lambda n: texts(n, "Last"), None),
    ("email (unique)", faker("email", unique=True), emails, None),
    ("email", faker("email"), emails, None),
    ("phone_number", faker("phone_number"), lambda n: texts(n, "+1 555"), None),
    ("street_address", faker("street_address"), lambda n: texts(n, "Main St"), None),
    ("city", faker("city"), lambda n: texts(n, "City"), None),
    ("postcode", faker("postcode"), lambda n: texts(n, "Zip"), None),
    ("company", faker("company"), lambda n: texts(n, "Acme"), None),
    ("name, de_DE", faker("name", locale="de_DE"), lambda n: texts(n, "Name"), None),
    (
        "email (unique), varchar(30)",
        faker("email", unique=True),
        emails,
        Column("email", "character varying(30)", max_length=30),
    ),
    (
        "scrub [email, phone], 200-char note",
        spec("scrub", options={"kinds": ["email", "phone"], "patterns": {}}),
        notes,
        None,
    ),
    (
        "scrub all kinds, 200-char note without personal data",
        spec(
            "scrub",
            options={
                "kinds": ["email", "phone", "ipv4", "ipv6", "credit_card", "iban", "url"],
                "patterns": {},
            },
        ),
        lambda n: plain_notes(n),
        None,
    ),
    (
        "scrub all kinds, 200-char note",
        spec(
            "scrub",
            options={
                "kinds": ["email", "phone", "ipv4", "ipv6", "credit_card", "iban", "url"],
                "patterns": {},
            },
        ),
        notes,
        None,
    ),
    (
        "json {name, contact.email, items.*.phone}",
        spec(
            "json",
            options={"paths": ["name", "contact.email", "items.*.phone"]},
            nested={
                "name": faker("name"),
                "contact.email": faker("email", unique=True),
                "items.*.phone": faker("phone_number"),
            },
        ),
        documents,
        None,
    ),
    ("hash hex", spec("hash", options={"format": "hex", "length": 32}), emails, None),
    ("hash uuid", spec("hash", options={"format": "uuid"}), emails, None),
    (
        "hash int",
        spec("hash", options={"format": "int", "min": 1, "max": 1_000_000}),
        emails,
        None,
    ),
    ("shift {days: 30} (timestamptz text)", spec("shift", options={"days": 30}), dates, None),
    ("noise {ratio: 0.1} (numeric text)", spec("noise", options={"ratio": 0.1}), numbers, None),
    (
        "partial {keep_last: 4}",
        spec("partial", options={"keep_first": 0, "keep_last": 4, "mask_char": "*"}),
        emails,
        None,
    ),
    ("faker date_of_birth (lazy pool)", faker("date_of_birth"), emails, None),
]


def _fam(label: str, provider: str, **fields: Any) -> tuple[str, MaskSpec]:
    return label, faker(provider, **fields)


# Every provider family of rules/*.yml, examples/demo/rules.yml, bench/rules.yml and
# what scan suggests (scan/suggest.py), with their args and locales as written there.
FAMILIES: list[tuple[str, MaskSpec]] = [
    _fam("email", "email"),
    _fam("email (unique)", "email", unique=True),
    _fam("user_name (unique)", "user_name", unique=True),
    _fam("name", "name"),
    _fam("name en_IN", "name", locale="en_IN"),
    _fam("name de_DE", "name", locale="de_DE"),
    _fam("first_name", "first_name"),
    _fam("first_name_female", "first_name_female"),
    _fam("last_name", "last_name"),
    _fam("phone_number", "phone_number"),
    _fam("phone_number en_GB", "phone_number", locale="en_GB"),
    _fam("street_address", "street_address"),
    _fam("street_name", "street_name"),
    _fam("secondary_address", "secondary_address"),
    _fam("city", "city"),
    _fam("state", "state"),
    _fam("state_abbr", "state_abbr"),
    _fam("postcode", "postcode"),
    _fam("company", "company"),
    _fam("url", "url"),
    _fam("ipv4", "ipv4"),
    _fam("ipv4_public", "ipv4_public"),
    _fam("user_agent", "user_agent"),
    _fam("mac_address", "mac_address"),
    _fam("uuid4", "uuid4"),
    _fam("ssn", "ssn"),
    _fam("iban", "iban"),
    _fam("credit_card_number", "credit_card_number"),
    _fam("paragraph", "paragraph"),
    _fam("text {max_nb_chars: 200}", "text", args={"max_nb_chars": 200}),
    _fam("numerify {text: %###}", "numerify", args={"text": "%###"}),
    _fam("lexify {text: ????????}", "lexify", args={"text": "????????"}),
    _fam("random_int {min: 18, max: 90}", "random_int", args={"min": 18, "max": 90}),
    _fam(
        "random_number {digits: 9, fix_len}",
        "random_number",
        args={"digits": 9, "fix_len": True},
    ),
    _fam("pyint {min_value, max_value}", "pyint", args={"min_value": 1, "max_value": 10_000}),
    _fam("date_of_birth", "date_of_birth"),
    _fam(
        "date_of_birth {minimum_age: 18, maximum_age: 90}",
        "date_of_birth",
        args={"minimum_age": 18, "maximum_age": 90},
    ),
    _fam(
        "date_between {start_date: -30y, end_date: -1y}",
        "date_between",
        args={"start_date": "-30y", "end_date": "-1y"},
    ),
    _fam(
        "date_time_between {start_date: -5y}",
        "date_time_between",
        args={"start_date": "-5y"},
    ),
]


def family_rates(n: int, batch: int, wanted: list[str]) -> list[tuple[str, float]]:
    """µs per value of each family, pools built inside the timing (a cold process)."""
    try:
        from datacloner.masking import slots
    except ImportError:  # a version before lazy pools (to compare with it)
        slots = None  # type: ignore[assignment]

    inputs = emails(n)
    out = []
    for label, rule in FAMILIES:
        if wanted and not any(label.startswith(w) for w in wanted):
            continue
        clear = getattr(slots, "clear", None)
        if clear is not None:
            clear()  # count the pool's one-off build, as a fresh process pays it
        masker = compile_mask(rule, SECRET)
        started = time.process_time()
        for i in range(0, n, batch):
            masker(inputs[i : i + batch])
        out.append((label, (time.process_time() - started) / n * 1e6))
    return out


TARGETED = {
    "name",
    "first_name",
    "last_name",
    "email (unique)",
    "phone_number",
    "street_address",
    "city",
    "postcode",
    "company",
    "scrub [email, phone], 200-char note",
    "scrub all kinds, 200-char note without personal data",
}


def run(
    rule: MaskSpec,
    make: Callable[[int], list[Any]],
    target: Column | None,
    n: int,
    batch: int,
    repeat: int,
) -> float:
    """Best of ``repeat`` runs (a fresh masker each time: no warm cache), values/s."""
    inputs = make(n)
    best = 0.0
    for _ in range(repeat):
        masker = compile_mask(rule, SECRET, target)
        assert not isinstance(masker, RowMasker)
        masker(inputs[:1])  # builds the pools: once per process, not per value
        started = time.process_time()  # CPU time: other processes on the host do not count
        for i in range(0, n, batch):
            masker(inputs[i : i + batch])
        best = max(best, n / (time.process_time() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="distinct inputs per transformer")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--only", default="", help="comma-separated label prefixes")
    parser.add_argument("--repeat", type=int, default=3, help="best of R runs")
    parser.add_argument(
        "--families", action="store_true", help="µs/value of every Faker provider family"
    )
    args = parser.parse_args()
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    if args.families:
        print(f"{args.n:,} distinct inputs each, batches of {args.batch:,}, one core, cold pools")
        rates = family_rates(args.n, args.batch, wanted)
        print(f"{'provider family':<52} {'µs/value':>9}")
        for label, micros in sorted(rates, key=lambda r: -r[1]):
            mark = "  (above 2 µs)" if micros > 2.0 else ""
            print(f"{label:<52} {micros:>9.2f}{mark}", flush=True)
        return
    print(f"{args.n:,} distinct inputs each, batches of {args.batch:,}, one core")
    print(f"{'transformer':<44} {'values/s':>12}")
    for label, rule, make, target in CASES:
        if wanted and not any(label.startswith(w) for w in wanted):
            continue
        rate = run(rule, make, target, args.n, args.batch, args.repeat)
        mark = "" if rate >= TARGET or label not in TARGETED else "  (below 200,000)"
        print(f"{label:<44} {rate:>12,.0f}{mark}", flush=True)


if __name__ == "__main__":
    main()
