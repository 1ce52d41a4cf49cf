"""``make bench``: datacloner against the plain copies, in one run, on this machine.

    python bench/run_bench.py          # 100k, 200k, 1M users, 1,100 small tables, MariaDB at 1M
    python bench/run_bench.py --quick    # smoke run: 100k users, 300 tables, MariaDB at 100k
    python bench/run_bench.py --users 200000 --tables 0 --no-mysql
    python bench/run_bench.py --users 1000000 --only mysql   # the MariaDB rows alone

Each data set is copied, one contender after the other (``--repeat K``: K rounds
of all of them, the fastest of each kept), by

- ``pg_dump -Fc | pg_restore`` (the baseline of the ratios),
- ``pg_dump -Fd -j2`` then ``pg_restore -j2``,
- ``pgcopydb clone --table-jobs 2 --index-jobs 2`` (skipped with a note where
  pgcopydb is not installed: ``apt-get install pgcopydb``),
- ``datacloner refresh`` (masked), one job and ``--jobs 2``,

on N users (bench/make_db.sql, masked by bench/rules.yml) and on a schema of
many small tables (bench/many_tables.py). At the largest N a masked refresh
of a 2% subset of the users is timed as well (when ``subset:`` is accepted),
and loaded into MariaDB for ``mysqldump | mysql`` against a refresh of it
(when ``mysql://`` URLs are accepted; the load is kept for the next run). For every row: wall
time, its ratio to ``pg_dump -Fc | pg_restore`` and to pgcopydb, the peak RSS
of its whole process tree and its client CPU seconds (bench/harness.py). The
Markdown table, with the date, the machine and the commit, goes to
bench/results/<date>-<commit>.md. docs/performance.md ("How to measure")
explains the method.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import datasets
import mysql_row
import profile_refresh
import render
from harness import BENCH, MB, Measured, Server, background_cpus, log, machine, measured, shell

# 200k: issue 15's memory target compares the tree's peak at 200k and at 1M
DEFAULT_USERS = (100_000, 200_000, 1_000_000)
QUICK_USERS = (100_000,)
DEFAULT_TABLES = 1_100
QUICK_TABLES = 300
# a laptop copy as docs/subset.md sizes one: audit_log has no foreign key, so
# it is "disconnected" and would be copied whole (2M rows) by the default
SUBSET = {"public.users": "2%", "disconnected": "empty"}
PGCOPYDB_HINT = "pgcopydb not installed (apt-get install pgcopydb; github.com/dimitri/pgcopydb)"


@dataclass
class Contender:
    key: str
    label: str
    cmd: list[str]
    env: dict[str, str]
    skip: str = ""  # why it does not run here
    setup: Callable[[], None] = lambda: None  # untimed, before each run
    check: Callable[[], str] | None = None  # after the first run: a note on the copy
    teardown: Callable[[], None] = lambda: None


@dataclass
class Row:
    key: str
    label: str
    runs: list[Measured] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skip: str = ""
    background: list[float] = field(default_factory=list)  # CPUs busy before each run

    @property
    def best(self) -> Measured | None:
        ok = [m for m in self.runs if m.ok]
        return min(ok, key=lambda m: m.seconds) if ok and len(ok) == len(self.runs) else None


@dataclass
class Section:
    title: str
    about: str
    baseline: str  # the key of the row every ratio divides by
    rows: list[Row] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)

    def row(self, key: str) -> Row | None:
        return next((r for r in self.rows if r.key == key), None)

    def seconds(self, key: str) -> float | None:
        row = self.row(key)
        best = row.best if row else None
        return best.seconds if best else None


@dataclass
class Options:
    server: Server
    folder: Path
    prefix: str
    jobs: int
    repeat: int
    rebuild: bool
    background: list[float] = field(default_factory=list)


def datacloner(config: Path, env: str, jobs: int) -> list[str]:
    """A refresh as a user runs it (one job: no flag, the default)."""
    cmd = [sys.executable, "-m", "datacloner.cli", "refresh", env, "-c", str(config), "--yes"]
    return cmd + (["--jobs", str(jobs)] if jobs > 1 else [])


def refused(config: Path, env: dict[str, str]) -> str:
    """The config error of a feature this datacloner does not have yet ('' when accepted)."""
    probe = measured([sys.executable, "-m", "datacloner.cli", "check", "-c", str(config)], env)
    lines = [line.strip() for line in probe.stderr.splitlines() if line.strip()]
    error = next((line for line in lines if "not supported" in line), "")
    # "error: /tmp/.../datacloner.yml:7: environments..." -> "environments..."
    return re.sub(r"^(error:\s*)?\S+:\d+:\s*", "", error).strip()


def pg_contenders(opts: Options, src: str, config: Path, env_name: str) -> list[Contender]:
    """The five PostgreSQL contenders copying ``src``; each writes its own target."""
    server, jobs, env = opts.server, opts.jobs, opts.server.env()
    pg_dump, pg_restore = server.tool("pg_dump"), server.tool("pg_restore")
    dump_dir, copy_dir = opts.folder / "dump", opts.folder / "pgcopydb"

    def fresh(db: str, *folders: Path) -> Callable[[], None]:
        def setup() -> None:
            server.create(db)
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)

        return setup

    def gone(db: str, *folders: Path) -> Callable[[], None]:
        def teardown() -> None:
            server.drop_like(db)
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)

        return teardown

    dst = {k: f"{src}_{k}" for k in ("fc", "fd", "pgcopydb", "dc1", f"dc{jobs}")}
    return [
        Contender(
            "fc",
            "`pg_dump -Fc | pg_restore`",
            shell(
                f"{shlex.join([pg_dump, '-Fc', '-d', src])} | "
                f"{shlex.join([pg_restore, '--exit-on-error', '-d', dst['fc']])}"
            ),
            env,
            setup=fresh(dst["fc"]),
            teardown=gone(dst["fc"]),
        ),
        Contender(
            "fd",
            f"`pg_dump -Fd -j{jobs}` + `pg_restore -j{jobs}`",
            shell(
                f"{shlex.join([pg_dump, '-Fd', f'-j{jobs}', '-f', str(dump_dir), '-d', src])}\n"
                f"{shlex.join([pg_restore, '--exit-on-error', f'-j{jobs}', '-d', dst['fd']])}"
                f" {shlex.quote(str(dump_dir))}"
            ),
            env,
            setup=fresh(dst["fd"], dump_dir),
            teardown=gone(dst["fd"], dump_dir),
        ),
        Contender(
            "pgcopydb",
            f"`pgcopydb clone --table-jobs {jobs} --index-jobs {jobs}`",
            ["pgcopydb", "clone", "--source", server.url(src), "--target"]
            + [server.url(dst["pgcopydb"]), "--table-jobs", str(jobs), "--index-jobs", str(jobs)]
            + ["--dir", str(copy_dir)],
            env,
            skip="" if shutil.which("pgcopydb") else PGCOPYDB_HINT,
            setup=fresh(dst["pgcopydb"], copy_dir),
            teardown=gone(dst["pgcopydb"], copy_dir),
        ),
        Contender(
            "dc1",
            "`datacloner refresh`, one job",
            datacloner(config, env_name, 1),
            env,
            setup=gone(dst["dc1"]),
            teardown=gone(dst["dc1"]),
        ),
        Contender(
            f"dc{jobs}",
            f"`datacloner refresh --jobs {jobs}`",
            datacloner(config, env_name, jobs),
            env,
            setup=gone(dst[f"dc{jobs}"]),
            teardown=gone(dst[f"dc{jobs}"]),
        ),
    ]


def timed(opts: Options, section: Section, contenders: list[Contender]) -> None:
    """``--repeat`` rounds, each running every contender once, in order."""
    rows = {c.key: Row(c.key, c.label, skip=c.skip) for c in contenders}
    section.rows.extend(rows.values())
    for attempt in range(opts.repeat):
        for c in contenders:
            row = rows[c.key]
            if row.skip or (row.runs and not row.runs[-1].ok):
                continue
            c.setup()
            opts.server.checkpoint()  # the previous step's dirty pages are not this one's
            busy = background_cpus()
            opts.background.append(busy)
            row.background.append(busy)
            if busy > 0.25:
                log(f"warning: other processes keep {busy:.1f} CPUs busy; timings will suffer")
            log(f"{section.title}: {c.label} ...")
            run = measured(c.cmd, c.env)
            row.runs.append(run)
            if not run.ok:
                row.notes.append(run.failure())
                log(f"{section.title}: {c.label} {run.failure()}")
            else:
                log(
                    f"{section.title}: {c.label} {run.seconds:.1f} s, CPU {run.cpu:.1f} s, "
                    f"peak RSS {run.peak_tree / MB:.0f} MB"
                )
                if c.key.startswith("dc"):
                    output = len(run.stdout) + len(run.stderr)
                    if attempt == 0:
                        row.notes.append(f"{output / 1024:.0f} KiB of output")
                if attempt == 0 and c.check is not None:
                    note = c.check()
                    if note:
                        row.notes.append(note)
            c.teardown()


def copy_check(opts: Options, counts: dict[str, int], db: str) -> Callable[[], str]:
    def check() -> str:
        problem = datasets.same_rows(opts.server, counts, db)
        return f"**copy differs**: {problem}" if problem else ""

    return check


def pg_section(
    opts: Options,
    src: str,
    title: str,
    origin: str,
    make_config: Callable[[Path, str, str], tuple[Path, str]],
) -> tuple[Section, list[Contender], dict[str, int]]:
    """A PostgreSQL data set's section and its contenders, each checked for the
    source's row counts; the two refreshes write targets of their own."""
    server = opts.server
    counts = datasets.row_counts(server, src)
    size = int(server.one("SELECT pg_database_size(%s)", args=(src,)))
    section = Section(
        title,
        f"{sum(counts.values()):,} rows in {len(counts):,} tables, {size / MB:,.0f} MB ({origin})",
        baseline="fc",
    )
    config, env_name = make_config(opts.folder, server.url(src), server.url(f"{src}_dc1"))
    contenders = pg_contenders(opts, src, config, env_name)
    jobs_config, _ = make_config(
        opts.folder / "jobs", server.url(src), server.url(f"{src}_dc{opts.jobs}")
    )
    contenders[-1].cmd = datacloner(jobs_config, env_name, opts.jobs)
    for c in contenders:
        c.check = copy_check(opts, counts, f"{src}_{c.key}")
    return section, contenders, counts


