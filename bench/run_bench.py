"""The refresh benchmark: a masked ``datacloner refresh`` against ``pg_dump -Fc | pg_restore``.

    python bench/run_bench.py                       # N = 1,000,000 and 200,000 users
    python bench/run_bench.py --users 200000        # one size (repeat --users for more)
    python bench/run_bench.py --quick               # a 2,000-user smoke run, prints only

For each N, in one run:

1. build (or reuse) the database ``dc_bench_N`` from bench/make_db.sql: N users,
   3N orders, 2N comments, 2N audit_log rows and three reference tables;
2. (a) ``pg_dump -Fc | pg_restore`` of it into a fresh database, timed;
3. (b) ``datacloner refresh`` of it through bench/rules.yml, timed, for each
   ``--jobs`` value (default 1 and the CPUs, when the CLI has ``--jobs``), with
   the peak RSS of datacloner's whole process tree (itself, its workers, its
   pg_dump and psql);
4. unmasked speed: every table copied by a refresh whose rules keep every
   column, against ``psql -c 'COPY t TO STDOUT' | psql -c 'COPY t FROM STDIN'``
   per table into the same empty schema: rows/s of the one over the other;
5. checks on the masked copy: every audit_log actor still joins a user by
   email, the profile's contact email is the user's email, and none of a
   sample of source emails is left.

``--repeat K`` runs every timed step K times and keeps the fastest. Results are
printed and written as Markdown (bench/RESULTS.md unless ``--results`` says
otherwise; ``--quick`` writes only with ``--results``). docs/performance.md
explains the method and the numbers.

Peak RSS: a thread reads /proc every 50 ms, walks the refresh's process tree
(``/proc/PID/task/*/children``) and sums VmRSS over it. Shared pages (libraries)
count once per process, so the sum is an upper bound; the PSS sum (shared pages
split between their users) is reported beside it. ``os.wait4`` gives the
kernel's own peak for the largest single process of the tree, which the
polling can only underestimate. The PostgreSQL server's backends are not part
of the tree.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import yaml
from psycopg import sql

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MAKE_DB = BENCH / "make_db.sql"
RULES = BENCH / "rules.yml"
DEFAULT_USERS = (1_000_000, 200_000)
QUICK_USERS = (2_000,)
SECRET = "datacloner-bench-secret-not-for-production"
POLL = 0.05
PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024

# targets of issue 6
MAX_RATIO = 1.5  # masked refresh / pg_dump|pg_restore at 1M users
MIN_RAW_SPEED = 0.9  # unmasked tables: refresh rows/s over raw COPY rows/s
MAX_RSS_MB = 300
MAX_RSS_GROWTH = 1.2


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the server ---------------------------------------------------------------------


@dataclass
class Server:
    host: str
    port: int
    user: str
    password: str | None
    bindir: Path | None = None

    @classmethod
    def parse(cls, url: str) -> Server:
        parts = urlsplit(url)
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password) if parts.password else None,
        )

    def url(self, db: str) -> str:
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{db}"

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user}
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def connect(self, db: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=db,
            autocommit=True,
        )

    def one(self, query: str, db: str = "postgres", args: Sequence[Any] = ()) -> Any:
        with self.connect(db) as conn:
            row = conn.execute(query, args or None).fetchone()
            return row[0] if row else None

    def drop(self, *names: str) -> None:
        with self.connect() as conn:
            for name in names:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )

    def drop_like(self, prefix: str) -> None:
        """``prefix`` and every generation datacloner left beside it."""
        with self.connect() as conn:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT datname FROM pg_database WHERE datname = %s OR datname LIKE %s",
                    (prefix, prefix.replace("_", r"\_") + r"\_\_dc\_%"),
                )
            ]
        self.drop(*names)

    def create(self, name: str) -> None:
        self.drop(name)
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def checkpoint(self) -> None:
        """Flush the previous step's dirty pages so the next timing does not pay for them."""
        with contextlib.suppress(psycopg.Error), self.connect() as conn:
            conn.execute("CHECKPOINT")

    def tool(self, name: str) -> str:
        if self.bindir is None:
            major = int(self.one("SHOW server_version_num")) // 10000
            candidates = [os.environ.get("DATACLONER_PG_BIN", "")]
            candidates += [f"/usr/lib/postgresql/{major}/bin", f"/usr/pgsql-{major}/bin"]
            found = next(
                (Path(c) for c in candidates if c and (Path(c) / "pg_dump").exists()), None
            )
            if found is None:
                on_path = shutil.which("pg_dump")
                if on_path is None:
                    raise SystemExit("pg_dump not found: set DATACLONER_PG_BIN")
                found = Path(on_path).parent
            self.bindir = found
        return str(self.bindir / name)


