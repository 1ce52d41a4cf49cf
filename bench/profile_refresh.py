"""A masked refresh under ``py-spy record --idle``: where its wall time goes.

``run_bench.py --profile FILE`` runs one refresh of the smallest users database
this way and appends the breakdown to its results (py-spy is not a dependency:
``pip install py-spy``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

RATE = 100  # py-spy samples per second


def record(cmd: list[str], env: dict[str, str], out: Path) -> Profile:
    """Run ``cmd`` (a refresh) under py-spy; wall time (waits included) per step and function."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    done = subprocess.run(
        [spy, "record", "--idle", "--subprocesses", "-r", str(RATE), "--format", "raw"]
        + ["-o", str(out), "--", *cmd],
        env=env,
        capture_output=True,
    )
    if done.returncode != 0:
        raise SystemExit("py-spy failed:\n" + done.stderr.decode(errors="replace")[-4000:])
    return summarize_profile(out)


def categorize(frames: list[str]) -> str:
    """Which step of a refresh a py-spy stack (outermost frame first) belongs to."""
    names = [f.partition(" (")[0] for f in frames]
    joined = ";".join(names)
    if "PgTargetBuild.load_schema" in names:
        return "schema: pg_dump piped to psql, pre-data and post-data (indexes, constraints)"
    if "PgTargetBuild.finalize" in names:
        return "sequences, materialized views, ANALYZE"
    if "PgTargetBuild.health_check" in names:
        return "health check"
    if any(n in names for n in ("PgTargetBuild.swap", "PgTargetBuild.write_manifest")):
        return "manifest and swap"
    if "copy_into" in names or "PgTargetBuild.copy_table" in names:
        if "Copy.read" in names or "Copy.__iter__" in names:
            return "rows: read COPY data from the source (psycopg)"
        if "Copy.write" in names or "Copy.__exit__" in names or "Copy.finish" in names:
            return "rows: write COPY data to the target (psycopg)"
        if "RowSplitter.feed" in joined:
            return "rows: split COPY text into fields"
        if "join_rows" in names:
            return "rows: join fields into COPY text"
        if "TableMasker._run" in names:
            return "rows: maskers (the rules)"
        if "TableMasker.apply" in names:
            deepest = names[-1]
            if "decode" in joined.rsplit("TableMasker.apply", 1)[1] or "column_values" in deepest:
                return "rows: decode masked fields"
            return "rows: encode masked fields, other"
        return "rows: other (generators, batching)"
    if "copy_parallel" in names or "_process_worker" in names:
        return "parallel workers: waiting, start-up"
    if any(n in names for n in ("PgSource.read_catalog", "build_plan", "compile_mask")):
        return "catalog, plan, compiling rules"
    if "_find_and_load" in names or names[-1] == "<module>":
        return "imports, start-up"
    return "other"


def rule_of(frames: list[str]) -> str | None:
    """The masking module of the outermost rule in a stack under TableMasker._run."""
    names = [f.partition(" (")[0] for f in frames]
    if "TableMasker._run" not in names:
        return None
    for frame in frames[names.index("TableMasker._run") + 1 :]:
        where = frame.partition(" (")[2]
        if "masking/" in where and "masking/base.py" not in where:
            return where.split("masking/")[1].split(".py")[0]
    return "base"


@dataclass
class Profile:
    samples: int
    steps: list[tuple[str, int]]
    rules: list[tuple[str, int]]
    functions: list[tuple[str, int, int]]  # name, self samples, total samples


def summarize_profile(path: Path, top: int = 15) -> Profile:
    steps: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = stack.split(";")
        steps[categorize(frames)] += n
        rule = rule_of(frames)
        if rule:
            rules[rule] += n
        short = [_short(f) for f in frames]
        own[short[-1]] += n
        for frame in set(short):
            total[frame] += n
    functions = [(name, n, total[name]) for name, n in own.most_common(top)]
    return Profile(samples, steps.most_common(), rules.most_common(), functions)


def _short(frame: str) -> str:
    """``func (/long/path/pkg/mod.py:123)`` -> ``func (pkg/mod.py)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(where).parts
    for anchor in ("datacloner", "site-packages", "lib"):
        if anchor in parts:
            parts = parts[parts.index(anchor) + (anchor != "datacloner") :]
            break
    return f"{name} ({'/'.join(parts[-3:])})" if where else name


def render_profile(title: str, prof: Profile) -> str:
    def share(n: int) -> str:
        return f"{n / prof.samples:.1%} | {n / RATE:.1f}" if prof.samples else "- | -"

    lines = [
        "",
        f"## Profile: {title}",
        "",
        f"`py-spy record --idle` at {RATE} Hz: wall time, waits included; "
        f"{prof.samples:,} samples.",
        "",
        "| step | share | s |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {share(n)} |" for name, n in prof.steps]
    lines += ["", "The maskers by rule module (json includes its paths' own rules):", ""]
    lines += ["| rule module | share | s |", "|---|---:|---:|"]
    lines += [f"| {name} | {share(n)} |" for name, n in prof.rules]
    lines += ["", "| function (self time) | self | total |", "|---|---:|---:|"]
    lines += [
        f"| `{name}` | {n / prof.samples:.1%} | {t / prof.samples:.1%} |"
        for name, n, t in prof.functions
    ]
    return "\n".join(lines) + "\n"
