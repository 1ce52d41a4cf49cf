"""The refresh benchmark (bench/run_bench.py) end to end on a tiny database.

Slow: runs in `make bench`, not on every commit. It checks that the runner
builds the database, times both contenders, checks the masked copy, and
writes its results table, not the numbers themselves.
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
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = results.read_text()
    assert "(a) dump \\| restore" in text
    assert "(b) refresh" in text
    assert "2,000 | 17,016 |" in text  # 8N rows + 1,016 reference rows
    assert "**NO**" not in text  # joins by value hold, no source email left
    assert "## Targets (issue 6)" in text
    assert "peak RSS" in text
    with pg.connect() as conn:
        left = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",)
        ).fetchall()
    assert left == []
