"""The masked archive (``.dcz``): one portable file that holds an already
masked copy, restored where production is out of reach (CI).

It is a ZIP file (streamed: members of unknown size, so memory stays flat):

- ``schema/pre-data.sql``, ``schema/post-data.sql``: pg_dump's sections;
- ``data/NNNN.copy``: each table's masked rows as PostgreSQL COPY text,
  deflate-compressed;
- ``state.json``: what the target needs after the rows: sequences' positions,
  populated materialized views, constraints that were NOT VALID, and the
  database's encoding and locale;
- ``manifest.json``, written last: format version, datacloner version, the
  source's identity, rules digest, secret fingerprint, per table its columns,
  rows and data member, and a SHA-256 per member;
- ``manifest.sig``: the Ed25519 signature of ``manifest.json`` (archive_sign).

Restore checks the signature, the manifest's shape, every member against its
checksum, ``state.json`` and every schema statement (archive_sql) before
anything is created on the target. No database code here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from datacloner import __version__
from datacloner.archive import sign as archive_sign
from datacloner.archive import sql as archive_sql
from datacloner.core.errors import Refused, UsageError

FORMAT = "datacloner-archive"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STATE = "state.json"
SIGNATURE = "manifest.sig"
SCHEMA = ("schema/pre-data.sql", "schema/post-data.sql")
CHUNK = 1 << 20
MAX_MEMBERS = 100_000  # far more than tables; a huge count is refused before it is read
MAX_JSON = 64 << 20  # manifest, signature, state: read whole, so bounded
MAX_SCHEMA = 512 << 20
_DATA = re.compile(r"data/\d{5,}\.copy")
_HEX64 = re.compile(r"[0-9a-f]{64}")
# a damaged member fails in zlib, the CRC check or the ZIP layer; an encrypted
# or exotic one (RuntimeError, NotImplementedError) was not written by dump
_READ_ERRORS = (
    zipfile.BadZipFile,
    OSError,
    EOFError,
    zlib.error,
    RuntimeError,
    NotImplementedError,
)
_SETTING = re.compile(r"[A-Za-z0-9_.@ -]{0,100}")


@dataclass
class ArchiveTable:
    schema: str
    name: str
    columns: list[str]
    member: str
    rows: int = 0
    masked_columns: list[str] = field(default_factory=list)


class ArchiveWriter:
    """Write members one after another; ``close`` writes the manifest."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.zip = zipfile.ZipFile(self.partial, "w", zipfile.ZIP_DEFLATED, compresslevel=1)
        self.checksums: dict[str, str] = {}
        self.tables: list[ArchiveTable] = []

    def write_bytes(self, member: str, data: bytes) -> None:
        self.write_stream(member, [data])

    def write_stream(self, member: str, chunks: Iterable[bytes]) -> None:
        digest = hashlib.sha256()
        with self.zip.open(member, "w", force_zip64=True) as out:
            for chunk in chunks:
                digest.update(chunk)
                out.write(chunk)
        self.checksums[member] = digest.hexdigest()

    def add_table(self, table: ArchiveTable, chunks: Iterable[bytes]) -> None:
        self.write_stream(table.member, chunks)
        self.tables.append(table)

    def close(self, manifest: dict[str, Any], key: Ed25519PrivateKey | None) -> None:
        """Only a complete archive gets the final name: a crash leaves a
        ``.partial`` file, never a truncated archive under the real name.
        With ``key``, the manifest is signed."""
        body = {
            **manifest,
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "datacloner_version": __version__,
            "tables": [t.__dict__ for t in self.tables],
            "checksums": self.checksums,
        }
        text = json.dumps(body, indent=2, default=str).encode()
        self.zip.writestr(MANIFEST, text)
        if key is not None:
            self.zip.writestr(SIGNATURE, json.dumps(archive_sign.sign(key, text)))
        self.zip.close()
        self.partial.replace(self.path)

    def abort(self) -> None:
        self.zip.close()
        self.partial.unlink(missing_ok=True)


def _damaged(path: Path, what: str) -> UsageError:
    return UsageError(
        f"{path}: {what}; the archive is damaged or was not written by `datacloner dump`; "
        "nothing was changed",
        hint="create it again with `datacloner dump`",
    )


