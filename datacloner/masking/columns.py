"""The one column-type classifier: what a column's type means, as the catalog spells it.

PostgreSQL spellings (``character varying(40)``, ``numeric(10,2)``,
``timestamp with time zone``, ``text[]``), SQLite declared types
(``VARCHAR(40)``, ``INTEGER``, ``DATE``, ``""``) and MySQL's are sorted into a
few categories. A type we do not know (an enum, a domain, ``interval``, a user
type) is ``other``: anything goes, the database has the last word.

Masking asks ``column_type`` (does a rule's output fit its column: ``fits``);
scan asks ``family``, the same categories seen coarser, with the sampled values
deciding where the type's name says nothing. No database code lives here.
"""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from datacloner.core.catalog import Column

TEXT = "text"
INT = "int"
NUMERIC = "numeric"
FLOAT = "float"
BOOL = "bool"
DATE = "date"
TIMESTAMP = "timestamp"
TIME = "time"
JSON = "json"
INET = "inet"
CIDR = "cidr"
UUID = "uuid"
BYTES = "bytes"
OTHER = "other"

_EXACT = {
    # text
    **dict.fromkeys(
        (
            "text",
            "character varying",
            "varchar",
            "character",
            "char",
            "bpchar",
            "citext",
            "name",
            "nvarchar",
            "nchar",
            "varchar2",
            "nvarchar2",
            "clob",
            "tinytext",
            "mediumtext",
            "longtext",
            "string",
            "native character",
            "varying character",
        ),
        TEXT,
    ),
    **dict.fromkeys(("smallint", "int2", "smallserial", "serial2"), (INT, 16)),
    **dict.fromkeys(("tinyint",), (INT, 8)),
    **dict.fromkeys(("integer", "int", "int4", "serial", "serial4", "mediumint"), (INT, 32)),
    **dict.fromkeys(("bigint", "int8", "bigserial", "serial8"), (INT, 64)),
    **dict.fromkeys(("numeric", "decimal", "number", "money"), NUMERIC),
    **dict.fromkeys(("real", "double precision", "double", "float", "float4", "float8"), FLOAT),
    **dict.fromkeys(("boolean", "bool"), BOOL),
    "date": DATE,
    **dict.fromkeys(("datetime", "smalldatetime", "datetime2", "datetimeoffset"), TIMESTAMP),
    **dict.fromkeys(("json", "jsonb"), JSON),
    "inet": INET,
    "cidr": CIDR,
    **dict.fromkeys(("uuid", "uniqueidentifier"), UUID),
    # PostgreSQL's geometric types: not SQLite's integer affinity ("point" holds "int")
    **dict.fromkeys(("point", "line", "lseg", "box", "path", "polygon", "circle"), OTHER),
    **dict.fromkeys(
        ("bytea", "blob", "binary", "varbinary", "tinyblob", "mediumblob", "longblob"), BYTES
    ),
}
_PARAMS = re.compile(r"\(([^)]*)\)")


@dataclass(frozen=True)
class ColumnType:
    category: str
    spelling: str  # as the catalog gave it, for messages
    max_length: int | None = None  # varchar(n) / char(n)
    int_bits: int | None = None
    precision: int | None = None  # numeric(p, s)
    scale: int | None = None
    is_array: bool = False  # the category is then the element's
    nullable: bool = True
    name: str = ""  # the column's name
    base: str = ""  # the element type, lowercased, without length or brackets
    guessed: bool = False  # category from SQLite's affinity rules, not a known name
    unsigned: bool = False  # MySQL's ``int unsigned``, ``decimal(10,2) unsigned``...

    @property
    def int_range(self) -> tuple[int, int] | None:
        if self.int_bits is None:
            return None
        if self.unsigned:
            return 0, (1 << self.int_bits) - 1
        half = 1 << (self.int_bits - 1)
        return -half, half - 1

    @property
    def textual(self) -> bool:
        """Holds any text: text types and types we do not know."""
        return self.category in (TEXT, OTHER)


