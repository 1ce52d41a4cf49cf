"""The refresh report: what was copied and masked, printed at the end and
available as JSON for cron jobs and CI (``--json``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from datacloner import __version__
from datacloner.core.redaction import scrub_data


@dataclass
class TableReport:
    table: str
    action: str  # copied | masked | skipped
    rows: int = 0
    masked_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Report:
    environment: str
    target: str  # redacted URL
    source: dict[str, str] = field(default_factory=dict)
    rules_digest: str = ""
    secret_fingerprint: str = ""
    started_at: str = ""
    finished_at: str = ""
    seconds: float = 0.0
    tables: list[TableReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    version: str = __version__

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def masked_columns(self) -> int:
        return sum(len(t.masked_columns) for t in self.tables)

    def as_dict(self) -> dict[str, Any]:
        """For ``--json`` and the manifest stored in the copy: no secret or
        ${VAR} value in either (redaction.scrub)."""
        data = asdict(self)
        data["totals"] = {
            "tables": len(self.tables),
            "rows": self.rows,
            "masked_columns": self.masked_columns,
        }
        return scrub_data(data)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=False)
