"""Guards that refuse a dangerous target before anything is created on it."""

from __future__ import annotations

from collections.abc import Iterable

from datacloner.core.errors import Refused, UsageError
from datacloner.engines import registry as engines


def refuse_protected(target_url: str, protected: tuple[str, ...]) -> None:
    """A target that is a ``protected`` server, under any spelling, is refused
    before anything is created on it: see datacloner/core/protected.py."""
    from datacloner.core import protected as hosts  # psycopg and DNS only when needed

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


def database_of(url: str) -> str:
    """The database ``url`` names, as its engine's connection would see it."""
    return engines.engine_of(url).database_of(url)


def working_copy(target_url: str, url: str) -> bool:
    """``url`` names one of the databases (files) a refresh or rollback of
    ``target_url`` may create, rename or drop: its engine knows their names."""
    if not engines.same_engine(target_url, url):
        return False
    engine = engines.engine_of(target_url)
    return engine.working_name(engine.database_of(target_url), engine.database_of(url))