def column_type(column: Column) -> ColumnType:
    spelling = column.type or ""
    t = spelling.strip().lower()
    is_array = column.is_array
    while t.endswith("[]"):
        t, is_array = t[:-2].strip(), True
    if t.startswith("_") and is_array:  # PostgreSQL's internal array names: _text
        t = t[1:]
    if t.endswith(" array"):
        t, is_array = t[: -len(" array")].strip(), True
    params = [p.strip() for p in m.group(1).split(",")] if (m := _PARAMS.search(t)) else []
    base = re.sub(r"\s+", " ", _PARAMS.sub("", t)).strip()
    # MySQL: "int(10) unsigned zerofill" (zerofill implies unsigned)
    unsigned = False
    for word in (" zerofill", " unsigned"):
        if base.endswith(word):
            base, unsigned = base[: -len(word)].strip(), True
    category: str
    bits = None
    guessed = False
    found = _EXACT.get(base)
    if isinstance(found, tuple):
        category, bits = found
    elif found is not None:
        category = found
    elif base.startswith("timestamp"):
        category = TIMESTAMP
    elif base.startswith("time"):
        category = TIME
    elif base.startswith("character varying") or base.startswith("character"):
        category = TEXT
    elif base == "":
        category = OTHER  # SQLite column without a declared type: anything goes
    # SQLite's type affinity rules, for declared types we do not know by name.
    elif "int" in base and not base.startswith("interval"):
        category, bits, guessed = INT, 64, True
    elif any(w in base for w in ("char", "clob", "text")):
        category, guessed = TEXT, True
    elif any(w in base for w in ("real", "floa", "doub")):
        category, guessed = FLOAT, True
    else:
        category = OTHER
    max_length = column.max_length
    precision = scale = None
    if category == TEXT and max_length is None and params and params[0].isdigit():
        max_length = int(params[0])
    if category == NUMERIC and params and params[0].isdigit():
        precision = int(params[0])
        scale = int(params[1]) if len(params) > 1 and params[1].lstrip("-").isdigit() else 0
    return ColumnType(
        category=category,
        spelling=spelling,
        max_length=max_length if category == TEXT else None,
        int_bits=bits,
        precision=precision,
        scale=scale,
        is_array=is_array,
        nullable=column.nullable,
        name=column.name,
        base=base,
        guessed=guessed,
        unsigned=unsigned and category in (INT, NUMERIC, FLOAT),
    )


# --- scan's view: a family per column ------------------------------------------------------

_FAMILY_OF = {FLOAT: NUMERIC, CIDR: INET}  # scan needs no finer split
_IP_TYPES = (
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
)


def family(column: Column, values: Iterable[Any] = ()) -> str:
    """Scan's family of a column: its category (float counted as numeric, cidr
    as inet), types masking lets through as ``other`` told apart (``mac``,
    ``tsvector``), and, where the type's name says nothing (an enum, a domain:
    ``"CRM".email_address`` is text underneath; SQLite's untyped column), the
    Python values a sample returned."""
    ct = column_type(column)
    if ct.category != OTHER and not ct.guessed:
        return _FAMILY_OF.get(ct.category, ct.category)
    base = ct.base
    if base.startswith("macaddr"):
        return "mac"
    if base in ("tsvector", "tsquery"):
        return "tsvector"
    if base == "interval":
        return TIME
    if "json" in base:
        return JSON
    if ct.category == INT and base.startswith("int"):  # int4range, int2vector
        return INT
    return _from_values(values)  # a user type named like a SQLite affinity too


def _from_values(values: Iterable[Any]) -> str:
    for value in values:
        while isinstance(value, list) and value:
            value = value[0]
        if value is None or isinstance(value, list):
            continue
        if isinstance(value, bool):
            return BOOL
        if isinstance(value, int):
            return INT
        if isinstance(value, float | Decimal):
            return NUMERIC
        if isinstance(value, datetime):
            return TIMESTAMP
        if isinstance(value, date):
            return DATE
        if isinstance(value, time):
            return TIME
        if isinstance(value, bytes | bytearray | memoryview):
            return BYTES
        if isinstance(value, dict):
            return JSON
        if isinstance(value, uuid.UUID):
            return UUID
        if isinstance(value, _IP_TYPES):
            return INET
        if isinstance(value, str):
            return OTHER  # an enum or a domain over text: text, but not for sure
    return OTHER


