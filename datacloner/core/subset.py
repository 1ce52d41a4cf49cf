"""An environment's ``subset:`` block -> a typed :class:`SubsetSpec` (docs/subset.md).

Keys with a dot name tables (``public.users: 2%``); keys without one are
options (``all``, ``empty``, ``children``, ``nullable``, ``disconnected``,
``max_rows``), so the two never collide. Everything the file alone can tell
is checked here, each problem at its ``file:line``; table names are checked
against the live catalog by :func:`resolve` (``check`` and ``refresh``,
before any row moves).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from datacloner.core.location import Location
from datacloner.core.rules import TableName, parse_table_name
from datacloner.core.yamlsource import ErrorList, NodePath, YamlDoc, unknown_key

OPTIONS = ("all", "empty", "children", "nullable", "disconnected", "max_rows")
_START_KEYS = ("where", "limit")
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(%?)\s*")
_SIZE_HINT = (
    "a share such as 2% (over 0, at most 100), a row count such as 1000, "
    "or {where: ..., limit: ...}"
)


@dataclass(frozen=True)
class Start:
    """The rows a start table begins with: a share, a count, or a ``where``
    (with an optional ``limit``), drawn by a keyed hash of each row's key."""

    table: TableName
    location: Location
    share: float | None = None  # percent, in (0, 100]
    count: int | None = None  # exactly this many (or all, if fewer); `limit` of a `where`
    where: str | None = None


@dataclass(frozen=True)
class Listed:
    table: TableName
    location: Location


@dataclass(frozen=True)
class SubsetSpec:
    location: Location
    starts: tuple[Start, ...] = ()
    whole: tuple[Listed, ...] = ()  # `all:` copied whole
    empty: tuple[Listed, ...] = ()  # `empty:` schema only
    children: tuple[tuple[Listed, int], ...] = ()  # at most N children per parent row
    nullable: str = "follow"  # follow | null
    disconnected: str = "all"  # all | empty
    max_rows: int | None = None
    where_locations: dict[str, Location] = field(default_factory=dict, compare=False)

    def listed(self) -> list[Listed]:
        """Every table the block names, with where it names it."""
        found = [Listed(s.table, s.location) for s in self.starts]
        found += [*self.whole, *self.empty, *(entry for entry, _ in self.children)]
        return found


def parse_subset(data: Any, doc: YamlDoc, path: NodePath, errors: ErrorList) -> SubsetSpec | None:
    """``data`` is the interpolated value at ``path``; problems go to ``errors``."""
    where = doc.location(path)
    label = ".".join(str(p) for p in path)
    if data is None or data == {}:
        return None
    if not isinstance(data, dict):
        errors.add(where, f"{label}: expected a mapping (table to size, e.g. {{public.users: 2%}})")
        return None
    starts: list[Start] = []
    whole: list[Listed] = []
    empty: list[Listed] = []
    children: list[tuple[Listed, int]] = []
    options: dict[str, Any] = {}
    seen: dict[TableName, tuple[Location, str]] = {}

    def name_of(text: Any, at: NodePath, role: str) -> TableName | None:
        loc = doc.location(at)
        if not isinstance(text, str):
            errors.add(loc, f"{_label(at)}: expected a table name such as public.users")
            return None
        try:
            name = parse_table_name(text)
        except ValueError as exc:
            errors.add(loc, f"{_label(at)}: `{text}` is not a table name: {exc}")
            return None
        if name.schema is None:
            errors.add(
                loc,
                f"{_label(at)}: write the table as schema.table (e.g. public.{text}): "
                "keys without a dot are options",
            )
            return None
        if role != "children":  # a capped child may also be a start or whole table
            if name in seen:
                first, first_role = seen[name]
                errors.add(
                    loc,
                    f"{_label(at)}: {name} is listed twice in subset (first at {first}, as "
                    f"{first_role})",
                    hint="list each table once under subset:",
                )
                return None
            seen[name] = (loc, role)
        return name

    for key, value in data.items():
        at = (*path, key)
        loc = doc.location(at)
        if "." in str(key) or str(key).startswith('"'):
            name = name_of(str(key), at, "a start table")
            start = _start(name, value, at, doc, errors)
            if name is not None and start is not None:
                starts.append(start)
        elif key in ("all", "empty"):
            if not isinstance(value, list):
                errors.add(loc, f"{_label(at)}: expected a list of tables, e.g. [public.plans]")
                continue
            for i, item in enumerate(value):
                name = name_of(item, (*at, i), f"`{key}`")
                if name is not None:
                    (whole if key == "all" else empty).append(Listed(name, doc.location((*at, i))))
        elif key == "children":
            if not isinstance(value, dict):
                errors.add(
                    loc, f"{_label(at)}: expected a mapping such as {{public.audit_log: 1000}}"
                )
                continue
            for table, cap in value.items():
                name = name_of(table, (*at, table), "children")
                if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
                    errors.add(
                        doc.location((*at, table)),
                        f"{_label((*at, table))}: expected a whole number of 1 or more "
                        "(children kept per parent row)",
                    )
                elif name is not None:
                    children.append((Listed(name, doc.location((*at, table))), cap))
        elif key in ("nullable", "disconnected"):
            allowed = ("follow", "null") if key == "nullable" else ("all", "empty")
            # YAML reads a bare `null` as None: it means the word here
            text = "null" if value is None and key == "nullable" else value
            if text not in allowed:
                errors.add(loc, f"{_label(at)}: expected {' or '.join(allowed)}")
            else:
                options[key] = text
        elif key == "max_rows":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                errors.add(loc, f"{_label(at)}: expected a whole number of rows, e.g. 5000000")
            else:
                options[key] = value
        else:
            errors.add(
                loc,
                f"{_label(at)}: {unknown_key(str(key), OPTIONS)}; tables are written schema.table",
            )
    if not starts and not errors:
        errors.add(
            where,
            f"{label}: no start table: name at least one table and how much of it, "
            "e.g. public.users: 2%",
        )
    return SubsetSpec(
        location=where,
        starts=tuple(starts),
        whole=tuple(whole),
        empty=tuple(empty),
        children=tuple(children),
        nullable=options.get("nullable", "follow"),
        disconnected=options.get("disconnected", "all"),
        max_rows=options.get("max_rows"),
    )


