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
  rows and data member, and a SHA-256 per member.

Restore reads every member once and checks it against the manifest before
anything is created on the target. No database code here.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from datacloner import __version__
from datacloner.errors import Refused, UsageError

FORMAT = "datacloner-archive"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STATE = "state.json"
CHUNK = 1 << 20


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

    def close(self, manifest: dict[str, Any]) -> None:
        """Only a complete archive gets the final name: a crash leaves a
        ``.partial`` file, never a truncated archive under the real name."""
        body = {
            **manifest,
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "datacloner_version": __version__,
            "tables": [t.__dict__ for t in self.tables],
            "checksums": self.checksums,
        }
        self.zip.writestr(MANIFEST, json.dumps(body, indent=2, default=str))
        self.zip.close()
        self.partial.replace(self.path)

    def abort(self) -> None:
        self.zip.close()
        self.partial.unlink(missing_ok=True)


class ArchiveReader:
    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise UsageError(f"no archive at {path}")
        try:
            self.zip = zipfile.ZipFile(path)
            self.manifest: dict[str, Any] = json.loads(self.zip.read(MANIFEST))
        except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError) as exc:
            raise Refused(
                f"{path} is not a complete datacloner archive ({type(exc).__name__}): it may be "
                "truncated or corrupted; nothing was changed",
                hint="create it again with `datacloner dump`",
            ) from None
        self.path = path
        if self.manifest.get("format") != FORMAT:
            raise Refused(f"{path} is not a datacloner archive")
        version = self.manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise Refused(
                f"{path} has archive format version {version}; this datacloner reads "
                f"version {FORMAT_VERSION}",
                hint="restore it with the datacloner version that wrote it "
                f"({self.manifest.get('datacloner_version')})",
            )
        self.tables = [ArchiveTable(**t) for t in self.manifest["tables"]]

    def verify(self) -> None:
        """Every member against its SHA-256 (and ZIP's CRC), before anything
        is touched."""
        expected: dict[str, str] = self.manifest["checksums"]
        present = set(self.zip.namelist()) - {MANIFEST}
        missing = set(expected) - present
        if missing:
            raise Refused(f"{self.path} is missing members: {', '.join(sorted(missing))}")
        for member, checksum in expected.items():
            digest = hashlib.sha256()
            try:
                for chunk in self.stream(member):
                    digest.update(chunk)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise Refused(
                    f"{self.path}: member {member} is corrupted ({exc}); nothing was changed"
                ) from None
            if digest.hexdigest() != checksum:
                raise Refused(
                    f"{self.path}: member {member} does not match its checksum; the archive is "
                    "corrupted and nothing was changed"
                )

    def read(self, member: str) -> bytes:
        return self.zip.read(member)

    def state(self) -> dict[str, Any]:
        return json.loads(self.zip.read(STATE))

    def stream(self, member: str) -> Iterator[bytes]:
        with self.zip.open(member) as handle:
            yield from _chunks(handle)

    def close(self) -> None:
        self.zip.close()


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK):
        yield chunk