_INT_TEXT = re.compile(r"\s*[+-]?\d+\s*")
_ISO_DATE = re.compile(r"\s*\d{4}-\d{1,2}-\d{1,2}")
_TIME_TEXT = re.compile(r"\s*\d{1,2}:\d{2}")
_BOOL_TEXT = {"t", "f", "true", "false", "yes", "no", "y", "n", "on", "off", "1", "0"}


def describe(value: Any) -> str:
    """A fake's type for messages, e.g. ``date (1990-04-01)``."""
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"{type(value).__name__} ({shown})"


def fits(value: Any, col: ColumnType) -> bool:
    """Can the database store this (fake) value in a column of this type?"""
    c = col.category
    if c == OTHER:
        return True
    if isinstance(value, dict | list | tuple | set):
        return c == JSON and isinstance(value, dict | list)
    if c == TEXT:
        return not isinstance(value, bytes | bytearray | memoryview)
    if c == BYTES:
        return isinstance(value, bytes | bytearray | memoryview | str)
    if isinstance(value, bytes | bytearray | memoryview):
        return False
    if c == INT:
        if isinstance(value, bool):
            return False
        if isinstance(value, str):
            if not _INT_TEXT.fullmatch(value):
                return False
            value = int(value)
        if not isinstance(value, int):
            return False
        low, high = col.int_range or (-(1 << 63), (1 << 63) - 1)
        return low <= value <= high
    if c in (NUMERIC, FLOAT):
        if isinstance(value, bool):
            return False
        if isinstance(value, str):
            try:
                value = Decimal(value.strip())
            except InvalidOperation:
                return False
        if not isinstance(value, int | float | Decimal):
            return False
        if col.unsigned and Decimal(value).is_finite() and value < 0:
            return False
        if c == NUMERIC and col.precision is not None and Decimal(value).is_finite():
            limit = Decimal(10) ** (col.precision - (col.scale or 0))
            return abs(Decimal(value)) < limit
        return True
    if c == BOOL:
        return isinstance(value, bool) or (
            isinstance(value, str) and value.strip().lower() in _BOOL_TEXT
        )
    if c in (DATE, TIMESTAMP):
        if isinstance(value, date):  # datetime is a date too
            return True
        return isinstance(value, str) and bool(_ISO_DATE.match(value))
    if c == TIME:
        return isinstance(value, time | datetime) or (
            isinstance(value, str) and bool(_TIME_TEXT.match(value))
        )
    if c == JSON:
        if isinstance(value, bool | int | float):
            return True
        if isinstance(value, str):
            try:
                json.loads(value)
            except ValueError:
                return False
            return True
        return False
    if c in (INET, CIDR):
        if not isinstance(value, str | ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        try:
            if c == INET:
                ipaddress.ip_interface(str(value).strip())
            else:
                ipaddress.ip_network(str(value).strip(), strict=True)
        except ValueError:
            return False
        return True
    if c == UUID:
        if isinstance(value, uuid.UUID):
            return True
        try:
            uuid.UUID(str(value))
        except ValueError:
            return False
        return True
    return True


HINTS = {
    INT: "Use an integer provider such as {faker: pyint, args: {min_value: 1, max_value: 9999}}, "
    "{hash: {int: {min: 1, max: 1000000}}} or {noise: {ratio: 0.1}}.",
    NUMERIC: "Use a number provider such as pydecimal or pyfloat, or {noise: {ratio: 0.1}}.",
    FLOAT: "Use a number provider such as pyfloat, or {noise: {ratio: 0.1}}.",
    BOOL: "Use {faker: pybool} or a constant {value: false}.",
    DATE: "Use a date provider such as date_of_birth or date_between, or {shift: {days: 30}}.",
    TIMESTAMP: "Use a date-time provider such as date_time_between, or {shift: {days: 30}}.",
    TIME: "Use {faker: time_object} or a constant.",
    JSON: "Mask paths inside the document with {json: {path: rule}}, or use {value: '{}'}.",
    INET: "Use {faker: ipv4} or {faker: ipv6}.",
    CIDR: "Use {faker: ipv4, args: {network: true}}.",
    UUID: "Use {faker: uuid4} or {hash: uuid}.",
    BYTES: "Use {faker: binary} or null.",
    TEXT: "Use a provider that returns text.",
}
