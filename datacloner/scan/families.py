"""A column's type as a family (text, int, date, json ...), from the catalog's
spelling, else from the Python values a sample returned (domains and enums
have names of their own: ``"CRM".email_address`` is text underneath)."""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from datacloner.catalog import Column

FAMILIES = (
    "text", "int", "numeric", "bool", "date", "timestamp", "time", "bytes", "json", "inet",
    "mac", "uuid", "tsvector", "other",
)  # fmt: skip
# Text-like: values a faker text provider can replace.
TEXTUAL = frozenset({"text", "other"})

_BY_NAME: list[tuple[str, str]] = [
    # (regex on the lowercased base type, family); first match wins
    (r"^(character varying|varchar|character|char|bpchar|nchar|nvarchar|text|citext|name"
     r"|clob|string|tinytext|mediumtext|longtext|nvarchar2|varchar2)\b", "text"),
    (r"^(smallint|integer|int|bigint|tinyint|mediumint|int2|int4|int8|serial|bigserial"
     r"|smallserial)\b|^int", "int"),
    (r"^(numeric|decimal|real|double|float|money|number)\b", "numeric"),
    (r"^bool", "bool"),
    (r"^date$", "date"),
    (r"^(timestamp|datetime)", "timestamp"),
    (r"^(time\b|interval)", "time"),
    (r"^(bytea|blob|binary|varbinary|longblob|mediumblob|tinyblob)\b", "bytes"),
    (r"^jsonb?$", "json"),
    (r"^(inet|cidr)$", "inet"),
    (r"^macaddr", "mac"),
    (r"^uuid$", "uuid"),
    (r"^(tsvector|tsquery)$", "tsvector"),
]  # fmt: skip


def base_type(column: Column) -> str:
    """The element type without array brackets or length: ``character varying``."""
    spelled = column.type.lower().strip()
    spelled = re.sub(r"(\[\d*\])+$", "", spelled)
    return re.sub(r"\(.*?\)", "", spelled).strip()


_IP_TYPES = (
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
)


def _from_values(values: Iterable[Any]) -> str:
    for value in values:
        while isinstance(value, list) and value:
            value = value[0]
        if value is None or isinstance(value, list):
            continue
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, int):
            return "int"
        if isinstance(value, float | Decimal):
            return "numeric"
        if isinstance(value, datetime):
            return "timestamp"
        if isinstance(value, date):
            return "date"
        if isinstance(value, time):
            return "time"
        if isinstance(value, bytes | bytearray | memoryview):
            return "bytes"
        if isinstance(value, dict):
            return "json"
        if isinstance(value, uuid.UUID):
            return "uuid"
        if isinstance(value, _IP_TYPES):
            return "inet"
        if isinstance(value, str):
            return "other"  # an enum or a domain over text: text, but not for sure
    return "other"


def family(column: Column, values: Iterable[Any] = ()) -> str:
    base = base_type(column)
    for pattern, fam in _BY_NAME:
        if re.search(pattern, base):
            return fam
    if base == "" or "json" in base:
        return "json" if "json" in base else _from_values(values)
    return _from_values(values)
