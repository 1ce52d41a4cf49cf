"""Database URLs (SQLAlchemy syntax): parsing, where SQLite files live, and a
printable form that never shows a password. Which engine serves a URL is
the registry's (``datacloner.engines.registry``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from datacloner.core.errors import UsageError
from datacloner.engines import registry as engines

if TYPE_CHECKING:
    from sqlalchemy.engine import URL


def parse(url: str, what: str = "URL") -> URL:
    # imported here: a --jobs worker reaches this module (conninfo) and must
    # not pay for SQLAlchemy, which it never uses
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise UsageError(f"{what} is not a valid database URL: {redact(url)}") from exc
    problem = engines.scheme_problem(parsed.drivername.split("+")[0])
    if problem:
        raise UsageError(f"{what}: {problem}")
    return parsed


# `password=`, `sslpassword=`... in a query string
_QUERY_SECRET = re.compile(r"(?i)([?&;][^=&;]*pass[^=&;]*=)[^&;]*")


def redact(url: str) -> str:
    """The URL as it may be printed: no user name, no password, in any form.

    Everything before the *last* ``@`` goes, not the part a parser calls the
    user info: a password with an unencoded ``@``, ``:``, ``/`` or ``?``
    (``postgresql://u:p@ss@host/db``) must not leak through a misparse."""
    found = re.match(r"([A-Za-z][A-Za-z0-9+.-]*://)(.*)", url, re.DOTALL)
    if found is None:
        return "<unparseable URL>"
    scheme, rest = found.groups()
    rest = _QUERY_SECRET.sub(r"\1***", rest)
    if "@" in rest and not scheme.lower().startswith("sqlite"):
        rest = "***@" + rest.rsplit("@", 1)[1]
    return scheme + rest


def sqlite_path(url: str) -> Path:
    database = parse(url).database
    if not database or database == ":memory:":
        raise UsageError(f"a SQLite URL needs a file path: {url}")
    return Path(database)
