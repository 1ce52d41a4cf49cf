"""Database engines: the only code that talks to a database.

One package per database (``postgres/``, ``sqlite/``) over the contract in
``base``. This module is the registry: the only place that looks at a URL's
scheme. The runtime asks an engine what it can do (its capability flags,
e.g. ``parallel_copy``, ``archives``), never which kind it is.

Engines are plugins named by module path and imported on first use: a run on
SQLite never imports psycopg, and the registry imports no engine, so engines
may use the runtime's shared modules without an import cycle.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, cast

from datacloner.core.errors import UsageError

if TYPE_CHECKING:
    from datacloner.engines.base import Engine, VerifyEngine


@dataclass(frozen=True)
class Plugin:
    name: str  # as reports and manifests name it
    label: str  # as messages name it
    module: str  # where ``cls`` lives, imported on first use
    cls: str
    verify: str  # the module of verify's reads (a base.VerifyEngine)
    archive: str | None = None  # the module of dump/restore, if the engine has them


PLUGINS: dict[str, Plugin] = {
    "postgresql": Plugin(
        "postgresql",
        "PostgreSQL",
        "datacloner.engines.postgres.engine",
        "PostgresEngine",
        verify="datacloner.engines.postgres.verify",
        archive="datacloner.engines.postgres.archive",
    ),
    "mysql": Plugin(
        "mysql",
        "MySQL/MariaDB",
        "datacloner.engines.mysql.engine",
        "MysqlEngine",
        verify="datacloner.engines.mysql.verify",
    ),
    "sqlite": Plugin(
        "sqlite",
        "SQLite",
        "datacloner.engines.sqlite.engine",
        "SqliteEngine",
        verify="datacloner.engines.sqlite.verify",
    ),
}
# URL scheme (before any ``+driver``) -> engine name
SCHEMES = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "sqlite": "sqlite",
    "mysql": "mysql",
    "mariadb": "mysql",
}
# schemes users will write whose engine has not landed: refused at config load
NOT_YET: dict[str, str] = {}

# spellings users write that SQLAlchemy does not know (Heroku's `postgres://`)
_ALIASES = {"postgres": "postgresql"}
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9]*)(?:\+[A-Za-z0-9_]+)?:")


def scheme_problem(scheme: str) -> str | None:
    """Why a URL scheme cannot be used (None when an engine takes it)."""
    scheme = scheme.lower()
    if scheme in SCHEMES:
        return None
    names = sorted({s for s in SCHEMES if s not in ("postgres", "mariadb")})
    supported = ", ".join(names[:-1]) + " or " + names[-1]
    if scheme in NOT_YET:
        return f"{NOT_YET[scheme]} is not supported yet; use {supported}"
    return f"unsupported database `{scheme}`; use {supported}"


def canonical(url: str) -> str:
    """The URL with its scheme spelled as SQLAlchemy and libpq know it."""
    found = _SCHEME.match(url)
    scheme = found.group(1) if found else ""
    if scheme.lower() in _ALIASES:
        return _ALIASES[scheme.lower()] + url[len(scheme) :]
    return url


def kind(url: str) -> str:
    """The name of the engine that serves ``url`` (UsageError if none does)."""
    found = _SCHEME.match(url)
    scheme = found.group(1).lower() if found else ""
    if scheme not in SCHEMES:
        problem = scheme_problem(scheme) if scheme else "not a database URL"
        raise UsageError(f"the URL cannot be used: {problem}")
    return SCHEMES[scheme]


def label(url: str) -> str:
    """``PostgreSQL``, ``SQLite``: the URL's database as messages name it."""
    return PLUGINS[kind(url)].label


def engine_of(url: str) -> Engine:
    """The engine that serves ``url``."""
    plugin = PLUGINS[kind(url)]
    engine: Engine = getattr(importlib.import_module(plugin.module), plugin.cls)()
    return engine


def same_engine(url: str, other: str) -> bool:
    """One engine serves both URLs (their databases can be compared by name)."""
    return kind(url) == kind(other)


def engine_for(source_url: str, target_url: str | None = None) -> Engine:
    """The engine for a copy from ``source_url`` (to ``target_url``)."""
    if target_url is not None and not same_engine(source_url, target_url):
        raise UsageError(
            f"the source is {kind(source_url)} but the target is {kind(target_url)}: "
            "datacloner copies between databases of the same kind"
        )
    return engine_of(source_url)


def url_problem(url: str) -> str | None:
    """What the URL's engine finds wrong with it before connecting (libpq's
    keywords for PostgreSQL), or None."""
    return engine_of(url).url_problem(url)


def verify_reads(url: str) -> VerifyEngine:
    """What `verify` reads through, for the URL's engine."""
    return cast("VerifyEngine", importlib.import_module(PLUGINS[kind(url)].verify))


def archive_support(url: str, verb: str) -> ModuleType:
    """The URL's engine's dump/restore module; UsageError if it has none."""
    plugin = PLUGINS[kind(url)]
    if plugin.archive is None:
        with_archives = ", ".join(p.label for p in PLUGINS.values() if p.archive)
        raise UsageError(
            f"`{verb}` works with {with_archives}; this URL is {plugin.label}",
            hint="archives hold PostgreSQL COPY data and pg_dump sections",
        )
    return importlib.import_module(plugin.archive)