def bench_users(opts: Options, users: int, subset: bool) -> Section:
    server = opts.server
    src = f"{opts.prefix}_{users}"
    datasets.ensure_users(server, src, users, opts.rebuild)
    section, contenders, counts = pg_section(
        opts,
        src,
        f"{users:,} users",
        "bench/make_db.sql, masked by bench/rules.yml",
        lambda folder, source, target: datasets.users_config(folder, source, target, None),
    )

    def masked_checks() -> str:
        section.checks = datasets.check_masked(server, src, f"{src}_dc1")
        return datasets.same_rows(server, counts, f"{src}_dc1")

    next(c for c in contenders if c.key == "dc1").check = masked_checks
    if subset:
        contenders.append(subset_contender(opts, src, counts))
    timed(opts, section, contenders)
    full, part = section.seconds(f"dc{opts.jobs}"), section.seconds("subset")
    if full and part:
        section.row("subset").notes.append(  # type: ignore[union-attr]
            f"{part / full:.2f}× the full masked refresh `--jobs {opts.jobs}`"
        )
    return section


def subset_contender(opts: Options, src: str, counts: dict[str, int]) -> Contender:
    server = opts.server
    dst = f"{src}_subset"
    config, env_name = datasets.users_config(
        opts.folder / "subset", server.url(src), server.url(dst), SUBSET
    )
    skip = refused(config, server.env())

    def check() -> str:
        users = int(server.one("SELECT count(*) FROM users", db=dst))
        return f"users: {users:,} of {counts.get('public.users', 0):,} rows"

    return Contender(
        "subset",
        f"`datacloner refresh --jobs {opts.jobs}`, subset users 2%, disconnected empty",
        datacloner(config, env_name, opts.jobs),
        server.env(),
        skip=f"skipped: {skip}" if skip else "",
        setup=lambda: server.drop_like(dst),
        check=check,
        teardown=lambda: server.drop_like(dst),
    )