def _start(
    name: TableName | None, value: Any, at: NodePath, doc: YamlDoc, errors: ErrorList
) -> Start | None:
    loc = doc.location(at)
    if isinstance(value, bool) or value is None:
        errors.add(loc, f"{_label(at)}: expected {_SIZE_HINT}")
        return None
    if isinstance(value, int | float | str):
        size = _size(value)
        if size is None:
            errors.add(loc, f"{_label(at)}: expected {_SIZE_HINT}")
            return None
        share, count = size
        if share is not None and not 0 < share <= 100:
            errors.add(
                loc,
                f"{_label(at)}: {value} is outside (0, 100]: a share is over 0% and at most 100%",
            )
            return None
        if count is not None and count < 1:
            errors.add(loc, f"{_label(at)}: a row count must be 1 or more (use `empty:` for none)")
            return None
        return Start(name, loc, share=share, count=count) if name else None  # type: ignore[arg-type]
    if isinstance(value, dict):
        for key in value:
            if key not in _START_KEYS:
                errors.add(
                    doc.location((*at, key)),
                    f"{_label((*at, key))}: {unknown_key(str(key), _START_KEYS)}",
                )
                return None
        where = value.get("where")
        limit = value.get("limit")
        if not isinstance(where, str) or not where.strip():
            errors.add(
                loc,
                f"{_label(at)}: `where:` must be a SQL condition, e.g. "
                "\"created_at > now() - interval '90 days'\"",
            )
            return None
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 1
        ):
            errors.add(
                doc.location((*at, "limit")),
                f"{_label((*at, 'limit'))}: expected a whole number of 1 or more",
            )
            return None
        return Start(name, doc.location((*at, "where")), count=limit, where=where) if name else None  # type: ignore[arg-type]
    errors.add(loc, f"{_label(at)}: expected {_SIZE_HINT}")
    return None


def _size(value: int | float | str) -> tuple[float | None, int | None] | None:
    """(share, count): ``2%`` / ``"0.5%"`` is a share, ``1000`` a count."""
    if isinstance(value, int):
        return None, value
    if isinstance(value, float):
        return None
    match = _SIZE.fullmatch(value)
    if match is None:
        return None
    number, percent = match.groups()
    if percent:
        share = float(number)
        return (share if math.isfinite(share) else None), None
    return (None, int(number)) if "." not in number else None


def _label(path: NodePath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text
