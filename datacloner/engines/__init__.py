"""Database engines: the only code that talks to a database.

One module per database over shared protocols (``base``); ``engine_for``
picks one from the source URL.
"""

from __future__ import annotations

from datacloner import urls
from datacloner.engines.base import Engine
from datacloner.errors import UsageError


def engine_for(source_url: str, target_url: str | None = None) -> Engine:
    source_kind = urls.kind(source_url)
    if target_url is not None and urls.kind(target_url) != source_kind:
        raise UsageError(
            f"the source is {source_kind} but the target is {urls.kind(target_url)}: "
            "datacloner copies between databases of the same kind"
        )
    if source_kind == "postgresql":
        from datacloner.engines.postgres.engine import PostgresEngine

        return PostgresEngine()
    if source_kind == "sqlite":
        from datacloner.engines.sqlite.engine import SqliteEngine

        return SqliteEngine()
    raise UsageError(f"{source_kind} is not supported yet", hint="use PostgreSQL or SQLite")