# --- processes ------------------------------------------------------------------------


def run(cmd: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(cmd, env=env, capture_output=True, **kwargs)
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(cmd)} failed ({done.returncode}):\n"
            + done.stderr.decode(errors="replace")[-4000:]
        )
    return done


def pipe(first: list[str], second: list[str], env: dict[str, str]) -> float:
    """``first | second``, timed; either failing stops the benchmark."""
    with tempfile.TemporaryFile() as err1, tempfile.TemporaryFile() as err2:
        began = time.perf_counter()
        left = subprocess.Popen(first, env=env, stdout=subprocess.PIPE, stderr=err1)
        right = subprocess.Popen(
            second, env=env, stdin=left.stdout, stdout=subprocess.DEVNULL, stderr=err2
        )
        assert left.stdout is not None
        left.stdout.close()
        right.wait()
        left.wait()
        seconds = time.perf_counter() - began
        for proc, err in ((left, err1), (right, err2)):
            if proc.returncode != 0:
                err.seek(0)
                raise SystemExit(
                    f"{' '.join(proc.args)} failed ({proc.returncode}):\n"  # type: ignore[arg-type]
                    + err.read().decode(errors="replace")[-4000:]
                )
    return seconds


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                found.extend(int(c) for c in f.read().split())
    return found


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _pss(pid: int) -> int:
    """Proportional set size: shared pages split between the processes sharing them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


class TreeRss(threading.Thread):
    """Polls a process tree's summed RSS every ``POLL`` seconds; keeps the peak."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.stop = threading.Event()
        self.peak_tree = 0
        self.peak_pss = 0
        self.peak_root = 0
        self.max_procs = 0
        self.samples = 0

    def run(self) -> None:
        while not self.stop.is_set():
            tree, todo = [], [self.root]
            while todo:
                pid = todo.pop()
                tree.append(pid)
                todo.extend(_children(pid))
            sizes = [_rss(pid) for pid in tree]
            self.peak_tree = max(self.peak_tree, sum(sizes))
            self.peak_pss = max(self.peak_pss, sum(_pss(pid) for pid in tree))
            self.peak_root = max(self.peak_root, sizes[0])
            self.max_procs = max(self.max_procs, sum(1 for s in sizes if s))
            self.samples += 1
            self.stop.wait(POLL)


@dataclass
class Measured:
    seconds: float
    peak_tree: int
    peak_pss: int
    peak_root: int
    max_single: int  # the kernel's peak of the largest single process (wait4)
    cpu: float  # user + system seconds of the whole tree (wait4)
    processes: int
    samples: int
    stdout: str


