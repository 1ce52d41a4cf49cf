"""Where a masked refresh spends its CPU, column by column, on a live source.

    python bench/column_costs.py postgresql://postgres@127.0.0.1:5432/dc_bench_200000
    python bench/column_costs.py URL --rules bench/rules.yml --rows 100000 --batch 10000

For every copied table with a masked column, the first ``--rows`` rows are
read as COPY text once (as a refresh reads them), then each stage of the
refresh's mask step is timed on them in CPU seconds: taking the masked
fields out of the COPY text, and for each masked column decoding its fields,
masking them in batches, and encoding them back; then splicing them into the
COPY text again. Reading
and writing the rows (psycopg, the server) are not part of it: run_bench.py
measures the whole.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from psycopg import sql  # noqa: E402

from datacloner.core.plan import build_plan  # noqa: E402
from datacloner.core.rules import load_rules  # noqa: E402
from datacloner.engines.postgres import copytext  # noqa: E402
from datacloner.engines.postgres.rows import copy_codec  # noqa: E402
from datacloner.engines.postgres.source import PgSource  # noqa: E402
from datacloner.masking import check_spec, compile_mask  # noqa: E402
from datacloner.masking.table_masker import MaskerCache, TableMasker, batch_gc  # noqa: E402

SECRET = b"datacloner-bench-secret-not-for-production"


def read_copy(source: PgSource, plan: Any, rows: int) -> list[bytes]:
    cols = sql.SQL(", ").join(sql.Identifier(c.name) for c in plan.columns)
    query = sql.SQL("COPY (SELECT {} FROM ONLY {} LIMIT {}) TO STDOUT").format(
        cols, sql.Identifier(plan.table.schema, plan.table.name), sql.Literal(rows)
    )
    with source.conn.cursor() as cur, cur.copy(query) as copy:
        return [bytes(chunk) for chunk in copy]


def table_costs(tp: Any, masker: TableMasker, chunks: list[bytes], batch: int) -> list[Any]:
    """(stage, rows, CPU seconds) for each stage of masking these rows."""
    stages: list[tuple[str, int, float]] = []
    data = b"".join(chunks)
    width = len(tp.columns)
    began = time.process_time()
    block = copytext.Block(data, width)
    with batch_gc():  # as a refresh reads them
        block.fetch([i for i, _, _ in masker.values])
    n = len(block)
    stages.append(("take masked fields out of COPY text", n, time.process_time() - began))
    # a refresh holds one batch at a time; here all rows live at once, and the
    # collector would walk them over and over: keep them out of its sight
    gc.collect()
    gc.freeze()
    new: dict[int, list[bytes]] = {}
    for i, column, compiled in masker.values:
        decode, encode = copy_codec(column)
        began = time.process_time()
        values = decode(block.fields(i))
        stages.append((f"{column.name}: decode", n, time.process_time() - began))
        began = time.process_time()
        masked: list[Any] = []
        for start in range(0, n, batch):
            masked.extend(compiled(values[start : start + batch]))
        rule = tp.masks[column.name]
        stages.append((f"{column.name}: mask `{rule.kind}`", n, time.process_time() - began))
        began = time.process_time()
        new[i] = encode(masked)
        stages.append((f"{column.name}: encode", n, time.process_time() - began))
    began = time.process_time()
    block.spliced(new, width)
    stages.append(("splice masked fields into COPY text", n, time.process_time() - began))
    gc.unfreeze()
    return stages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="source database URL")
    parser.add_argument("--rules", type=Path, default=Path(__file__).parent / "rules.yml")
    parser.add_argument("--rows", type=int, default=100_000, help="rows per table")
    parser.add_argument("--batch", type=int, default=5_000, help="rows per masked batch")
    args = parser.parse_args(argv)

    source = PgSource(args.url)
    try:
        plan = build_plan(
            source.read_catalog(),
            load_rules(args.rules),
            lambda spec, label, col: check_spec(spec, column=label, target=col),
        )
        cache = MaskerCache(compile_mask, SECRET)
        print("| table | stage | rows | CPU s | µs/row | rows/s |")
        print("|---|---|---:|---:|---:|---:|")
        grand = 0.0

        def line(table: str, stage: str, n: int, seconds: float) -> None:
            per = seconds / n * 1e6 if n else 0.0
            rate = f"{n / seconds:,.0f}" if seconds else "-"
            print(f"| {table} | {stage} | {n:,} | {seconds:.2f} | {per:.1f} | {rate} |")

        for tp in plan.copied:
            if not tp.masks:
                continue
            masker = TableMasker(tp, cache)
            chunks = read_copy(source, tp, args.rows)

            stages = table_costs(tp, masker, chunks, args.batch)
            n = stages[0][1]
            for stage, count, took in stages:
                line(tp.name, stage, count, took)
            total = sum(took for _, _, took in stages)
            line(tp.name, "**table total**", n, total)
            grand += total / n * tp.table.row_estimate if n else 0.0
        print(f"\nestimated CPU for the whole source, one core: {grand:.1f} s")
    finally:
        source.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
