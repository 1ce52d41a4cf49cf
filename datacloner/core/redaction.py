"""What may appear in output: never a row value, never a secret.

Two mechanisms, one per leak:

- :func:`database_error` is the one function that turns a database error into
  text. It is built from the error's structure (SQLSTATE and the server's
  name fields: schema, table, column, data type, constraint) and shows the
  server's primary message only as far as it can be shown: DETAIL, CONTEXT and
  HINT (which quote rows) are never read for text, quoted values are dropped
  unless they are one of the error's own names, and text raised by user code
  (PL/pgSQL ``RAISE``) is not shown at all.
- :func:`scrub` is the last line of defence where errors, warnings and
  reports are written: it replaces every string registered as secret (the
  masking secret, each ``${VAR}`` value of the config, the user and password
  part of each database URL) with ``***``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

MASK = "***"
MIN_LENGTH = 4  # shorter strings ("dev", "on") would blank ordinary words

_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


# --- secrets ----------------------------------------------------------------


def register(value: str | None) -> None:
    """A string that must never be printed (ignored if shorter than 4)."""
    global _pattern
    if value and len(value) >= MIN_LENGTH and value not in _secrets:
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)  # longest first
        _pattern = re.compile("|".join(_piece(s) for s in ordered))


def _piece(value: str) -> str:
    # a value that is one word (a user name such as `postgres`) is replaced as
    # a whole word: `postgresql://` stays readable; any other value wherever it is
    if re.fullmatch(r"\w+", value):
        return rf"(?<!\w){re.escape(value)}(?!\w)"
    return re.escape(value)


def register_url(url: str) -> None:
    """The userinfo of a URL (``user:password``) and its password. Read from the
    raw text, not a URL parser: a password with an unencoded ``@`` or ``:``
    is exactly what parsers split in the wrong place."""
    _, sep, rest = url.partition("://")
    if not sep:
        return
    head = re.split(r"[?#]", rest, maxsplit=1)[0]
    userinfo, at, _ = head.rpartition("@")
    if not at:
        return
    user, colon, password = userinfo.partition(":")
    if colon:
        register(userinfo)
        register(password)
        for piece in re.split(r"[@:]", password):  # what a wrong split would print
            register(piece)
    for key, value in re.findall(r"[?&](password|passfile|sslpassword)=([^&#]*)", rest):
        del key
        register(value)


def scrub(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    if _pattern is None or not text:
        return text
    return _pattern.sub(MASK, text)


def scrub_data(data: Any) -> Any:
    """The same, through the strings of a JSON-like structure (keys too)."""
    if isinstance(data, str):
        return scrub(data)
    if isinstance(data, dict):
        return {scrub_data(k): scrub_data(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [scrub_data(v) for v in data]
    return data


# --- database errors ----------------------------------------------------------

# SQLSTATE classes whose primary messages name objects and syntax (from the
# schema, the rules or the server), never data: shown as they are. The other
# classes (22 data exception, 23 integrity, ...) quote values.
_NAMING_CLASSES = frozenset(
    {"08", "0A", "25", "28", "2B", "3D", "3F", "40", "42", "53", "54", "55", "57", "58"}
)
# Text written by user code (RAISE), or an unknown class: never shown.
_HIDDEN_CLASSES = frozenset({"P0", "38", "39"})
_NAME_FIELDS = ("schema", "table", "column", "datatype", "constraint")
_PRIMARY_MAX = 160


@dataclass(frozen=True)
class DbError:
    """A database error's structure; none of it quotes a row."""

    sqlstate: str = ""
    primary: str = ""  # the server's primary message, its first line only
    schema: str = ""
    table: str = ""
    column: str = ""
    datatype: str = ""
    constraint: str = ""
    line: int | None = None  # COPY FROM's line number, from CONTEXT (digits only)

    def condition(self) -> str:
        """``unique_violation`` for 23505, from psycopg's table of SQLSTATEs."""
        try:
            from psycopg import errors

            name = errors.lookup(self.sqlstate).__name__
        except (ImportError, KeyError):
            return ""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def from_psycopg(exc: Any, columns: Iterable[str] = ()) -> DbError:
    diag = exc.diag
    context = diag.context or ""
    line = re.match(r"COPY [^\n]*?, line (\d+)", context)
    column = diag.column_name or _context_column(context, columns)
    return DbError(
        sqlstate=diag.sqlstate or getattr(exc, "sqlstate", None) or "",
        primary=(diag.message_primary or "").split("\n", 1)[0],
        schema=diag.schema_name or "",
        table=diag.table_name or "",
        column=column,
        datatype=diag.datatype_name or "",
        constraint=diag.constraint_name or "",
        line=int(line.group(1)) if line else None,
    )


