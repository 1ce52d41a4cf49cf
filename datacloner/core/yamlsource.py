"""YAML in, plain Python data out, with the line of every node kept.

Configuration and rules errors must name ``file:line`` (docs/design.md), but
PyYAML's constructed data forgets where it came from. So we compose the node
tree ourselves and build the data while recording, for every path (a tuple of
mapping keys and sequence indices), the line where that entry starts::

    doc = load_yaml(Path("datacloner.yml"))
    doc.data["environments"]["dev"]["url"]
    doc.line(("environments", "dev", "url"))    # -> 7

Choices that differ from plain ``yaml.safe_load`` and why:

- Mapping keys are always the text as written: ``on:``, ``yes:`` or ``1:``
  name a column ``on``, ``yes`` or ``1``, not ``True`` or ``1``. Column and
  table names are text; YAML 1.1's booleans would silently rename them.
  A key that is a mapping or a list is an error.
- A key given twice in one mapping is an error (PyYAML keeps the last one
  silently, which would drop a masking rule without a word).
- Merge keys (``<<: *defaults``) work; keys written beside them win.
- Speed: libyaml composes the node tree when PyYAML has it (same nodes, same
  marks), with the cyclic garbage collector paused: a big rules file is
  hundreds of thousands of small objects, and the collector's full passes
  over a growing heap made parsing quadratic (10 MB took minutes). Files are
  capped at :data:`MAX_FILE_BYTES`. A file that does not parse is parsed
  again by the pure-Python loader, whose messages say more.
"""

from __future__ import annotations

import difflib
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from datacloner.core.errors import UsageError
from datacloner.core.location import Location

PathKey = str | int
NodePath = tuple[PathKey, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"
# Aliases can expand a small file into a huge tree ("billion laughs"); a real
# configuration or rules file is nowhere near this many nodes.
_MAX_NODES = 1_000_000
# A configuration or rules file is written by people: 10 MiB is some 65,000
# tables' rules (about 10 s and 750 MB to load). Larger files are refused
# before parsing; a folder of rules files has no overall limit.
MAX_FILE_BYTES = 10 * 1024 * 1024


class _Loader(yaml.SafeLoader):
    """SafeLoader: only plain data types, never arbitrary Python objects."""


# libyaml's parser with the same safe constructor, when PyYAML was built with it
_FastLoader: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)


@dataclass(frozen=True, slots=True)
class _Where:
    line: int  # where the entry starts: its key's line, or a list item's line
    value_line: int
    raw: str | None  # the scalar's text as written, None for mappings and lists


@dataclass
class YamlDoc:
    """A parsed YAML file: ``data`` plus the line of every node in it."""

    path: Path
    data: Any
    _where: dict[NodePath, _Where] = field(default_factory=dict, repr=False)

    def line(self, path: NodePath = ()) -> int:
        """1-based line where the entry at ``path`` starts (the key's line for a
        mapping entry). A path that is not in the file (a missing key, say)
        gives the line of its nearest existing parent."""
        return self._find(path).line

    def value_line(self, path: NodePath = ()) -> int:
        """1-based line of the value at ``path`` (differs from :meth:`line` for
        a block value that starts below its key)."""
        return self._find(path).value_line

    def location(self, path: NodePath = ()) -> Location:
        return Location(self.path, self.line(path))

    def raw(self, path: NodePath) -> str | None:
        """The scalar's text exactly as written (``yes`` rather than ``True``),
        or None for a mapping, a list or a path that is not in the file."""
        where = self._where.get(tuple(path))
        return where.raw if where else None

    def has(self, path: NodePath) -> bool:
        return tuple(path) in self._where

    def _find(self, path: NodePath) -> _Where:
        path = tuple(path)
        while path not in self._where and path:
            path = path[:-1]
        return self._where.get(path, _Where(1, 1, None))


def load_yaml(path: Path) -> YamlDoc:
    """Read and parse ``path``; unreadable files and bad YAML are UsageError."""
    return parse_yaml(read_text(path), path)