def measured(cmd: list[str], env: dict[str, str]) -> Measured:
    """Run ``cmd`` with its process tree's RSS polled; stop the benchmark if it fails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        monitor = TreeRss(proc.pid)
        monitor.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        monitor.stop.set()
        monitor.join()
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(
                f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                + err.read().decode(errors="replace")[-4000:]
            )
        return Measured(
            seconds=seconds,
            peak_tree=monitor.peak_tree,
            peak_pss=monitor.peak_pss,
            peak_root=monitor.peak_root,
            max_single=usage.ru_maxrss * 1024,
            cpu=usage.ru_utime + usage.ru_stime,
            processes=monitor.max_procs,
            samples=monitor.samples,
            stdout=out.read().decode(),
        )


# --- datacloner -----------------------------------------------------------------------


def datacloner_cmd() -> list[str]:
    return [sys.executable, "-m", "datacloner.cli"]


def supports_jobs() -> bool:
    done = subprocess.run(
        [*datacloner_cmd(), "refresh", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    return "--jobs" in done.stdout


def write_config(folder: Path, source: str, target: str, rules: Path) -> Path:
    path = folder / "datacloner.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "source": source,
                "secret": SECRET,
                "rules": str(rules),
                "environments": {"bench": {"url": target}},
            },
            sort_keys=False,
        )
    )
    return path


def keep_all_rules(folder: Path) -> Path:
    """bench/rules.yml with every masked column kept instead: no table has a masked column."""
    rules = yaml.safe_load(RULES.read_text())
    tables = {}
    for name, table in rules["tables"].items():
        tables[name] = {"keep": [*table.get("mask", {}), *table.get("keep", [])]}
    path = folder / "rules-keep-all.yml"
    path.write_text(yaml.safe_dump({"strict": True, "tables": tables}, sort_keys=False))
    return path


def refresh_cmd(config: Path, jobs: int | None, batch_size: int | None) -> list[str]:
    cmd = [*datacloner_cmd(), "refresh", "bench", "-c", str(config), "--yes", "--json"]
    if jobs is not None:
        cmd += ["--jobs", str(jobs)]
    if batch_size is not None:
        cmd += ["--batch-size", str(batch_size)]
    return cmd


# --- the benchmark ----------------------------------------------------------------------


TABLES = ("plans", "countries", "products", "users", "orders", "comments", "audit_log")


@dataclass
class Refresh:
    """The best (fastest) of the repeats of one refresh configuration."""

    jobs: int | None
    run: Measured
    report: dict[str, Any]
    all_seconds: list[float]
    peak_tree: int  # the highest of all repeats, not only the fastest one's
    peak_pss: int
    max_single: int

    def table_seconds(self) -> dict[str, float]:
        return {
            t["table"].removeprefix("public."): float(t.get("seconds") or 0)
            for t in self.report.get("tables", [])
        }

    @property
    def data_seconds(self) -> float:
        """The rows' phase: per-table seconds summed, or (all tables at once) their shared time."""
        seconds = self.table_seconds().values()
        parallel = self.jobs is not None and self.jobs > 1
        return max(seconds, default=0.0) if parallel else sum(seconds)


@dataclass
class Result:
    users: int
    rows: int = 0
    tables: dict[str, int] = field(default_factory=dict)
    db_bytes: int = 0
    build_seconds: float | None = None  # None: reused
    restore_seconds: list[float] = field(default_factory=list)
    restore_cpu: float = 0.0
    masked: list[Refresh] = field(default_factory=list)
    raw_seconds: dict[str, float] = field(default_factory=dict)
    plain: Refresh | None = None
    checks: dict[str, bool] = field(default_factory=dict)
    background: list[float] = field(default_factory=list)  # CPUs busy before timed steps

    @property
    def restore(self) -> float:
        return min(self.restore_seconds)

    @property
    def best(self) -> Refresh:
        return min(self.masked, key=lambda r: r.run.seconds)

    def ratio(self, refresh: Refresh) -> float:
        return refresh.run.seconds / self.restore

    @property
    def raw_speed(self) -> float:
        """Refresh rows/s over raw COPY rows/s, unmasked tables (same rows: a time ratio)."""
        assert self.plain is not None
        refresh = sum(self.plain.table_seconds().values())
        return sum(self.raw_seconds.values()) / refresh if refresh else 0.0


def fingerprint(users: int) -> str:
    digest = hashlib.sha256(MAKE_DB.read_bytes()).hexdigest()[:16]
    return f"datacloner bench users={users} make_db={digest}"