def _context_column(context: str, columns: Iterable[str]) -> str:
    """The column of ``COPY t, line 3, column email: "..."``, only if it is one of
    the table's known columns (never a guess read from the text)."""
    where = re.match(r"COPY [^\n]*?, line \d+, column ", context)
    if not where:
        return ""
    rest = context[where.end() :]
    known = [c for c in columns if rest.startswith(c + ":") or rest == c]
    return max(known, key=len) if known else ""


_PSQL_ERROR = re.compile(r"(?:^|: )(?:ERROR|FATAL|PANIC):  ([0-9A-Z]{5}): ([^\n]*)", re.M)
_PSQL_LOCATION = re.compile(r"LOCATION:  \w+, [\w.]+:\d+")  # the server's source line
_PSQL_FIELDS = {
    "SCHEMA NAME": "schema",
    "TABLE NAME": "table",
    "COLUMN NAME": "column",
    "DATATYPE NAME": "datatype",
    "CONSTRAINT NAME": "constraint",
}


def from_psql(stderr: str) -> DbError | None:
    """The first error of a ``psql -v VERBOSITY=verbose`` run. Its name fields
    are the block of lines just above the last ``LOCATION:`` (the last lines
    psql prints): a multi-line value in DETAIL or CONTEXT, which come before
    it, is never taken for a field, even one that imitates them."""
    found = _PSQL_ERROR.search(stderr)
    if found is None:
        return None
    lines = stderr[found.end() :].split("\n")
    # the last LOCATION: psql stops at the first error, so nothing follows it
    ends = [i for i, ln in enumerate(lines) if _PSQL_LOCATION.fullmatch(ln)]
    end = ends[-1] if ends else None
    fields: dict[str, str] = {}
    if end is not None:
        for line in reversed(lines[:end]):
            key, sep, value = line.partition(":  ")
            if not sep or _PSQL_FIELDS.get(key) is None or _PSQL_FIELDS[key] in fields:
                break
            if len(value.encode()) <= 63 and '"' not in value:  # a name, not a value
                fields[_PSQL_FIELDS[key]] = value
    return DbError(sqlstate=found.group(1), primary=found.group(2), **fields)


def from_sqlite(exc: Any, columns: Iterable[str] = ()) -> DbError:
    """SQLite has no SQLSTATE; its error name stands in (SQLITE_CONSTRAINT_UNIQUE).
    ``UNIQUE constraint failed: users.email`` names its columns: kept when they
    are the table's known columns."""
    orig = getattr(exc, "orig", None) or exc
    name = getattr(orig, "sqlite_errorname", "") or type(orig).__name__
    primary = str(orig).split("\n", 1)[0]
    head, sep, tail = primary.partition(": ")
    known = set(columns)
    parts = [p.rsplit(".", 1)[-1] for p in tail.split(", ")]
    if sep and head.endswith("constraint failed") and known and set(parts) <= known:
        return DbError(sqlstate=name, primary=head, column=", ".join(parts))
    if sep and head == "CHECK constraint failed":  # its name, or its text from the schema
        return DbError(sqlstate=name, primary=head, constraint=_clip(tail))
    return DbError(sqlstate=name, primary=primary)


def _shown_primary(error: DbError, allowed: Iterable[str]) -> str:
    """The primary message as far as it names things, not values."""
    cls = error.sqlstate[:2]
    if cls in _HIDDEN_CLASSES or (len(error.sqlstate) == 5 and not error.condition()):
        return "an error raised by a function or trigger (its text is not shown)"
    text = error.primary
    if cls in _NAMING_CLASSES or error.sqlstate == "SQLITE_ERROR":  # syntax, unknown names
        return _clip(text)
    names = {getattr(error, f) for f in _NAME_FIELDS} | set(allowed)
    names.discard("")
    keep: list[str] = []

    def protect(match: re.Match[str]) -> str:
        if match.group(1) in names:
            keep.append(match.group(0))
            return f"\0{len(keep) - 1}\0"
        return match.group(0)

    text = re.sub(r'"([^"\n]*)"', protect, text)
    # what is left between quotes is a value; an unclosed quote runs to the end
    text = re.sub(r'"[^\0]*"', '"…"', text)
    text = re.sub(r'"[^\0]*$', '"…', text)
    # the server puts the offending input after a colon: `...: "abc"`, `...: 0xe9`
    text = text.split(": ", 1)[0]
    text = re.sub(r"\0(\d+)\0", lambda m: keep[int(m.group(1))], text)
    return _clip(text)