def bench_tables(opts: Options, tables: int) -> Section:
    src = f"{opts.prefix}_tables_{tables}"
    datasets.ensure_tables(opts.server, src, tables, opts.rebuild)
    section, contenders, _ = pg_section(
        opts,
        src,
        f"{tables:,} small tables",
        "bench/many_tables.py, its own rules",
        lambda folder, source, target: datasets.tables_config(folder, source, target, tables),
    )
    timed(opts, section, contenders)
    return section


def one_job_only(url: str) -> str:
    """A skip note when the engine serving ``url`` copies with one job whatever ``--jobs``
    says (its ``parallel_copy`` capability, as the runtime reads it), else ''."""
    probe = (
        "import sys; from datacloner.engines import registry; "
        "print(registry.engine_of(sys.argv[1]).parallel_copy)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, url], capture_output=True, text=True, check=False
    )
    if done.stdout.strip() == "False":
        return "skipped: this engine copies with one job (no `parallel_copy`), as the row above"
    return ""


def maria_check(maria: mysql_row.MariaDB, counts: dict[str, int], db: str) -> str:
    try:
        copy = mysql_row.counts(maria, db)
    except SystemExit as failed:
        return f"**copy differs**: cannot count its rows ({str(failed).splitlines()[-1]})"
    if copy == counts:
        return ""
    differ = [t for t in counts if copy.get(t) != counts[t]]
    return f"**copy differs**: {len(differ)} tables (e.g. {differ[0]}: {copy.get(differ[0])} rows)"