def ensure_db(server: Server, name: str, users: int, rebuild: bool) -> float | None:
    """Build ``name`` unless it exists from the same make_db.sql; the build's seconds."""
    with server.connect() as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
    if row is not None and row[0] == fingerprint(users) and not rebuild:
        log(f"{name}: reusing (built from the same make_db.sql)")
        return None
    log(f"{name}: building {users:,} users ...")
    server.create(name)
    began = time.perf_counter()
    run(
        [server.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"users={users}"]
        + ["-d", name, "-f", str(MAKE_DB)],
        server.env(),
    )
    seconds = time.perf_counter() - began
    with server.connect() as conn:
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(fingerprint(users))
            )
        )
    log(f"{name}: built in {seconds:.1f} s")
    return seconds


def count_rows(server: Server, db: str) -> dict[str, int]:
    """Exact counts; reading every table also warms the OS cache for both contenders."""
    counts = {}
    with server.connect(db) as conn:
        for table in TABLES:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
            counts[table] = int(row.fetchone()[0])  # type: ignore[index]
    return counts


def _busy_ticks() -> tuple[int, int]:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def background_cpus(seconds: float = 1.0) -> float:
    """CPUs kept busy by others just before a timed step (nothing of ours runs then)."""
    busy0, total0 = _busy_ticks()
    time.sleep(seconds)
    busy1, total1 = _busy_ticks()
    cpus = len(os.sched_getaffinity(0))
    return (busy1 - busy0) / max(total1 - total0, 1) * cpus


def settle(server: Server, result: Result) -> None:
    """Before a timed step: a checkpoint, then a look at how busy the machine is."""
    server.checkpoint()
    busy = background_cpus()
    result.background.append(busy)
    if busy > 0.25:
        log(f"warning: other processes keep {busy:.1f} CPUs busy; timings will suffer")


def dump_restore(server: Server, src: str, dst: str, result: Result) -> None:
    server.create(dst)
    settle(server, result)
    log(f"(a) pg_dump -Fc {src} | pg_restore -d {dst} ...")
    began = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = pipe(
        [server.tool("pg_dump"), "-Fc", "-d", src],
        [server.tool("pg_restore"), "--exit-on-error", "-d", dst],
        server.env(),
    )
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    result.restore_cpu = (ended.ru_utime + ended.ru_stime) - (began.ru_utime + began.ru_stime)
    result.restore_seconds.append(seconds)
    log(f"(a) {seconds:.1f} s")
    server.drop(dst)


def raw_copy(server: Server, src: str, dst: str, result: Result) -> dict[str, float]:
    """Each table through ``psql COPY TO STDOUT | psql COPY FROM STDIN`` into the
    source's pre-data schema (no indexes yet, as a refresh loads them)."""
    env = server.env()
    server.create(dst)
    pipe(
        [server.tool("pg_dump"), "--section=pre-data", "-d", src],
        [server.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dst],
        env,
    )
    settle(server, result)
    log("raw COPY pipes ...")
    seconds = {}
    for table in TABLES:
        seconds[table] = pipe(
            [server.tool("psql"), "-X", "-d", src, "-c", f"COPY public.{table} TO STDOUT"],
            [server.tool("psql"), "-X", "-d", dst, "-c", f"COPY public.{table} FROM STDIN"],
            env,
        )
    server.drop(dst)
    return seconds


def refresh(
    server: Server,
    src: str,
    dst: str,
    config: Path,
    jobs: int | None,
    batch_size: int | None,
    what: str,
    result: Result,
) -> tuple[Measured, dict[str, Any]]:
    server.drop_like(dst)
    settle(server, result)
    log(f"{what}: datacloner refresh {src} -> {dst}, jobs {jobs or '-'} ...")
    measure = measured(refresh_cmd(config, jobs, batch_size), server.env())
    report = json.loads(measure.stdout)
    log(
        f"{what}: {measure.seconds:.1f} s, CPU {measure.cpu:.1f} s, peak RSS "
        f"{measure.peak_tree / MB:.0f} MB (tree), {measure.max_single / MB:.0f} MB (largest)"
    )
    return measure, report


