"""Masking micro-benchmark: values per second per transformer, one core.

    python bench/bench_masking.py [--n 200000] [--batch 1000] [--only name,email]

Each transformer masks N distinct inputs in batches (as a refresh does), on
one core, after compiling the rule once (pools are built outside the timing,
as they are once per process in a refresh). The target (issue 3) is at least
200,000 values/s for the common Faker providers and for scrub on a
200-character note.
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
    ("faker date_of_birth (per-value Faker)", faker("date_of_birth"), emails, None),
]


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
    args = parser.parse_args()
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    print(f"{args.n:,} distinct inputs each, batches of {args.batch:,}, one core")
    print(f"{'transformer':<44} {'values/s':>12}")
    for label, rule, make, target in CASES:
        if wanted and not any(label.startswith(w) for w in wanted):
            continue
        n = args.n if "per-value" not in label else min(args.n, 20_000)
        rate = run(rule, make, target, n, args.batch, args.repeat)
        mark = "" if rate >= TARGET or label not in TARGETED else "  (below 200,000)"
        print(f"{label:<44} {rate:>12,.0f}{mark}", flush=True)


if __name__ == "__main__":
    main()