class ArchiveReader:
    """An archive, opened and checked in steps, all before the target is
    touched: ``__init__`` (a ZIP with a manifest of this format), then
    ``authenticate`` (the signature), then ``verify`` (shape, checksums,
    state and schema statements)."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise UsageError(f"no archive at {path}")
        self.path = path
        try:
            with path.open("rb") as handle:
                end = zipfile._EndRecData(handle)  # type: ignore[attr-defined]
            # the central directory's count and size, before it is parsed into memory
            if end is not None and (
                end[zipfile._ECD_ENTRIES_TOTAL] > MAX_MEMBERS  # type: ignore[attr-defined]
                or end[zipfile._ECD_SIZE] > MAX_JSON  # type: ignore[attr-defined]
            ):
                raise _damaged(path, f"it holds more than {MAX_MEMBERS:,} members")
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise UsageError(
                f"{path} is not a complete datacloner archive ({type(exc).__name__}): it may be "
                "truncated, corrupted or another kind of file; nothing was changed",
                hint="create it again with `datacloner dump`",
            ) from None
        try:
            names = self.zip.namelist()
            if len(names) > MAX_MEMBERS:  # the count in the directory's end may lie
                raise _damaged(path, f"it holds more than {MAX_MEMBERS:,} members")
            if len(names) != len(set(names)):
                raise _damaged(path, "a member name appears twice")
            if MANIFEST not in names:
                raise _damaged(path, f"it has no {MANIFEST}")
            self.manifest_bytes = self._read_small(MANIFEST, MAX_JSON)
            manifest = _json(self.manifest_bytes, path, MANIFEST)
            self.signature = (
                _json(self._read_small(SIGNATURE, MAX_JSON), path, SIGNATURE)
                if SIGNATURE in names
                else None
            )
        except BaseException:
            self.zip.close()
            raise
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            self.zip.close()
            raise _damaged(path, "its manifest is not a datacloner archive's")
        self.manifest: dict[str, Any] = manifest
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            self.zip.close()
            raise Refused(
                f"{path} has archive format version {_shown(str(version))}; this datacloner "
                f"reads version {FORMAT_VERSION}",
                hint="restore it with the datacloner version that wrote it "
                f"({_shown(str(manifest.get('datacloner_version')))})",
            )
        self.tables: list[ArchiveTable] = []
        self.state_data: dict[str, Any] = {}
        self.schema: dict[str, list[archive_sql.Statement]] = {}

    def _read_small(self, member: str, limit: int) -> bytes:
        """A member read whole: refused when the ZIP says it is bigger than
        ``limit`` (the reader never returns more than the size it says)."""
        info = self.zip.getinfo(member)
        if info.file_size > limit:
            raise _damaged(self.path, f"member {member} is larger than {limit >> 20} MiB")
        try:
            return self.zip.read(member)
        except _READ_ERRORS as exc:
            what = f"member {member} cannot be read ({type(exc).__name__})"
            raise _damaged(self.path, what) from None

    # -- the signature ------------------------------------------------------------
    def authenticate(self, allow_unsigned: bool) -> list[str]:
        """Refuse (exit 1) an archive whose signature does not verify with
        ``$DATACLONER_ARCHIVE_PUBLIC_KEY``, and an unsigned one unless
        ``allow_unsigned``. Returns warnings."""
        key = archive_sign.public_key()
        if self.signature is None:
            if not allow_unsigned:
                raise Refused(
                    f"{self.path} is not signed: restore runs only archives signed by your "
                    "dump job; nothing was changed",
                    hint=f"set {archive_sign.PRIVATE_ENV} where you dump (docs/archive.md#signing);"
                    " to restore an archive you trust anyway, pass --allow-unsigned",
                )
            return [f"{self.path} is not signed: restored with --allow-unsigned"]
        sig = self.signature
        if (
            not isinstance(sig, dict)
            or sig.get("algorithm") != archive_sign.ALGORITHM
            or not isinstance(sig.get("signature"), str)
        ):
            raise _damaged(self.path, f"{SIGNATURE} is not an {archive_sign.ALGORITHM} signature")
        if key is None:
            if allow_unsigned:
                return [
                    f"{self.path} is signed but {archive_sign.PUBLIC_ENV} is not set: its "
                    "signature was not checked (--allow-unsigned)"
                ]
            raise UsageError(
                f"{self.path} is signed, but {archive_sign.PUBLIC_ENV} is not set to check it",
                hint=f"set {archive_sign.PUBLIC_ENV} to the public key of your dump job's key "
                "(docs/archive.md#signing)",
            )
        try:
            raw = base64.b64decode(sig["signature"], validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if not archive_sign.verifies(key, self.manifest_bytes, raw):
            theirs = _shown(str(sig.get("key_id", "?"))[:16])
            raise Refused(
                f"{self.path}: the signature does not verify with {archive_sign.PUBLIC_ENV} "
                f"(key {archive_sign.key_id(key)}; the archive names key {theirs}): it was "
                "changed after it was signed, or signed with another key; nothing was changed",
                hint="restore only archives your dump job wrote; check that the public key "
                "matches its DATACLONER_ARCHIVE_KEY",
            )
        return []

    # -- shape, checksums, state and schema -------------------------------------------
    def verify(self) -> None:
        """Everything else, before anything is touched: the manifest's keys and
        types, members (none missing, none unlisted), every member against its
        SHA-256, ``state.json``, and every schema statement (archive_sql)."""
        checksums = _check_manifest(self.manifest, self.path)
        names = set(self.zip.namelist()) - {MANIFEST, SIGNATURE}
        missing = sorted(set(checksums) - names)
        if missing:
            raise _damaged(self.path, f"members are missing: {', '.join(missing[:5])}")
        extra = sorted(names - set(checksums))
        if extra:
            raise _damaged(
                self.path, f"it holds members its manifest does not list: {_shown(extra[0])}"
            )
        for member in (*SCHEMA, STATE):
            if member not in checksums:
                raise _damaged(self.path, f"its manifest lists no {member}")
        self.tables = [ArchiveTable(**t) for t in self.manifest["tables"]]
        listed = {t.member for t in self.tables}
        for member in checksums:
            if member not in (*SCHEMA, STATE) and member not in listed:
                raise _damaged(self.path, f"member {member} belongs to no table")
        for member, checksum in checksums.items():
            digest = hashlib.sha256()
            small = member in (*SCHEMA, STATE)
            body = self._read_small(member, MAX_SCHEMA) if small else b""
            try:
                for chunk in [body] if small else self.stream(member):
                    digest.update(chunk)
            except _READ_ERRORS as exc:
                what = f"member {member} is corrupted ({type(exc).__name__})"
                raise _damaged(self.path, what) from None
            if digest.hexdigest() != checksum:
                raise _damaged(self.path, f"member {member} does not match its checksum")
            if member == STATE:
                self.state_data = _check_state(_json(body, self.path, STATE), self.path)
            elif small:
                self.schema[member] = archive_sql.checked(body, f"{self.path}: {member}")

    def state(self) -> dict[str, Any]:
        return self.state_data

    def stream(self, member: str) -> Iterator[bytes]:
        with self.zip.open(member) as handle:
            yield from _chunks(handle)

    def close(self) -> None:
        self.zip.close()


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK):
        yield chunk


def _shown(name: str) -> str:
    """A name from the archive, as one short printable line (it may be made up)."""
    return ascii(name[:60])[1:-1]


def _json(data: bytes, path: Path, member: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise _damaged(path, f"{member} is not valid JSON") from None


def _expect(ok: bool, path: Path, where: str, what: str) -> None:
    if not ok:
        raise _damaged(path, f"{MANIFEST}: {where}: expected {what}")


def _name(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) < 1024 and "\x00" not in value


def _user_schema(value: Any) -> bool:
    """Rows go only into the archive's own tables: never into the server's
    catalogs (a superuser's COPY into pg_catalog.pg_authid would make roles)."""
    return _name(value) and not value.startswith("pg_") and value != "information_schema"


def _check_manifest(m: dict[str, Any], path: Path) -> dict[str, str]:
    """The manifest's keys and types, as restore uses them; returns the checksums."""
    for key, kind, what in (
        ("datacloner_version", str, "a string"),
        ("rules_digest", str, "a string"),
        ("secret_fingerprint", str, "a string"),
        ("source", dict, "a mapping"),
        ("tables", list, "a list"),
        ("checksums", dict, "a mapping"),
    ):
        _expect(key in m, path, key, f"{what} (the key is missing)")
        _expect(isinstance(m[key], kind), path, key, what)
    for key, value in m["source"].items():
        _expect(isinstance(value, str), path, f"source.{key}", "a string")
    checksums: dict[str, str] = m["checksums"]
    for member, digest in checksums.items():
        ok = isinstance(digest, str) and bool(_HEX64.fullmatch(digest))
        _expect(ok, path, f"checksums.{_shown(member)}", "a SHA-256 in hex")
        ok = member in (*SCHEMA, STATE) or bool(_DATA.fullmatch(member))
        _expect(ok, path, f"checksums.{_shown(member)}", "a member such as data/00001.copy")
    seen_tables: set[tuple[str, str]] = set()
    seen_members: set[str] = set()
    fields = {"schema", "name", "columns", "member", "rows", "masked_columns"}
    for i, t in enumerate(m["tables"]):
        where = f"tables[{i}]"
        _expect(isinstance(t, dict), path, where, "a mapping")
        _expect(set(t) == fields, path, where, f"exactly the keys {', '.join(sorted(fields))}")
        ok = _user_schema(t["schema"]) and _name(t["name"])
        _expect(ok, path, where, "a table outside the system schemas (pg_*, information_schema)")
        for key in ("columns", "masked_columns"):
            ok = isinstance(t[key], list) and all(_name(c) for c in t[key])
            _expect(ok, path, f"{where}.{key}", "a list of column names")
        ok = isinstance(t["rows"], int) and not isinstance(t["rows"], bool) and t["rows"] >= 0
        _expect(ok, path, f"{where}.rows", "a whole number")
        _expect(isinstance(t["member"], str), path, f"{where}.member", "a member name")
        if t["member"] not in checksums or not _DATA.fullmatch(t["member"]):
            raise _damaged(path, f"{MANIFEST}: {where} names member {t['member'][:40]!r}, "
                           "which the archive does not hold")  # fmt: skip
        _expect((t["schema"], t["name"]) not in seen_tables, path, where, "each table once")
        _expect(t["member"] not in seen_members, path, where, "a member of its own")
        seen_tables.add((t["schema"], t["name"]))
        seen_members.add(t["member"])
    return checksums


def _check_state(state: Any, path: Path) -> dict[str, Any]:
    def expect(ok: bool, where: str, what: str) -> None:
        if not ok:
            raise _damaged(path, f"{STATE}: {where}: expected {what}")

    expect(isinstance(state, dict), "(top)", "a mapping")
    db = state.get("database")
    expect(isinstance(db, dict), "database", "a mapping")
    for key in ("encoding", "collate", "ctype"):
        value = db.get(key)
        ok = isinstance(value, str) and bool(_SETTING.fullmatch(value))
        expect(ok, f"database.{key}", "an encoding or locale name")

    def pairs(key: str, kinds: tuple[type, ...]) -> None:
        items = state.get(key)
        ok = isinstance(items, list) and all(
            isinstance(i, list)
            and len(i) == len(kinds)
            and all(
                isinstance(v, k) and (k is not int or not isinstance(v, bool))
                for v, k in zip(i, kinds, strict=True)
            )  # fmt: skip
            for i in items
        )
        expect(ok, key, f"a list of [{', '.join(k.__name__ for k in kinds)}]")

    pairs("sequences", (str, str, int, bool))
    pairs("populated_matviews", (str, str))
    pairs("not_valid_constraints", (str, str))
    for key in ("sequences", "populated_matviews"):
        ok = all(_user_schema(item[0]) for item in state[key])
        expect(ok, key, "objects outside the system schemas (pg_*, information_schema)")
    return state
