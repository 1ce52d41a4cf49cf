"""The COPY text codec on its own: rows/s of taking a batch's masked fields out
of COPY text and splicing new ones back in, native (``_copynative.c``) against
pure Python (what ``DATACLONER_PURE_PYTHON=1`` runs), at the row shapes of the
benchmark database (bench/make_db.sql, masked as bench/rules.yml says).

    python bench/bench_copytext.py                 # 200,000 rows per shape
    python bench/bench_copytext.py --rows 50000 --batch 5000

No database: the rows are generated here, with the widths and the share of
NULLs, escapes and multibyte text of the benchmark's tables. Stages, per
batch: "split + join" is reading the masked fields out of the block and
writing the block again with every masked field replaced (the part C took
over from per-row Python); "+ decode/encode" adds turning those fields into
Python values and back (what a masker sees). Masking itself is not timed.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datacloner.engines.postgres import copytext  # noqa: E402
from datacloner.masking.table_masker import batch_gc  # noqa: E402

NATIVE = copytext._copynative

# table -> (fields of one row from its number, indexes of the masked fields)
Shape = tuple[Callable[[random.Random, int], list[str | None]], list[int]]


def _ts(rng: random.Random) -> str:
    return (
        f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} 10:{rng.randint(0, 59):02d}:07+00"
    )


def users(rng: random.Random, i: int) -> list[str | None]:
    first = rng.choice(["Anna", "José", "Zoë", "Björn", "Mei", "Oluwaseun"])
    last = rng.choice(["Smith", "García", "Nguyễn", "O'Brien", "Müller"])
    email = f"{first.lower()}.{last.lower()}{i}@example.com"
    profile = (
        f'{{"name": "{first} {last}", "contact": {{"email": "{email}", '
        f'"phone": "+1 555 {i % 10000:04d}"}}, "tags": ["a", "b"], "bio": "line1\\nline2"}}'
    )
    return [
        str(i), email, first, last, None if i % 7 == 0 else f"+1 555 {i % 10000:04d}",
        f"{i % 999} Main St\\Apt {i % 40}", rng.choice(["Paris", "Zürich", "東京"]),
        f"{i % 99999:05d}", "US", f"19{60 + i % 40}-0{1 + i % 9}-1{i % 9}",
        None if i % 3 else f"{i % 999:03d}-12-3456", "$2b$12$" + "x" * 53,
        str(1 + i % 4), _ts(rng), profile,
    ]  # fmt: skip


def orders(rng: random.Random, i: int) -> list[str | None]:
    note = None if i % 10 < 7 else rng.choice(["call me at +1 555 0101", "leave\tat door", ""])
    return [
        str(i), str(i // 3), str(1 + i % 1000), str(1 + i % 5), str(199 + i % 9800),
        rng.choice(["paid", "shipped", "refunded"]), f"{i % 999} Elm Rd",
        rng.choice(["Lyon", "São Paulo", "Kraków"]), f"{i % 99999:05d}", note, _ts(rng),
    ]  # fmt: skip


def comments(rng: random.Random, i: int) -> list[str | None]:
    body = rng.choice(
        [
            "Great mug, would buy again.",
            "Mail me at someone@example.org if it breaks\\again",
            "Très bien — 5 étoiles! 😀 " * 3,
            "Line one\nline two\twith a tab",
        ]
    )
    return [str(i), str(i // 2), str(1 + i % 1000), str(1 + i % 5), body, _ts(rng)]


def audit_log(rng: random.Random, i: int) -> list[str | None]:
    return [
        str(i), f"user{i // 2}@example.com", rng.choice(["login", "logout", "update"]),
        f"10.{i % 256}.{i // 256 % 256}.7", "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
        _ts(rng),
    ]  # fmt: skip


SHAPES: dict[str, Shape] = {
    "users (15 fields, 11 masked)": (users, [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 14]),
    "orders (11 fields, 4 masked)": (orders, [6, 7, 8, 9]),
    "comments (6 fields, 1 masked)": (comments, [4]),
    "audit_log (6 fields, 3 masked)": (audit_log, [1, 3, 4]),
}


def batches(shape: Shape, rows: int, batch: int) -> list[bytes]:
    make, _ = shape
    rng = random.Random(7)
    out = []
    for start in range(0, rows, batch):
        lines = (
            b"\t".join(copytext.encode(v) for v in make(rng, i)) + b"\n"
            for i in range(start, min(rows, start + batch))
        )
        out.append(b"".join(lines))
    return out


def run(blocks: list[bytes], width: int, masked: list[int], values: bool) -> float:
    """CPU seconds to take the masked fields out of every block and put new ones back."""
    decode, encode = copytext.decode_fields, copytext.encode_values
    gc.collect()
    began = time.process_time()
    with batch_gc():  # as a refresh runs it
        for data in blocks:
            block = copytext.Block(data, width)
            block.fetch(masked)
            if values:
                new = {c: encode(decode(block.fields(c))) for c in masked}
            else:
                new = {c: block.fields(c) for c in masked}
            block.spliced(new, width)
    return time.process_time() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows per shape")
    parser.add_argument("--batch", type=int, default=5_000, help="rows per batch (--batch-size)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (best)")
    args = parser.parse_args(argv)
    if NATIVE is None:
        print("the native extension is not built: nothing to compare", file=sys.stderr)
        return 1

    print(f"{args.rows:,} rows per shape, batches of {args.batch:,}; CPU, best of {args.repeat}")
    print()
    print("| table | stage | pure Python rows/s | native rows/s | native × |")
    print("|---|---|---:|---:|---:|")
    for name, shape in SHAPES.items():
        blocks = batches(shape, args.rows, args.batch)
        width = len(shape[0](random.Random(0), 0))
        for stage, values in (("split + join", False), ("+ decode/encode", True)):
            rates = []
            for native in (False, True):
                copytext._copynative = NATIVE if native else None
                best = min(run(blocks, width, shape[1], values) for _ in range(args.repeat))
                rates.append(args.rows / best)
            copytext._copynative = NATIVE
            pure, native = rates
            print(f"| {name} | {stage} | {pure:,.0f} | {native:,.0f} | {native / pure:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
