"""Findings -> a complete, strict rules file, with a comment per column.

Every column of every table is under ``mask:`` (personal) or ``keep:`` (not),
each with a YAML comment saying why, so a reviewer reads the evidence beside
the decision. Names are written so the rules parser reads them back exactly:
identifiers with odd characters are quoted the SQL way inside (``"CRM"."Contacts"``)
and the YAML way outside (escapes for tabs, newlines, quotes).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datacloner.core.catalog import QualifiedName
from datacloner.scan.frameworks import framework_of, framework_reason

if TYPE_CHECKING:
    from datacloner.scan.classify import Finding
    from datacloner.scan.result import ScanResult

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
# YAML 1.1 reads these as booleans or null when unquoted
_SPECIAL = frozenset(["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"])
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"}
_COMMENT_AT = 44  # the column where comments start, when the entry is shorter


def _printable(ch: str) -> bool:
    # what PyYAML reads as itself inside quotes (NEL, LS, PS would fold as line breaks)
    code = ord(ch)
    return (
        ch in "\t\n\r"
        or 0x20 <= code <= 0x7E
        or 0xA0 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    ) and ch not in "\u2028\u2029\ufeff"


def scalar(text: str) -> str:
    """``text`` as a YAML scalar that reads back as exactly ``text``: plain when
    it can be, single-quoted when it holds no control character, else
    double-quoted with escapes."""
    if _PLAIN.fullmatch(text) and text.lower() not in _SPECIAL:
        return text
    if all(_printable(ch) and ch not in "\t\n\r" for ch in text):
        return "'" + text.replace("'", "''") + "'"
    return _double(text)


def _double(text: str) -> str:
    """A double-quoted YAML scalar, with escapes for what cannot stand as is."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif _printable(ch):
            out.append(ch)
        elif ord(ch) <= 0xFF:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def flow(value: Any) -> str:
    """A rule (plain data) in YAML flow style: ``{faker: email, unique: true}``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(str(k))}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    text = str(value)
    # provider names stay plain; anything else is quoted to stay text ("-30y", "$2b$...")
    return text if _PLAIN.fullmatch(text) and text.lower() not in _SPECIAL else _double(text)


def _comment(text: str) -> str:
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(text.split())


def _line(entry: str, comment: str) -> str:
    comment = _comment(comment)
    if not comment:
        return entry
    return (
        f"{entry.ljust(_COMMENT_AT - 1)} # {comment}"
        if len(entry) < _COMMENT_AT - 1
        else (f"{entry}  # {comment}")
    )


def _name_part(part: str) -> str:
    """One part of ``schema.table`` as ``rules.parse_table_name`` reads it back:
    bare unless it holds a dot or a quote, or spaces at its ends."""
    if part and "." not in part and '"' not in part and part == part.strip():
        return part
    return '"' + part.replace('"', '""') + '"'


def table_key(name: QualifiedName, default_schema: str | None) -> str:
    """The rules file key for a table: ``schema.table`` quoted as the parser
    wants it, then as YAML wants it. SQLite's single schema is left out."""
    schema, table = name
    written = _name_part(table)
    if not (default_schema == "main" and schema == "main"):
        written = f"{_name_part(schema)}.{written}"
    return scalar(written)


def _why_masked(finding: Finding) -> str:
    parts = [f"{finding.kind} ({finding.confidence:.2f})", *finding.reasons]
    if finding.note:
        parts.append(f"rule: {finding.note}")
    return "; ".join(parts)


def _why_kept(finding: Finding) -> str:
    return "not personal: " + "; ".join(finding.reasons)


def render_rules(result: ScanResult) -> str:
    """The rules file text for ``result``."""
    catalog = result.catalog
    by_table: dict[QualifiedName, list[Finding]] = {}
    for finding in result.findings:
        by_table.setdefault(finding.qualified, []).append(finding)
    columns = sum(len(v) for v in by_table.values())
    personal = len(result.personal)
    lines = [
        "# Rules suggested by `datacloner scan`: "
        f"{personal} personal columns of {columns} in {len(result.tables)} tables",
        f"# (names, types and up to {result.sample} sampled rows per table; no value is written",
        "# here). Review every line: each comment says why the column is masked or kept.",
        "# Partitions follow their partitioned table; generated columns are not listed.",
        "strict: true",
        "",
        "tables:",
    ]
    for qualified in result.tables:
        table = catalog.tables[qualified]
        order = {c.name: i for i, c in enumerate(table.columns)}
        found = sorted(by_table.get(qualified, []), key=lambda f: order.get(f.column, 0))
        masked = [f for f in found if f.personal]
        kept = [f for f in found if not f.personal]
        key = table_key(qualified, catalog.default_schema)
        notes = []
        if table.partitioned:
            notes.append("partitioned: these rules cover its partitions")
        if masked:
            notes.append(f"{len(masked)} personal column{'s' if len(masked) > 1 else ''}")
        lines.append(_line(f"  {key}:", ", ".join(notes)))
        if masked:
            lines.append("    mask:")
            for f in masked:
                lines.append(_line(f"      {scalar(f.column)}: {flow(f.rule)}", _why_masked(f)))
        if kept:
            lines.append("    keep:")
            framework = framework_of(qualified[1])
            for f in kept:
                if framework:  # kept with the reason: no check ever asks about it again
                    entry = f"      - {scalar(f.column)}: {scalar(framework_reason(f.table_name))}"
                    lines.append(entry)
                else:
                    lines.append(_line(f"      - {scalar(f.column)}", _why_kept(f)))
        if not found:
            lines.append("    keep: []")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def write_rules(result: ScanResult, path: Path) -> None:
    """Write the rules file atomically: a reader never sees half of it."""
    text = render_rules(result)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