def best_of(runs: list[tuple[Measured, dict[str, Any]]], jobs: int | None) -> Refresh:
    fastest, report = min(runs, key=lambda r: r[0].seconds)
    return Refresh(
        jobs=jobs,
        run=fastest,
        report=report,
        all_seconds=[m.seconds for m, _ in runs],
        peak_tree=max(m.peak_tree for m, _ in runs),
        peak_pss=max(m.peak_pss for m, _ in runs),
        max_single=max(m.max_single for m, _ in runs),
    )


def check_masked(server: Server, src: str, dst: str) -> dict[str, bool]:
    """Joins by value hold in the masked copy, and no sampled source email is left."""
    with server.connect(dst) as conn:

        def one(query: str, *args: Any) -> int:
            row = conn.execute(query, args or None).fetchone()
            return int(row[0]) if row else 0

        audit = one("SELECT count(*) FROM audit_log")
        joined = one("SELECT count(*) FROM audit_log a JOIN users u ON u.email = a.actor")
        users = one("SELECT count(*) FROM users")
        profile = one("SELECT count(*) FROM users WHERE profile->'contact'->>'email' = email")
        with server.connect(src) as source:
            sample = [
                r[0]
                for r in source.execute(
                    "SELECT email FROM users TABLESAMPLE SYSTEM (5) REPEATABLE (1) LIMIT 1000"
                )
            ]
        left = one(
            "SELECT (SELECT count(*) FROM users WHERE email = ANY(%s)) "
            "+ (SELECT count(*) FROM audit_log WHERE actor = ANY(%s))",
            sample,
            sample,
        )
    return {
        "audit_log.actor joins users.email": audit > 0 and joined == audit,
        "profile.contact.email = users.email": users > 0 and profile == users,
        f"none of {len(sample)} sampled source emails left": bool(sample) and left == 0,
    }


@dataclass
class Options:
    prefix: str
    folder: Path
    jobs: list[int | None]
    batch_size: int | None
    repeat: int
    rebuild: bool
    keep: bool
    unmasked: bool


def bench_one(server: Server, users: int, opts: Options) -> Result:
    src = f"{opts.prefix}_{users}"
    result = Result(users=users)
    result.build_seconds = ensure_db(server, src, users, opts.rebuild)
    result.tables = count_rows(server, src)
    result.rows = sum(result.tables.values())
    result.db_bytes = int(server.one("SELECT pg_database_size(%s)", args=(src,)))

    masked = f"{src}_masked"
    config = write_config(opts.folder, server.url(src), server.url(masked), RULES)
    runs: dict[int | None, list[tuple[Measured, dict[str, Any]]]] = {j: [] for j in opts.jobs}
    for attempt in range(opts.repeat):
        dump_restore(server, src, f"{src}_restore", result)
        for jobs in opts.jobs:
            runs[jobs].append(
                refresh(server, src, masked, config, jobs, opts.batch_size, "(b)", result)
            )
            if attempt == 0 and jobs == opts.jobs[0]:
                result.checks = check_masked(server, src, masked)
            if not opts.keep:
                server.drop_like(masked)
    result.masked = [best_of(runs[j], j) for j in opts.jobs]

    if opts.unmasked:
        plain = f"{src}_plain"
        config = write_config(
            opts.folder, server.url(src), server.url(plain), keep_all_rules(opts.folder)
        )
        serial = 1 if any(j is not None for j in opts.jobs) else None
        raws: list[dict[str, float]] = []
        plains = []
        for _ in range(opts.repeat):
            raws.append(raw_copy(server, src, f"{src}_raw", result))
            plains.append(
                refresh(server, src, plain, config, serial, opts.batch_size, "unmasked", result)
            )
            server.drop_like(plain)
        result.raw_seconds = {t: min(r[t] for r in raws) for t in TABLES}
        result.plain = best_of(plains, serial)
        # the fastest of each table over the repeats, as for the raw pipes
        for entry in result.plain.report.get("tables", []):
            name = entry["table"].removeprefix("public.")
            entry["seconds"] = min(
                float(t["seconds"])
                for _, report in plains
                for t in report["tables"]
                if t["table"].removeprefix("public.") == name
            )
    return result


