"""Database URLs (SQLAlchemy syntax): which engine, where SQLite files live,
and a printable form that never shows a password."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from datacloner.errors import UsageError

KINDS = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "sqlite": "sqlite",
    "mysql": "mysql",
    "mariadb": "mysql",
}


def parse(url: str, what: str = "URL") -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UsageError(f"{what} is not a valid database URL: {redact(url)}") from exc
    if parsed.drivername.split("+")[0] not in KINDS:
        raise UsageError(
            f"{what} uses an unsupported database {parsed.drivername!r}",
            hint="use postgresql://, sqlite:/// or mysql:// URLs",
        )
    return parsed


def kind(url: str) -> str:
    """``postgresql``, ``sqlite`` or ``mysql``."""
    return KINDS[parse(url).drivername.split("+")[0]]


def redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def sqlite_path(url: str) -> Path:
    database = parse(url).database
    if not database or database == ":memory:":
        raise UsageError(f"a SQLite URL needs a file path: {url}")
    return Path(database)