def read_text(path: Path) -> str:
    """The file's text; a missing, unreadable or oversized file is a UsageError."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES and path.is_file():
            raise UsageError(
                f"{path}: {size / 1024 / 1024:.1f} MB is over the limit of "
                f"{MAX_FILE_BYTES // 1024 // 1024} MB for a YAML file",
                hint="no hand-written file is this big; split rules into several files "
                "in a folder (`rules: rules/`)",
            )
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, expected a YAML file") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None


def parse_yaml(text: str, path: Path) -> YamlDoc:
    """Parse ``text`` (the contents of ``path``, used in error messages)."""
    if len(text) > MAX_FILE_BYTES:
        raise UsageError(
            f"{path}: over the limit of {MAX_FILE_BYTES // 1024 // 1024} MB for a YAML file",
            hint="split the rules into several files in a folder (`rules: rules/`)",
        )
    with gc_paused():
        if _FastLoader is not None:
            try:
                return _parse(_FastLoader(text), path)
            except yaml.YAMLError:
                pass  # parsed again below, for the pure-Python loader's message
        return _parse(_Loader(text), path)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: building many small objects (no
    cycles among them) otherwise triggers full passes over the growing heap."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _parse(loader: yaml.SafeLoader, path: Path) -> YamlDoc:
    try:
        root = loader.get_single_node()
        doc = YamlDoc(path=path, data=None)
        if root is not None:
            doc.data = _Builder(loader, doc).build(root, ())
        return doc
    except yaml.MarkedYAMLError as exc:
        if not isinstance(loader, _Loader):
            raise
        raise _yaml_error(exc, path) from None
    except yaml.YAMLError as exc:  # errors without a position, e.g. a bad encoding
        if not isinstance(loader, _Loader):
            raise
        raise UsageError(f"{path}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def _yaml_error(exc: yaml.MarkedYAMLError, path: Path) -> UsageError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 0
    what = " ".join(part for part in (exc.context, exc.problem) if part) or "cannot parse"
    hint = None
    if "'\\t'" in what or "\t" in what:
        hint = "YAML does not allow tabs for indentation; indent with spaces."
    elif "mapping values are not allowed" in what:
        hint = "A value that contains ': ' must be quoted, e.g. key: 'a: b'."
    elif "found undefined tag" in what or "could not determine a constructor" in what:
        hint = "Only plain YAML is accepted: remove the !tag."
    return UsageError(f"{Location(path, line)}: invalid YAML: {what}", hint=hint)


class _Builder:
    """Walks the composed node tree once, building data and recording lines."""

    def __init__(self, loader: yaml.SafeLoader, doc: YamlDoc) -> None:
        self.loader = loader
        self.doc = doc
        self.path = doc.path
        self.active: set[int] = set()  # nodes being built: to refuse recursive aliases
        self.count = 0

    def build(self, node: Node, path: NodePath, line: int | None = None) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            raise UsageError(f"{self._loc(node)}: too many nodes (aliases expand too far)")
        value_line = node.start_mark.line + 1
        raw = node.value if isinstance(node, ScalarNode) else None
        self.doc._where[path] = _Where(line or value_line, value_line, raw)
        if isinstance(node, ScalarNode):
            # Tags, timestamps, numbers... exactly as SafeLoader reads them.
            return self.loader.construct_object(node, deep=True)
        if id(node) in self.active:
            raise UsageError(f"{self._loc(node)}: invalid YAML: an alias refers to itself")
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            if isinstance(node, MappingNode):
                return {
                    key: self.build(value_node, (*path, key), key_node.start_mark.line + 1)
                    for key, key_node, value_node in self._pairs(node)
                }
        finally:
            self.active.discard(id(node))
        raise UsageError(f"{self._loc(node)}: invalid YAML: unexpected node")  # pragma: no cover

    def _pairs(self, node: MappingNode) -> list[tuple[str, Node, Node]]:
        """(key, key node, value node) of a mapping, merge keys resolved: the
        mapping's own keys first, then merged keys it does not set itself."""
        own: dict[str, tuple[Node, Node]] = {}
        merged: list[tuple[str, Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(self._merged(value_node))
                continue
            key = self._key(key_node)
            if key in own:
                first = own[key][0].start_mark.line + 1
                raise UsageError(
                    f"{self._loc(key_node)}: duplicate key `{key}` (already set on line {first})",
                    hint="Each key may appear once in a mapping; merge the two entries.",
                )
            own[key] = (key_node, value_node)
        pairs = [(key, k, v) for key, (k, v) in own.items()]
        seen = set(own)
        for key, k, v in merged:  # earlier merge sources win, as in the YAML spec
            if key not in seen:
                seen.add(key)
                pairs.append((key, k, v))
        return pairs

    def _merged(self, node: Node) -> Iterator[tuple[str, Node, Node]]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, MappingNode):
                raise UsageError(
                    f"{self._loc(source)}: invalid YAML: `<<` must refer to a mapping "
                    "or a list of mappings"
                )
            if id(source) in self.active:
                raise UsageError(f"{self._loc(source)}: invalid YAML: a merge refers to itself")
            self.active.add(id(source))
            try:
                yield from self._pairs(source)
            finally:
                self.active.discard(id(source))

    def _key(self, node: Node) -> str:
        if not isinstance(node, ScalarNode):
            raise UsageError(
                f"{self._loc(node)}: keys must be plain text, not a "
                f"{'list' if isinstance(node, SequenceNode) else 'mapping'}"
            )
        if node.value == "":
            raise UsageError(f"{self._loc(node)}: empty key")
        return str(node.value)

    def _loc(self, node: Node) -> Location:
        return Location(self.path, node.start_mark.line + 1)


def closest(word: str, options: list[str] | tuple[str, ...]) -> str | None:
    """The option nearest to a misspelt ``word``, for "did you mean" hints."""
    found = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    if not found:  # case slips ("URL") score low in difflib; try without case
        lowered = {option.lower(): option for option in options}
        found = [lowered[m] for m in difflib.get_close_matches(word.lower(), list(lowered), n=1)]
    return found[0] if found else None


def unknown_key(key: str, allowed: list[str] | tuple[str, ...]) -> str:
    """``unknown key `x`; did you mean `y`?`` or the list of allowed keys."""
    guess = closest(key, allowed)
    if guess:
        return f"unknown key `{key}`; did you mean `{guess}`?"
    return f"unknown key `{key}`; allowed keys: {', '.join(allowed)}"


class ErrorList:
    """Collects every problem in a file so the user fixes them in one go,
    then raises them as one UsageError, one ``file:line: ...`` per line."""

    def __init__(self) -> None:
        self.lines: list[tuple[Location, str]] = []
        self.hints: list[str] = []

    def add(self, location: Location, message: str, hint: str | None = None) -> None:
        self.lines.append((location, message))
        if hint and hint not in self.hints:
            self.hints.append(hint)

    def __bool__(self) -> bool:
        return bool(self.lines)

    def raise_if_any(self) -> None:
        if not self.lines:
            return
        # Sorted by file then line: the order a user reads the file in.
        ordered = sorted(self.lines, key=lambda item: (str(item[0].file), item[0].line))
        message = "\n".join(f"{location}: {text}" for location, text in ordered)
        raise UsageError(message, hint="\n".join(self.hints) or None)