def bench_mysql(opts: Options, maria: mysql_row.MariaDB, users: int) -> Section:
    server = opts.server
    src = f"{opts.prefix}_{users}"
    section = Section(f"MariaDB, {users:,} users", "", baseline="dump")
    config, env_name = mysql_row.config(opts.folder, maria, src, f"{src}_dc1")
    jobs_config, _ = mysql_row.config(opts.folder / "jobs", maria, src, f"{src}_dc{opts.jobs}")
    env = maria.env(server.env())
    missing = maria.missing()
    skip = f"skipped: {missing}" if missing else ""
    if not skip and (why := refused(config, env)):
        skip = f"skipped: engine not available ({why})"
    counts: dict[str, int] = {}
    if not skip:
        mysql_row.ensure(server, src, maria, src, opts.rebuild)
        counts = mysql_row.counts(maria, src)
        section.about = (
            f"{sum(counts.values()):,} rows in {len(counts)} tables, the same rows as "
            f"PostgreSQL's; {maria.version()}"
        )
    dump_dst = f"{src}_dump"
    contenders = [
        Contender(
            "dump",
            "`mysqldump --single-transaction | mysql`",
            mysql_row.dump_pipe(maria, src, dump_dst),
            env,
            skip=skip,
            setup=lambda: maria.recreate(dump_dst),
            check=lambda: maria_check(maria, counts, dump_dst),
            teardown=lambda: maria.drop(dump_dst),
        )
    ]
    serial = "" if skip else one_job_only(maria.url(src))
    for jobs, cfg in ((1, config), (opts.jobs, jobs_config)):
        dst = f"{src}_dc{jobs}"
        contenders.append(
            Contender(
                f"dc{jobs}",
                "`datacloner refresh`, one job"
                if jobs == 1
                else f"`datacloner refresh --jobs {jobs}`",
                datacloner(cfg, env_name, jobs),
                env,
                skip=skip or (serial if jobs > 1 else ""),
                setup=lambda dst=dst: maria.drop_like(dst),  # type: ignore[misc]
                check=lambda dst=dst: maria_check(maria, counts, dst),  # type: ignore[misc]
                teardown=lambda dst=dst: maria.drop_like(dst),  # type: ignore[misc]
            )
        )
    timed(opts, section, contenders)
    return section


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, action="append", help="users (repeatable)")
    parser.add_argument("--tables", type=int, help="small tables (0: no such data set)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_USERS[0]:,} users and {QUICK_TABLES} tables",
    )
    parser.add_argument(
        "--pg",
        default=os.environ.get("DATACLONER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL without a database ($DATACLONER_BENCH_PG)",
    )
    parser.add_argument(
        "--mysql",
        default=os.environ.get("DATACLONER_BENCH_MYSQL", "mysql://root@127.0.0.1:3306"),
        help="MariaDB/MySQL server URL without a database ($DATACLONER_BENCH_MYSQL)",
    )
    parser.add_argument("--no-mysql", action="store_true", help="no MariaDB rows")
    parser.add_argument(
        "--only",
        choices=("mysql",),
        help="only this section (mysql: the MariaDB rows, at the largest --users)",
    )
    parser.add_argument("--no-subset", action="store_true", help="no subset row")
    parser.add_argument("--prefix", default="dc_bench", help="database name prefix")
    parser.add_argument("--jobs", type=int, default=2, help="parallelism of every contender")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the fastest is kept")
    parser.add_argument("--results", type=Path, help="Markdown file (default bench/results/)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the source databases")
    parser.add_argument(
        "--drop-sources", action="store_true", help="drop the source databases at the end"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="also run a one-job refresh of the smallest N under py-spy (raw stacks to FILE)",
    )
    args = parser.parse_args(argv)
    if args.jobs < 2:
        parser.error("--jobs must be at least 2 (one job is always timed)")
    if args.only and args.no_mysql:
        parser.error("--only mysql and --no-mysql exclude each other")
    users = sorted(set(args.users or (QUICK_USERS if args.quick else DEFAULT_USERS)))
    tables = (
        args.tables if args.tables is not None else (QUICK_TABLES if args.quick else DEFAULT_TABLES)
    )
    server = Server.parse(args.pg)
    info = machine(server)
    log(f"machine: {info['CPUs (nproc)']} CPUs, {info['memory']}, {info['PostgreSQL']}")
    if not shutil.which("pgcopydb"):
        log(f"warning: {PGCOPYDB_HINT}; its rows are skipped")

    sections: list[Section] = []
    with tempfile.TemporaryDirectory(prefix="dc-bench-") as tmp:
        opts = Options(server, Path(tmp), args.prefix, args.jobs, max(1, args.repeat), args.rebuild)
        # the smallest data set first, so a broken contender shows early
        subset = {users[-1]: not args.no_subset}
        if not args.only:
            sections.append(bench_users(opts, users[0], subset.get(users[0], False)))
            if tables:
                sections.append(bench_tables(opts, tables))
            for n in users[1:]:
                sections.append(bench_users(opts, n, subset.get(n, False)))
        if not args.no_mysql:
            maria = mysql_row.MariaDB.parse(args.mysql)
            # the largest N (issue 17: 1M users); it needs the PostgreSQL source
            datasets.ensure_users(server, f"{args.prefix}_{users[-1]}", users[-1], args.rebuild)
            sections.append(bench_mysql(opts, maria, users[-1]))
        shown = sys.argv[1:] if argv is None else list(argv)
        command = " ".join(["python bench/run_bench.py", *shown])
        background = max(opts.background, default=0.0)
        text = render.render(sections, info, command, background, args.jobs, users, tables)
        if args.profile and not args.only:
            src = f"{args.prefix}_{users[0]}"
            config, env_name = datasets.users_config(
                Path(tmp) / "profile", server.url(src), server.url(f"{src}_profile"), None
            )
            log(f"profiling a one-job refresh of {src} with py-spy -> {args.profile}")
            prof = profile_refresh.record(
                datacloner(config, env_name, 1), server.env(), args.profile
            )
            server.drop_like(f"{src}_profile")
            title = f"one-job refresh, {users[0]:,} users"
            text += profile_refresh.render_profile(title, prof)
    if args.drop_sources:
        server.drop(*[f"{args.prefix}_{n}" for n in users])
        if tables and not args.only:
            server.drop(f"{args.prefix}_tables_{tables}")
        if not args.no_mysql and not mysql_row.MariaDB.parse(args.mysql).missing():
            mysql_row.MariaDB.parse(args.mysql).drop(f"{args.prefix}_{users[-1]}")
    print(text)
    path = args.results or results_path(info, args.quick)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    log(f"wrote {path}")
    failed = [k for s in sections for k, ok in s.checks.items() if not ok]
    failed += [r.label for s in sections for r in s.rows if not r.skip and r.best is None]
    if failed:
        log(f"failed: {', '.join(failed)}")
        return 1
    return 0


def results_path(info: dict[str, str], quick: bool) -> Path:
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    name = f"{day}-{info['datacloner commit']}" + ("-quick" if quick else "")
    return BENCH / "results" / f"{name}.md"


if __name__ == "__main__":
    raise SystemExit(main())
