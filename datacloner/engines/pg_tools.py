"""PostgreSQL client programs: pick the ``pg_dump``/``psql`` pair that matches
the server, and pipe a ``pg_dump`` section into ``psql``.

Schema is never hand-written: pg_dump's pre-data section is restored before
the rows and its post-data section (indexes, constraints, triggers) after.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from datacloner.errors import Refused, UsageError

_SEARCH = [
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/usr/pgsql-*/bin",  # RHEL, Fedora
    "/opt/homebrew/opt/postgresql@*/bin",
    "/usr/local/opt/postgresql@*/bin",
    "/Applications/Postgres.app/Contents/Versions/*/bin",
]


@dataclass(frozen=True)
class ClientTools:
    bindir: Path
    major: int

    @property
    def pg_dump(self) -> str:
        return str(self.bindir / "pg_dump")

    @property
    def psql(self) -> str:
        return str(self.bindir / "psql")


def _major(pg_dump: Path) -> int | None:
    try:
        out = subprocess.run(
            [str(pg_dump), "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(found.group(1)) if found else None


def _candidates() -> list[Path]:
    dirs: list[Path] = []
    if os.environ.get("DATACLONER_PG_BIN"):
        dirs.append(Path(os.environ["DATACLONER_PG_BIN"]))
    for pattern in _SEARCH:
        dirs.extend(Path(p) for p in sorted(glob.glob(pattern)))
    on_path = shutil.which("pg_dump")
    if on_path:
        dirs.append(Path(on_path).resolve().parent)
    return [d for d in dict.fromkeys(dirs) if (d / "pg_dump").exists() and (d / "psql").exists()]


def find_tools(server_major: int) -> ClientTools:
    """The same major version as the server, else the oldest newer one (pg_dump
    refuses servers newer than itself)."""
    found = [ClientTools(d, m) for d in _candidates() if (m := _major(d / "pg_dump"))]
    exact = [t for t in found if t.major == server_major]
    newer = sorted((t for t in found if t.major > server_major), key=lambda t: t.major)
    if exact or newer:
        return (exact or newer)[0]
    have = ", ".join(f"{t.major} ({t.bindir})" for t in found) or "none"
    raise UsageError(
        f"no pg_dump new enough for the PostgreSQL {server_major} server; found: {have}",
        hint=f"install the PostgreSQL {server_major} client programs (e.g. the "
        f"postgresql-client-{server_major} package) or set DATACLONER_PG_BIN to their folder",
    )


def libpq_env(params: dict[str, str]) -> dict[str, str]:
    """Connection parameters as libpq environment variables, so no password
    ever appears on a command line."""
    names = {
        "host": "PGHOST",
        "port": "PGPORT",
        "user": "PGUSER",
        "password": "PGPASSWORD",
        "dbname": "PGDATABASE",
        "sslmode": "PGSSLMODE",
        "sslrootcert": "PGSSLROOTCERT",
        "sslcert": "PGSSLCERT",
        "sslkey": "PGSSLKEY",
        "options": "PGOPTIONS",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({names[k]: str(v) for k, v in params.items() if k in names and v is not None})
    env["PGAPPNAME"] = "datacloner"
    return env


def dump_section(
    tools: ClientTools,
    section: str,
    source: dict[str, str],
    snapshot: str,
    exclude_schemas: tuple[str, ...] = (),
) -> bytes:
    """``pg_dump --section=S`` of the exported snapshot, as SQL text (schema
    only, so it fits in memory)."""
    cmd = [
        tools.pg_dump,
        f"--section={section}",
        f"--snapshot={snapshot}",
        "--no-owner",
        "--no-privileges",
        "--no-subscriptions",
        "--no-publications",
    ]
    cmd += [f"--exclude-schema={s}" for s in exclude_schemas]
    done = subprocess.run(cmd, env=libpq_env(source), capture_output=True)
    if done.returncode != 0:
        error = done.stderr.decode(errors="replace").strip()
        raise Refused(f"pg_dump --section={section} failed: {error}")
    return done.stdout


@contextlib.contextmanager
def psql_copy_out(
    tools: ClientTools, params: dict[str, str], snapshot: str, query: str, block: int
) -> Iterator[Iterator[bytes]]:
    """``COPY ... TO STDOUT`` run by a ``psql`` child inside the exported
    snapshot, its output handed over in blocks of ``block`` bytes.

    psycopg hands COPY data over one row per call; here libpq's per-row work
    happens in psql, on another core, and the Python process only reads big
    blocks. A psql that fails (even after some data) raises Refused once its
    output is read, so a short read never passes for a whole table."""
    cmd = [
        tools.psql,
        "-X",
        "-q",  # stdout carries only the COPY data
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        "-c",
        f"SET TRANSACTION SNAPSHOT '{snapshot}'",
        "-c",
        query,
    ]
    with tempfile.TemporaryFile() as errors:  # a file: a full stderr pipe could stall psql
        proc = subprocess.Popen(cmd, env=libpq_env(params), stdout=subprocess.PIPE, stderr=errors)
        assert proc.stdout is not None
        stdout = proc.stdout

        def blocks() -> Iterator[bytes]:
            while chunk := stdout.read(block):
                yield chunk

        try:
            yield blocks()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            stdout.close()
        if proc.wait() != 0:
            errors.seek(0)
            message = "\n".join(
                line
                for line in errors.read().decode(errors="replace").strip().splitlines()
                if "DETAIL:" not in line  # may quote a row
            )
            raise Refused(f"reading the source with psql failed: {message}")


def restore_sql(tools: ClientTools, what: str, script: bytes, target: dict[str, str]) -> None:
    """SQL (pg_dump output) into ``target`` with psql, in one transaction;
    any error stops it and is reported."""
    cmd = [tools.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"]
    done = subprocess.run(cmd, env=libpq_env(target), input=script, capture_output=True)
    if done.returncode != 0:
        # DETAIL lines may quote values (e.g. a duplicated key): keep the rest
        message = "\n".join(
            line
            for line in done.stderr.decode(errors="replace").strip().splitlines()
            if "DETAIL:" not in line
        )
        raise Refused(
            f"restoring the {what} section into the new database failed: {message}",
            hint="the target server may lack an extension or role the source uses",
        )


def run_sql_file(tools: ClientTools, script: Path, target: dict[str, str]) -> None:
    """An ``after:`` hook: ``psql -f`` in one transaction, stopping at the first error."""
    if not script.is_file():
        raise UsageError(
            f"the after: hook {script} does not exist",
            hint="paths in `after:` are relative to datacloner.yml",
        )
    done = subprocess.run(
        [
            tools.psql,
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "--single-transaction",
            "-f",
            str(script),
        ],
        env=libpq_env(target),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        message = "\n".join(line for line in done.stderr.splitlines() if "DETAIL:" not in line)
        raise Refused(
            f"the after: hook {script} failed in the new copy: {message.strip()}",
            hint="the target was not changed; fix the script and refresh again",
        )
