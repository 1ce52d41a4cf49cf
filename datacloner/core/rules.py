"""Masking rules: ``rules/*.yml`` in, a typed :class:`RuleSet` out.

Format (docs/rules.md)::

    strict: true
    tables:
      public.users:
        mask:
          email: {faker: email, unique: true}
          first_name: first_name          # shorthand for {faker: first_name}
          ssn: null                       # becomes NULL
          password_hash: {value: "x"}
        keep: [id, plan, created_at]
      public.sessions: skip

Every problem found is reported at once, one ``file:line: ...`` per line, in
a UsageError (exit 2). Provider names and columns are not checked here: the
plan checks them against Faker and the live schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datacloner.core.errors import UsageError
from datacloner.core.location import Location
from datacloner.core.yamlsource import (
    ErrorList,
    NodePath,
    YamlDoc,
    gc_paused,
    load_yaml,
    unknown_key,
)
from datacloner.masking.spec import MaskSpec, SpecParser, is_scalar


@dataclass(frozen=True)
class TableName:
    """``schema.table`` as written in the rules; ``schema`` is None when omitted
    (then it means the engine's default schema: ``public`` or SQLite's ``main``)."""

    schema: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass
class TableRules:
    table: TableName
    location: Location
    strict: bool = True
    skip: bool = False
    mask: dict[str, MaskSpec] = field(default_factory=dict)
    keep: list[str] = field(default_factory=list)
    keep_locations: dict[str, Location] = field(default_factory=dict)
    keep_reasons: dict[str, str] = field(default_factory=dict)  # column -> why it is not personal
    unless: str | None = None
    unless_location: Location | None = None
    locale: str | None = None  # default Faker locale of the table (its own, else its file's)


@dataclass
class RuleSet:
    strict: bool  # True unless every file says ``strict: false``
    tables: list[TableRules]
    files: list[Path]

    def table(self, name: TableName) -> TableRules | None:
        """The rules of ``name`` exactly as written, or None."""
        return next((rules for rules in self.tables if rules.table == name), None)


_FILE_KEYS = ("strict", "locale", "tables")
_TABLE_KEYS = ("mask", "keep", "unless", "skip", "locale")
_RULE_SUFFIXES = (".yml", ".yaml")
_SKIP_HINT = "Write `skip` to copy only the table's schema, or a mapping with `mask:` and `keep:`."


def parse_table_name(text: str) -> TableName:
    """``schema.table``, ``table`` or with double-quoted parts (``"CRM"."Contacts"``,
    ``"my.schema".t``, ``""`` for a quote inside quotes). Names stay exactly as
    written: no case folding, since the rules must match the catalog exactly.
    Raises ValueError saying what is wrong."""
    parts: list[str] = []
    i, end = 0, len(text)
    while True:
        if text.startswith('"', i):
            chunks: list[str] = []
            j = i + 1
            while True:
                k = text.find('"', j)
                if k < 0:
                    raise ValueError('a quoted name is missing its closing `"`')
                if text.startswith('""', k):  # SQL's escape for a quote inside quotes
                    chunks.append(text[j:k] + '"')
                    j = k + 2
                    continue
                chunks.append(text[j:k])
                i = k + 1
                break
            part = "".join(chunks)
            if not part:
                raise ValueError('`""` is an empty name')
        else:
            dot = text.find(".", i)
            stop = end if dot < 0 else dot
            part = text[i:stop]
            if '"' in part:
                raise ValueError('quote the whole name part, e.g. "CRM"."Contacts"')
            if not part.strip():
                raise ValueError("a name part is empty; write schema.table or table")
            if part != part.strip():
                raise ValueError("spaces around a name; quote it if they are part of the name")
            i = stop
        parts.append(part)
        if i == end:
            break
        if text[i] != ".":
            raise ValueError('expected `.` after a quoted name, e.g. "CRM"."Contacts"')
        i += 1
        if i == end:
            raise ValueError("the name ends with `.`; write schema.table or table")
    if len(parts) > 2:
        raise ValueError(
            'too many dots; write schema.table, and quote a part that contains a dot: "my.schema".t'
        )
    return TableName(parts[0], parts[1]) if len(parts) == 2 else TableName(None, parts[0])


def load_rules(path: Path) -> RuleSet:
    """Load a rules file, or merge every ``*.yml``/``*.yaml`` file of a folder
    (sorted by name, not recursive). Raises UsageError listing every problem."""
    with gc_paused():  # linear time on a big file (yamlsource's docstring)
        return _load_rules(path)


def _load_rules(path: Path) -> RuleSet:
    files = _rule_files(path)
    errors = ErrorList()
    tables: list[TableRules] = []
    first: dict[TableName, TableRules] = {}
    stricts: list[bool] = []
    for file in files:
        doc = load_yaml(file)
        strict, file_tables = _Parser(doc, errors).parse()
        stricts.append(strict)
        for rules in file_tables:
            earlier = first.get(rules.table)
            if earlier is not None:
                where = (
                    f"line {earlier.location.line}"
                    if earlier.location.file == rules.location.file
                    else str(earlier.location)
                )
                errors.add(
                    rules.location,
                    f"table {rules.table} already has rules at {where}",
                    hint="Give each table its rules in one place: merge the two entries.",
                )
                continue
            first[rules.table] = rules
            tables.append(rules)
    errors.raise_if_any()
    # Fail closed: one strict file keeps the whole run strict.
    return RuleSet(strict=any(stricts), tables=tables, files=files)


def _rule_files(path: Path) -> list[Path]:
    hint = "The `rules:` key in datacloner.yml points there: create it or fix the key."
    if path.is_dir():
        files = sorted(
            (
                p
                for p in path.iterdir()
                # Hidden files are editor backups and lock files, not rules.
                if p.suffix in _RULE_SUFFIXES and p.is_file() and not p.name.startswith(".")
            ),
            key=lambda p: p.name,
        )
        if not files:
            raise UsageError(f"{path}: rules folder has no *.yml or *.yaml files", hint=hint)
        return files
    if not path.exists():
        raise UsageError(f"{path}: rules file or folder not found", hint=hint)
    return [path]


class _Parser(SpecParser):
    """Parses one rules file, adding every problem to ``errors``."""

    def __init__(self, doc: YamlDoc, errors: ErrorList) -> None:
        self.doc = doc
        self.errors = errors

    def parse(self) -> tuple[bool, list[TableRules]]:
        data = self.doc.data
        if data is None:
            self.error((), "the rules file is empty; expected `tables:`")
            return True, []
        if not isinstance(data, dict):
            self.error((), "expected a mapping with `tables:` at the top of a rules file")
            return True, []
        for key in data:
            if key not in _FILE_KEYS:
                self.error((key,), unknown_key(key, _FILE_KEYS))
        strict = data.get("strict", True)
        if not isinstance(strict, bool):
            self.error(("strict",), "strict: expected true or false")
            strict = True
        locale = self.locale(data, ("locale",), "locale")
        if "tables" not in data:
            self.error((), "missing key `tables` (a mapping of schema.table to its rules)")
            return strict, []
        tables = data["tables"]
        if tables is None:  # `tables:` with nothing under it: a placeholder file
            return strict, []
        if not isinstance(tables, dict):
            self.error(("tables",), "tables: expected a mapping of schema.table to its rules")
            return strict, []
        result = []
        for key, value in tables.items():
            rules = self.table(key, value, strict, locale)
            if rules is not None:
                result.append(rules)
        return strict, result

    def table(
        self, key: str, value: Any, strict: bool, file_locale: str | None
    ) -> TableRules | None:
        path: NodePath = ("tables", key)
        try:
            name = parse_table_name(key)
        except ValueError as exc:
            self.error(path, f"table name `{key}`: {exc}")
            return None
        rules = TableRules(table=name, location=self.doc.location(path), strict=strict)
        if value == "skip":
            rules.skip = True
            return rules
        if not isinstance(value, dict):
            got = "nothing" if value is None else f"`{value}`" if is_scalar(value) else "a list"
            self.error(
                path, f"{key}: expected `skip` or a mapping with mask/keep, got {got}", _SKIP_HINT
            )
            return None
        for option in value:
            if option not in _TABLE_KEYS:
                self.error((*path, option), f"{key}: {unknown_key(option, _TABLE_KEYS)}")
        skip = value.get("skip", False)
        if not isinstance(skip, bool):
            self.error((*path, "skip"), f"{key}.skip: expected true or false")
            skip = False
        if skip:
            rules.skip = True
            extra = [k for k in ("mask", "keep", "unless") if k in value]
            if extra:
                self.error(
                    (*path, "skip"),
                    f"{key}: `skip: true` copies no rows, so `{extra[0]}` has nothing to do; "
                    "remove one of them",
                )
            return rules
        rules.locale = self.locale(value, (*path, "locale"), f"{key}.locale") or file_locale
        if "unless" in value:
            unless = value["unless"]
            if isinstance(unless, str) and unless.strip():
                rules.unless = unless
                rules.unless_location = self.doc.location((*path, "unless"))
            else:
                self.error(
                    (*path, "unless"),
                    f"{key}.unless: expected an SQL condition, "
                    "e.g. \"email LIKE '%@ourcompany.com'\"",
                )
        self.mask(rules, key, value.get("mask"), path)
        self.keep(rules, key, value.get("keep"), path)
        for column, spec in rules.mask.items():
            if column in rules.keep_locations:
                self.errors.add(
                    rules.keep_locations[column],
                    f"{key}: column `{column}` is both masked (line {spec.location.line}) "
                    f"and kept (line {rules.keep_locations[column].line}); "
                    "a column is either personal or not: remove one",
                )
        return rules

    def mask(self, rules: TableRules, table: str, mask: Any, table_path: NodePath) -> None:
        path = (*table_path, "mask")
        if mask is None:  # `mask:` left empty
            return
        if not isinstance(mask, dict):
            self.error(path, f"{table}.mask: expected a mapping of column to rule")
            return
        for column, value in mask.items():
            spec = self.spec(f"{table}.{column}", value, (*path, column), rules.locale)
            if spec is not None:
                rules.mask[column] = spec

    def keep(self, rules: TableRules, table: str, keep: Any, table_path: NodePath) -> None:
        path = (*table_path, "keep")
        if keep is None:  # `keep:` left empty
            return
        if not isinstance(keep, list):
            self.error(path, f"{table}.keep: expected a list of columns, e.g. [id, created_at]")
            return
        for i, item in enumerate(keep):
            reason = None
            if isinstance(item, dict) and len(item) == 1:
                # `{district: "too coarse to identify anyone"}`: kept after review,
                # which silences check's "kept but looks personal"
                ((column, reason),) = item.items()
                if not isinstance(reason, str) or not reason.strip():
                    self.error(
                        (*path, i),
                        f"{table}.keep: the reason for `{column}` must be a sentence, e.g. "
                        f'{{{column}: "a product code, not a person"}}',
                    )
                    continue
            elif isinstance(item, dict):
                keys = ", ".join(f"`{k}`" for k in item)
                self.error(
                    (*path, i),
                    f"{table}.keep: {{column: reason}} takes one column, got {len(item)} keys "
                    f"({keys or 'none'}); in [...] quote a reason that holds a comma, "
                    'e.g. {district: "a region, not a person"}',
                )
                continue
            else:
                column = self.column_name(item, (*path, i))
            if column is None:
                self.error(
                    (*path, i),
                    f"{table}.keep: expected a column name or {{column: reason}}, got {item!r}",
                )
                continue
            location = self.doc.location((*path, i))
            earlier = rules.keep_locations.get(column)
            if earlier is not None:
                self.error(
                    (*path, i),
                    f"{table}.keep: column `{column}` is listed twice "
                    f"(also on line {earlier.line})",
                )
                continue
            rules.keep.append(column)
            rules.keep_locations[column] = location
            if reason is not None:
                rules.keep_reasons[column] = reason.strip()

    def column_name(self, item: Any, path: NodePath) -> str | None:
        if isinstance(item, str):
            return item or None
        # YAML reads `yes`, `on` or `1` as true or a number; a column name is
        # text, so take it as written (mapping keys are read the same way).
        if isinstance(item, bool | int | float):
            return self.doc.raw(path)
        return None
