"""The benchmark (bench/run_bench.py, `make bench`) end to end on tiny data sets.

Slow: runs in `make bench`, not on every commit. It checks that the runner
builds the data sets, times every contender, checks the copies, and writes
its results table, not the numbers themselves.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PgServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_run_bench_smoke(pg: PgServer, run_id: str, tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    prefix = f"dct_{run_id}_bench"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run_bench.py"),
            "--users",
            "2000",
            "--tables",
            "12",
            "--pg",
            f"postgresql://{pg.user}@{pg.host}:{pg.port}",
            "--prefix",
            prefix,
            "--results",
            str(results),
            "--drop-sources",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = results.read_text()
    assert "| `pg_dump -Fc \\| pg_restore` | " in text
    assert "| `datacloner refresh`, one job | " in text
    assert "| `datacloner refresh --jobs 2` | " in text
    assert "17,016 rows in 7 tables" in text  # 8N rows + 1,016 reference rows
    assert "480 rows in 12 tables" in text  # bench/many_tables.py, 40 rows a table
    assert "**NO**" not in text  # joins by value hold, no source email left
    assert "**copy differs**" not in text  # every copy has the source's rows
    assert "## Targets (issues 15 and 17)" in text
    assert "| machine | |" in text and "datacloner commit" in text
    with pg.connect() as conn:
        left = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",)
        ).fetchall()
    assert left == []
