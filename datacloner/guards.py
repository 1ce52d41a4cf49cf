"""Guards that refuse a dangerous target before anything is created on it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from datacloner import engines, urls
from datacloner.errors import Refused, UsageError


def refuse_protected(target_url: str, protected: tuple[str, ...]) -> None:
    """A target that is a ``protected`` server, under any spelling, is refused
    before anything is created on it: see datacloner/protected.py."""
    from datacloner import protected as hosts  # psycopg and DNS only when needed

    hosts.refuse_protected(target_url, protected)


def refuse_source(source: dict[str, str], target: dict[str, str]) -> None:
    """A target that is the source database, whatever the URL's spelling, is
    refused: servers are compared by identity, not by host name."""
    same_server = bool(source.get("cluster")) and source.get("cluster") == target.get("cluster")
    if same_server and source.get("database") == target.get("database"):
        raise Refused(
            f"the target is the source database {source.get('database')!r}: refusing to "
            "overwrite production",
            hint="check the environment's URL in datacloner.yml",
        )


# --- system databases and the names datacloner manages ---------------------------


def _spelling(name: str) -> str:
    """A database name as a server may read it: quotes, spaces and case aside
    (``"TEMPLATE1"`` and `` template1`` both reach template1 somewhere)."""
    name = name.strip()
    while len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'`":
        name = name[1:-1].strip()
    return name.casefold()


def refuse_system_database(database: str, system: Iterable[str], engine: str) -> None:
    """A target that names one of the engine's own databases is refused before
    anything is created, dropped or renamed: each engine passes its list."""
    spelled = _spelling(database)
    if spelled in {_spelling(s) for s in system}:
        raise UsageError(
            f"the target database {database!r} is a {engine} system database: datacloner "
            "never creates, drops or renames it",
            hint="point the environment's url at a database of its own, e.g. .../app_staging",
        )


# What a refresh or rollback of a target may create, rename or drop, derived
# from the target's name. engines/postgres/swap.py and engines/sqlite/files.py
# build their names from these suffixes; config.py refuses a source or
# environment that is one of them.
PG_NEW, PG_PREV, PG_TMP, PG_OLD = "__dc_new", "__dc_prev", "__dc_tmp", "__dc_old"
FILE_NEW, FILE_PREV, FILE_TMP, FILE_HOLD = ".dc_new", ".prev", ".dc_tmp", ".dc_hold"
_WORKING = {
    "postgresql": rf"(?:{PG_NEW}|{PG_TMP}|{PG_OLD}|{PG_PREV}\d*)",
    "sqlite": rf"(?:\{FILE_NEW}(?:-journal|-wal|-shm)?|\{FILE_TMP}|\{FILE_HOLD}|\{FILE_PREV}\d*"
    r"|\.lock)",
}


def database_of(url: str) -> tuple[str, str]:
    """(kind, database) as a connection would see it: ``?dbname=`` wins over
    the path; a SQLite file as an absolute path."""
    parsed = urls.parse(url)
    kind = engines.kind(url)
    if kind == "sqlite":
        return kind, str(Path(parsed.database or "").expanduser().resolve())
    name = parsed.query.get("dbname", parsed.database or "")
    return kind, name if isinstance(name, str) else name[-1]


def working_name(kind: str, target: str, name: str) -> bool:
    """``name`` is one of the databases (files) a run on ``target`` may create,
    rename or drop."""
    pattern = _WORKING.get(kind)
    return bool(pattern and target and re.fullmatch(re.escape(target) + pattern, name))