def _clip(text: str) -> str:
    text = "".join(ch if ch.isprintable() else " " for ch in text.split("\n", 1)[0])
    return text if len(text) <= _PRIMARY_MAX else text[: _PRIMARY_MAX - 1] + "…"


def describe(
    error: DbError,
    allowed: Iterable[str] = (),
    columns_of: Callable[[str, str], list[str]] | None = None,
) -> str:
    """``duplicate key value violates unique constraint "users_email_key" (table
    public.users, column email, constraint users_email_key; SQLSTATE 23505)``.
    ``allowed``: names the caller knows are not values (the table's columns);
    ``columns_of(schema, constraint)``: the columns of a constraint or index,
    looked up in a catalog when the server names none."""
    primary = _shown_primary(error, allowed) or error.condition() or "database error"
    where: list[str] = []
    if error.table:
        where.append(f"table {error.schema}.{error.table}" if error.schema else error.table)
    column = error.column
    if not column and error.constraint and columns_of is not None:
        column = ", ".join(columns_of(error.schema, error.constraint))
    if column:
        where.append(f"column {column}")
    if error.constraint:
        where.append(f"constraint {error.constraint}")
    if error.datatype:
        where.append(f"type {error.datatype}")
    code = error.sqlstate
    if re.fullmatch(r"[0-9A-Z]{5}", code):
        code = f"SQLSTATE {code}"
    inside = "; ".join(p for p in (", ".join(where), code) if p)
    return f"{primary} ({inside})" if inside else primary


def database_error(exc: BaseException, allowed: Iterable[str] = ()) -> str:
    """Any database error (psycopg, sqlite3, SQLAlchemy's wrapper), as text
    that holds no value."""
    allowed = tuple(allowed)
    orig = getattr(exc, "orig", None) or exc
    if hasattr(orig, "diag"):
        return describe(from_psycopg(orig, allowed), allowed)
    if type(orig).__module__ == "sqlite3" or hasattr(orig, "sqlite_errorname"):
        return describe(from_sqlite(orig, allowed), allowed)
    if type(orig).__module__.startswith("pymysql"):
        return from_mysql(orig, allowed)
    return type(orig).__name__


# MySQL error codes whose message names schema objects only (syntax, unknown
# names, privileges); every other message may quote a value
_MYSQL_NAMING = frozenset(
    {1044, 1045, 1046, 1049, 1050, 1051, 1054, 1064, 1109, 1142, 1143, 1146, 1227, 1305, 1356}
)


_MYSQL_SIGNAL = 1644  # ER_SIGNAL_EXCEPTION: a user's SIGNAL, its MESSAGE_TEXT as written


def from_mysql(exc: BaseException, allowed: Iterable[str] = ()) -> str:
    """``duplicate entry for key email (MySQL error 1062)``: a MySQL or
    MariaDB error (its args: code, message) without the values it quotes
    (``Duplicate entry 'VALUE' for key``), keeping quoted names in ``allowed``."""
    args = getattr(exc, "args", ())
    code = args[0] if args and isinstance(args[0], int) else None
    if code is None:
        return type(exc).__name__
    message = (str(args[1]) if len(args) > 1 else "").split("\n", 1)[0]
    if code == 1062:  # Duplicate entry 'VALUE' for key 'NAME': the key only
        key = re.search(r"for key '([^']*)'\s*$", message)
        shown = f"duplicate entry for key {key.group(1)}" if key else "duplicate entry"
    elif code == _MYSQL_SIGNAL:
        # the text a routine or trigger wrote (SIGNAL): anything, unquoted values too
        shown = "a routine or trigger raised an error (SIGNAL)"
    elif code in _MYSQL_NAMING:
        shown = _clip(message)
    else:
        names = set(allowed)

        def hide(found: re.Match[str]) -> str:
            return found.group(0) if found.group(1) in names else "'…'"

        shown = re.sub(r"'([^']*)'", hide, message)
        shown = _clip(re.sub(r"'[^'…]*$", "'…", shown))
    return f"{shown} (MySQL error {code})"


def is_database_error(exc: BaseException) -> bool:
    module = type(exc).__module__.split(".", 1)[0]
    return module in ("psycopg", "sqlite3", "pymysql") or (
        module == "sqlalchemy" and hasattr(exc, "orig")
    )
