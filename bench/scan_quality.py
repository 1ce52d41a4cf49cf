"""How well `datacloner scan` finds personal columns: recall and precision on
every fixture database, against labelled ground truth.

    python bench/scan_quality.py [--pg postgresql://postgres@127.0.0.1:5432]

Ground truth: tests/fixtures/scan_truth.json for the Rails-style and
Django-style applications and for Mastodon, Saleor, WordPress+WooCommerce and
Gitea (labelled before their first scan); the hand-written rules for Pagila, Northwind and
the traps fixture (masked = personal; kept with a reason = debatable); the
demo's rules for the SQLite demo. Each database is loaded into a throwaway
database (dropped afterwards). Prints one line per fixture and the total.
Targets (issue 13): recall >= 95%, precision >= 90%, no framework table flagged.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datacloner.core.rules import load_rules  # noqa: E402
from datacloner.engines.registry import engine_for  # noqa: E402
from datacloner.runtime.scan import DEFAULT_SAMPLE, ScanResult, scan_source  # noqa: E402
from datacloner.scan.frameworks import framework_of  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
SHARED = Path(os.environ.get("DATACLONER_FIXTURES", "/work/shared/fixtures"))
TRUTH = FIXTURES / "scan_truth.json"
Column = tuple[str, str]  # (table, column)


@dataclass
class Truth:
    personal: set[Column]
    either: set[Column] = field(default_factory=set)
    framework: set[str] = field(default_factory=set)


@dataclass
class Score:
    name: str
    found: set[Column]
    missed: set[Column]
    false: set[Column]
    framework_flagged: set[Column]

    @property
    def recall(self) -> float:
        hits = len(self.found)
        return hits / (hits + len(self.missed)) if hits + len(self.missed) else 1.0

    @property
    def precision(self) -> float:
        hits = len(self.found)
        return hits / (hits + len(self.false)) if hits + len(self.false) else 1.0

    def line(self) -> str:
        return (
            f"{self.name:<14} recall {self.recall:6.1%} ({len(self.found)}/"
            f"{len(self.found) + len(self.missed)})  precision {self.precision:6.1%}  "
            f"framework columns flagged: {len(self.framework_flagged)}"
        )


def _pair(text: str) -> Column:
    table, column = text.rsplit(".", 1)
    return table, column


def truth_from_json(name: str) -> Truth:
    data = json.loads(TRUTH.read_text(encoding="utf-8"))[name]
    return Truth(
        personal={_pair(c) for c in data["personal"]},
        either={_pair(c) for c in data.get("either", [])},
        framework=set(data.get("framework", [])),
    )


def truth_from_rules(path: Path) -> Truth:
    """Masked columns are personal; columns kept with a reason are debatable."""
    truth = Truth(personal=set())
    for rules in load_rules(path).tables:
        truth.personal.update((rules.table.name, column) for column in rules.mask)
        truth.either.update((rules.table.name, column) for column in rules.keep_reasons)
    return truth


def score(name: str, result: ScanResult, truth: Truth) -> Score:
    flagged = {(f.table_name, f.column) for f in result.personal}
    considered = flagged - truth.either
    return Score(
        name=name,
        found=considered & truth.personal,
        missed=truth.personal - flagged,
        false=considered - truth.personal,
        framework_flagged={c for c in flagged if c[0] in truth.framework or framework_of(c[0])},
    )


def scan_url(url: str, sample: int = DEFAULT_SAMPLE) -> ScanResult:
    with engine_for(url).open_source(url) as source:
        return scan_source(source, source.read_catalog(), sample)


def fixture_files() -> dict[str, list[Path]]:
    return {
        "rails_app": [FIXTURES / "rails_app.sql"],
        "django_app": [FIXTURES / "django_app.sql"],
        "mastodon_app": [FIXTURES / "mastodon_app.sql"],
        "saleor_app": [FIXTURES / "saleor_app.sql"],
        "wordpress_app": [FIXTURES / "wordpress_app.sql"],
        "gitea_app": [FIXTURES / "gitea_app.sql"],
        "pagila": [SHARED / "pagila" / "pagila-schema.sql", SHARED / "pagila" / "pagila-data.sql"],
        "northwind": [SHARED / "northwind" / "northwind.sql"],
        "traps": [FIXTURES / "traps.sql"],
    }


def truth_for(name: str) -> Truth:
    rules = {
        "pagila": ROOT / "rules" / "pagila.yml",
        "northwind": ROOT / "rules" / "northwind.yml",
        "traps": FIXTURES / "traps.yml",
        "demo": ROOT / "examples" / "demo" / "rules.yml",
    }
    return truth_from_rules(rules[name]) if name in rules else truth_from_json(name)


def _psql(server: str, database: str, *args: str) -> None:
    subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", f"{server}/{database}", *args],
        check=True,
        capture_output=True,
        text=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--sample", type=int, default=DEFAULT_SAMPLE)
    args = parser.parse_args()
    scores = []
    for name, files in fixture_files().items():
        if not all(f.exists() for f in files):
            print(f"{name:<12} skipped: fixture files missing")
            continue
        db = f"dc_scanq_{uuid.uuid4().hex[:6]}_{name}"
        _psql(args.pg, "postgres", "-c", f"CREATE DATABASE {db}")
        try:
            for f in files:
                _psql(args.pg, db, "-f", str(f))
            scores.append(score(name, scan_url(f"{args.pg}/{db}", args.sample), truth_for(name)))
        finally:
            _psql(args.pg, "postgres", "-c", f"DROP DATABASE IF EXISTS {db}")
        print(scores[-1].line(), flush=True)
    demo = ROOT / "examples" / "demo" / "source.db"
    if demo.exists():
        scores.append(score("demo", scan_url(f"sqlite:///{demo}", args.sample), truth_for("demo")))
        print(scores[-1].line())
    total = Score(
        "total",
        *(
            set().union(*({(s.name, *c) for c in getattr(s, part)} for s in scores))
            for part in ("found", "missed", "false", "framework_flagged")
        ),
    )
    print(total.line())
    for s in scores:
        for label, cols in (("missed", s.missed), ("false alarm", s.false)):
            for table, column in sorted(cols):
                print(f"  {s.name}: {label}: {table}.{column}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
