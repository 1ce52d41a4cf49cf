"""What a scan found: every column's finding, and the tables rules are written for.

Its own module so that the rules writer and the scan itself both import it,
and neither imports the other (no import cycle through ``datacloner.runtime.scan``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datacloner.core.catalog import Catalog, QualifiedName, Table
from datacloner.scan.classify import Finding


@dataclass
class ScanResult:
    findings: list[Finding]  # every column; personal ones first, then by table and column
    catalog: Catalog
    sample: int
    skipped: list[str] = field(default_factory=list)  # columns whose values could not be read

    @property
    def personal(self) -> list[Finding]:
        return [f for f in self.findings if f.personal]

    @property
    def tables(self) -> list[QualifiedName]:
        """The tables rules are written for, sorted (including any without columns)."""
        return sorted(t.qualified for t in roots(self.catalog))


def roots(catalog: Catalog) -> list[Table]:
    """The tables rules are written for: plain tables and the top partitioned
    parents (their partitions follow their rules)."""
    return [t for t in catalog.tables.values() if catalog.root_of(t) is t]
