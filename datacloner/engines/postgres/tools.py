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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from datacloner.core import redaction
from datacloner.core.errors import Refused, UsageError
from datacloner.engines.postgres import conninfo

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

    @property
    def pg_restore(self) -> str:
        return str(self.bindir / "pg_restore")


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


def client_args(params: dict[str, str]) -> list[str]:
    """The parameter set as one conninfo argument: host, port, user, database
    and options exactly as datacloner's own connections use them (the
    password travels in the environment, see conninfo.child_env)."""
    return [f"--dbname={conninfo.child_conninfo(params)}"]


def _psql(tools: ClientTools, params: dict[str, str]) -> list[str]:
    """psql on the pinned server; its first statement checks that it is the
    server (and database) datacloner's own connection reached."""
    cmd = [tools.psql, *client_args(params), "-X", "-q", "-v", "ON_ERROR_STOP=1"]
    cmd += ["-v", "VERBOSITY=verbose"]  # the error's name fields, for redaction.from_psql
    check = conninfo.identity_check_sql(params)
    return cmd + (["-c", check] if check else [])


def _psql_error(stderr: bytes | str) -> redaction.DbError:
    """psql's first error, by its structure (SQLSTATE and name fields): the
    text of DETAIL and CONTEXT, which quote rows, is never used."""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
    found = redaction.from_psql(text)
    if found is not None:
        return found
    # no server error: psql itself failed (connection, a signal); no row in that
    last = [ln for ln in text.strip().splitlines() if ln.startswith(("psql:", "FATAL"))]
    return redaction.DbError(primary=last[-1][:200] if last else "psql failed")


def _errors(stderr: bytes | str) -> str:
    return redaction.describe(_psql_error(stderr))


def check_server(tools: ClientTools, params: dict[str, str]) -> None:
    """Before pg_dump: its conninfo reaches the pinned server and database
    (pg_dump runs no statement of ours, so psql checks the same conninfo)."""
    if not conninfo.identity_check_sql(params):
        return
    done = subprocess.run(_psql(tools, params), env=conninfo.child_env(params), capture_output=True)
    if done.returncode != 0:
        raise Refused(f"the client programs reach another server: {_errors(done.stderr)}")


def dump_schema(
    tools: ClientTools,
    source: dict[str, str],
    snapshot: str,
    exclude_schemas: tuple[str, ...] = (),
) -> bytes:
    """``pg_dump --format=custom --schema-only`` of the exported snapshot: the
    source's catalog read once for both schema sections (:func:`section_sql`),
    not once per section by a ``pg_dump --section`` each (about 1 s at a
    thousand tables). Schema only, so it fits in memory."""
    check_server(tools, source)
    cmd = [
        tools.pg_dump,
        *client_args(source),
        "--format=custom",
        "--schema-only",
        f"--snapshot={snapshot}",
        "--no-owner",
        "--no-privileges",
        "--no-subscriptions",
        "--no-publications",
    ]
    cmd += [f"--exclude-schema={s}" for s in exclude_schemas]
    done = subprocess.run(cmd, env=conninfo.child_env(source), capture_output=True)
    if done.returncode != 0:
        error = done.stderr.decode(errors="replace").strip()
        raise Refused(f"pg_dump --schema-only failed: {error}")
    return done.stdout


def section_sql(tools: ClientTools, archive: bytes, section: str) -> bytes:
    """One section of a :func:`dump_schema` archive as SQL text, as ``pg_dump
    --section`` writes it (no owners, no privileges); no connection."""
    cmd = [tools.pg_restore, f"--section={section}", "--no-owner", "--no-privileges", "--file=-"]
    done = subprocess.run(cmd, input=archive, capture_output=True)
    if done.returncode != 0:
        error = done.stderr.decode(errors="replace").strip()
        raise Refused(f"pg_restore --section={section} failed: {error}")
    return done.stdout


@contextlib.contextmanager
def psql_copy_out(
    tools: ClientTools,
    params: dict[str, str],
    snapshot: str,
    query: str,
    block: int,
    failed: Callable[[redaction.DbError], Exception] | None = None,
) -> Iterator[Iterator[bytes]]:
    """``COPY ... TO STDOUT`` run by a ``psql`` child inside the exported
    snapshot, its output handed over in blocks of ``block`` bytes.

    psycopg hands COPY data over one row per call; here libpq's per-row work
    happens in psql, on another core, and the Python process only reads big
    blocks. A psql that fails (even after some data) raises Refused once its
    output is read, so a short read never passes for a whole table."""
    cmd = [
        *_psql(tools, params),  # -q: stdout carries only the COPY data
        "-c",
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        "-c",
        f"SET TRANSACTION SNAPSHOT '{snapshot}'",
        "-c",
        query,
    ]
    with tempfile.TemporaryFile() as errors:  # a file: a full stderr pipe could stall psql
        proc = subprocess.Popen(
            cmd, env=conninfo.child_env(params), stdout=subprocess.PIPE, stderr=errors
        )
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
            error = _psql_error(errors.read())
            if failed is not None:  # the caller names the table
                raise failed(error)
            raise Refused(f"reading the source with psql failed: {redaction.describe(error)}")


def restore_sql(
    tools: ClientTools,
    what: str,
    script: bytes,
    target: dict[str, str],
    columns_of: Callable[[str, str], list[str]] | None = None,
) -> None:
    """SQL (pg_dump output) into ``target`` with psql, in one transaction;
    any error stops it and is reported. ``columns_of(schema, constraint)``
    names the columns of a constraint that fails (a masked value repeated in a
    unique column: the server names only the index)."""
    cmd = [*_psql(tools, target), "--single-transaction", "-f", "-"]
    done = subprocess.run(cmd, env=conninfo.child_env(target), input=script, capture_output=True)
    if done.returncode != 0:
        error = _psql_error(done.stderr)
        hint = "the target server may lack an extension or role the source uses"
        if error.sqlstate.startswith("23"):
            hint = (
                "the target was not changed; masked values break that constraint: give the "
                "column's rule `unique: true`, or a rule whose values do not repeat"
            )
        raise Refused(
            f"restoring the {what} section into the new database failed: "
            f"{redaction.describe(error, columns_of=columns_of)}",
            hint=hint,
        )


def run_sql_file(tools: ClientTools, script: Path, target: dict[str, str]) -> None:
    """An ``after:`` hook: ``psql -f`` in one transaction, stopping at the first error."""
    if not script.is_file():
        raise UsageError(
            f"the after: hook {script} does not exist",
            hint="paths in `after:` are relative to datacloner.yml",
        )
    done = subprocess.run(
        [*_psql(tools, target), "--single-transaction", "-f", str(script)],
        env=conninfo.child_env(target),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise Refused(
            f"the after: hook {script} failed in the new copy: {_errors(done.stderr)}",
            hint="the target was not changed; fix the script and refresh again",
        )