# --- profiling --------------------------------------------------------------------------


def profile(server: Server, users: int, opts: Options, out: Path) -> list[tuple[str, float, float]]:
    """A masked refresh (the first ``--jobs``) under ``py-spy record --idle``: wall time
    (waits included) per function, self and total, from the raw stacks written to ``out``."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    src, dst = f"{opts.prefix}_{users}", f"{opts.prefix}_{users}_masked"
    server.drop_like(dst)
    config = write_config(opts.folder, server.url(src), server.url(dst), RULES)
    log(f"profiling a refresh of {src} with py-spy -> {out}")
    run(
        [spy, "record", "--idle", "--subprocesses", "-r", str(RATE), "--format", "raw"]
        + ["-o", str(out), "--", *refresh_cmd(config, opts.jobs[0], opts.batch_size)],
        server.env(),
    )
    server.drop_like(dst)
    return summarize_profile(out)


RATE = 100  # py-spy samples per second


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


# --- the report ---------------------------------------------------------------------------


def machine(server: Server) -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    settings = {}
    with server.connect() as conn:
        version = conn.execute("SELECT version()").fetchone()[0]  # type: ignore[index]
        for name in ("shared_buffers", "max_wal_size", "synchronous_commit", "fsync"):
            settings[name] = conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "CPUs (nproc)": str(len(os.sched_getaffinity(0))),
        "CPU": model,
        "memory": memory,
        "PostgreSQL": version.split(" on ")[0],
        "PostgreSQL settings": ", ".join(f"{k}={v}" for k, v in settings.items()),
        "Python": platform.python_version(),
        "datacloner commit": commit or "unknown",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _mb(n: int) -> str:
    return f"{n / MB:.0f} MB"


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds else "-"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _jobs(jobs: int | None) -> str:
    return "-" if jobs is None else str(jobs)


def render(results: list[Result], info: dict[str, str], opts: Options, command: str) -> str:
    background = max((b for r in results for b in r.background), default=0.0)
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{command}`. Method, and where the time goes: docs/performance.md.",
        "",
        "| machine | |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in info.items()]
    lines += [
        f"| repeats | {opts.repeat} (best of each is shown) |",
        f"| busiest background before a timed step | {background:.2f} CPUs |",
        "",
        "## (a) `pg_dump -Fc | pg_restore` against (b) a masked `datacloner refresh`",
        "",
        "Rows: all tables. Seconds: wall clock of the whole command. CPU: user + system",
        "seconds of the client processes (the server's backends are not counted). Peak RSS:",
        "datacloner's process tree, VmRSS summed over its processes (PSS, shared pages split,",
        "in brackets); largest process: the kernel's peak for the biggest one.",
        "",
        "| users | rows | source | step | jobs | s | rows/s | (b)/(a) | CPU s | peak RSS "
        "| largest process |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.users:,} | {r.rows:,} | {_mb(r.db_bytes)} | (a) dump \\| restore | | "
            f"{r.restore:.1f} | {_rate(r.rows, r.restore)} | | {r.restore_cpu:.1f} | | |"
        )
        for m in r.masked:
            lines.append(
                f"| | | | (b) refresh | {_jobs(m.jobs)} | {m.run.seconds:.1f} | "
                f"{_rate(r.rows, m.run.seconds)} | {r.ratio(m):.2f} | {m.run.cpu:.1f} | "
                f"{_mb(m.peak_tree)} ({_mb(m.peak_pss)}) | {_mb(m.max_single)} |"
            )
    lines += [
        "",
        "Phases of (b): rows (reading, masking, writing) against everything else (start-up,",
        "pre-data schema, post-data indexes and constraints, sequences, ANALYZE, health",
        "check, swap).",
        "",
        "| users | jobs | total s | rows s | rest s | all runs s |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        for m in r.masked:
            runs = ", ".join(f"{s:.1f}" for s in m.all_seconds)
            lines.append(
                f"| {r.users:,} | {_jobs(m.jobs)} | {m.run.seconds:.1f} | {m.data_seconds:.1f} "
                f"| {m.run.seconds - m.data_seconds:.1f} | {runs} |"
            )
    if any(r.plain for r in results):
        lines += [
            "",
            "## Unmasked tables against raw COPY",
            "",
            "Every table refreshed with rules that keep every column (so each is streamed as",
            "raw COPY data), against `psql -c 'COPY t TO STDOUT' | psql -c 'COPY t FROM STDIN'`",
            "per table into the same empty schema. Seconds: the per-table seconds of the",
            "refresh report (one job at a time), summed over all tables; best of the repeats",
            "per table for both.",
            "",
            "| users | rows | raw COPY s | refresh s | speed vs raw | whole unmasked refresh s "
            "| peak RSS |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in results:
            if r.plain is None:
                continue
            lines.append(
                f"| {r.users:,} | {r.rows:,} | {sum(r.raw_seconds.values()):.1f} | "
                f"{sum(r.plain.table_seconds().values()):.1f} | {r.raw_speed:.0%} | "
                f"{r.plain.run.seconds:.1f} | {_mb(r.plain.peak_tree)} |"
            )
    serial = [(r, m) for r in results for m in r.masked if not (m.jobs and m.jobs > 1)]
    if serial:
        lines += ["", "## Per table, masked refresh (b), one job", ""]
        lines += ["| users | table | rows | masked columns | s | rows/s |"]
        lines += ["|---:|---|---:|---:|---:|---:|"]
        for r, m in serial:
            for t in m.report.get("tables", []):
                seconds = float(t.get("seconds") or 0)
                lines.append(
                    f"| {r.users:,} | {t['table']} | {t.get('rows', 0):,} | "
                    f"{len(t.get('masked_columns') or [])} | {seconds:.1f} | "
                    f"{_rate(int(t.get('rows') or 0), seconds)} |"
                )
    lines += ["", "## Checks on the masked copy", ""]
    for r in results:
        checks = ", ".join(f"{k}: {'yes' if v else '**NO**'}" for k, v in r.checks.items())
        lines.append(f"- {r.users:,} users: {checks}")
    lines += ["", "## Targets (issue 6)", ""]
    lines += targets(results)
    return "\n".join(lines) + "\n"


def targets(results: list[Result]) -> list[str]:
    out = []
    by_users = {r.users: r for r in results}
    big = by_users.get(1_000_000) or max(results, key=lambda r: r.users)
    note = "" if big.users == 1_000_000 else f" (measured at {big.users:,} users, not 1M)"
    best = big.best
    ratio = big.ratio(best)
    out.append(
        f"- masked refresh ≤ {MAX_RATIO}× `pg_dump | pg_restore` at 1M users{note}: "
        f"{ratio:.2f}× (jobs {_jobs(best.jobs)}), {_verdict(ratio <= MAX_RATIO)}"
    )
    plain = [r for r in results if r.plain is not None]
    if plain:
        worst = min(plain, key=lambda r: r.raw_speed)
        out.append(
            f"- unmasked tables ≥ {MIN_RAW_SPEED:.0%} of raw COPY speed: lowest "
            f"{worst.raw_speed:.0%} ({worst.users:,} users), "
            f"{_verdict(worst.raw_speed >= MIN_RAW_SPEED)}"
        )
    jobs = [m.jobs for m in results[0].masked]
    for j in jobs:
        peaks = {r.users: m.peak_tree for r in results for m in r.masked if m.jobs == j}
        top = max(peaks.values())
        line = (
            f"- peak RSS (jobs {_jobs(j)}) ≤ {MAX_RSS_MB} MB: highest {_mb(top)}, "
            f"{_verdict(top <= MAX_RSS_MB * MB)}"
        )
        if len(peaks) > 1:
            lo, hi = min(peaks), max(peaks)
            growth = peaks[hi] / peaks[lo]
            line += (
                f"; within {MAX_RSS_GROWTH}× between {lo:,} and {hi:,} users: {growth:.2f}×, "
                f"{_verdict(growth <= MAX_RSS_GROWTH)}"
            )
        out.append(line)
    return out


def render_profile(users: int, jobs: int | None, prof: Profile) -> str:
    def share(n: int) -> str:
        return f"{n / prof.samples:.1%} | {n / RATE:.1f}" if prof.samples else "- | -"

    lines = [
        "",
        f"## Profile: masked refresh, {users:,} users, jobs {_jobs(jobs)}",
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


def parse_jobs(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--users", type=int, action="append", help="users in the database (repeatable)"
    )
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_USERS[0]} users")
    parser.add_argument(
        "--pg",
        default=os.environ.get("DATACLONER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432"),
        help="server URL without a database (default $DATACLONER_BENCH_PG or local postgres)",
    )
    parser.add_argument("--prefix", default="dc_bench", help="database name prefix")
    parser.add_argument(
        "--jobs",
        type=parse_jobs,
        help="`datacloner refresh --jobs` values to run, e.g. 1,2, when the CLI has the option "
        "(default: 1 and the number of CPUs)",
    )
    parser.add_argument("--batch-size", type=int, help="passed to `datacloner refresh`")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each timed step (best)")
    parser.add_argument("--no-unmasked", action="store_true", help="skip the raw COPY comparison")
    parser.add_argument("--results", type=Path, help="Markdown file (default bench/RESULTS.md)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the source databases")
    parser.add_argument("--keep", action="store_true", help="keep the masked copies")
    parser.add_argument(
        "--drop-sources",
        action="store_true",
        help="drop the built databases at the end (by default they are kept for the next run)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="also profile a masked refresh of the smallest N with py-spy (raw stacks to FILE)",
    )
    args = parser.parse_args(argv)
    users = args.users or list(QUICK_USERS if args.quick else DEFAULT_USERS)
    results_path = args.results or (None if args.quick else BENCH / "RESULTS.md")

    server = Server.parse(args.pg)
    cpus = len(os.sched_getaffinity(0))
    jobs: list[int | None]
    if supports_jobs():
        jobs = list(dict.fromkeys(args.jobs or [1, cpus]))
    else:
        if args.jobs:
            log("this datacloner has no `refresh --jobs`: running without it")
        jobs = [None]
    info = machine(server)
    log(f"machine: {info['CPUs (nproc)']} CPUs, {info['memory']}, {info['PostgreSQL']}")

    results = []
    with tempfile.TemporaryDirectory(prefix="dc-bench-") as tmp:
        opts = Options(
            prefix=args.prefix,
            folder=Path(tmp),
            jobs=jobs,
            batch_size=args.batch_size,
            repeat=max(1, args.repeat),
            rebuild=args.rebuild,
            keep=args.keep,
            unmasked=not args.no_unmasked,
        )
        for n in users:
            results.append(bench_one(server, n, opts))
        shown = sys.argv[1:] if argv is None else list(argv)
        text = render(results, info, opts, " ".join(["python bench/run_bench.py", *shown]))
        if args.profile:
            n = min(users)
            text += render_profile(n, jobs[0], profile(server, n, opts, args.profile))
    if args.drop_sources:
        for n in users:
            server.drop(f"{args.prefix}_{n}")
    print(text)
    if results_path is not None:
        results_path.write_text(text)
        log(f"wrote {results_path}")
    failed = [k for r in results for k, ok in r.checks.items() if not ok]
    if failed:
        log(f"checks failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
