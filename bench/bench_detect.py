"""What the C detectors (``_detectnative.c``) buy, and what a regex library could.

    python bench/bench_detect.py [--n 50000] [--repeat 3]
    python bench/bench_detect.py --source postgresql://postgres@127.0.0.1:5432/dc_bench_200000
    python bench/bench_detect.py --refresh postgresql://postgres@127.0.0.1:5432/dc_bench_200000

Three measurements, CPU time of one core, best of ``--repeat``:

1. ``finder`` (what ``scrub``, ``scan`` and ``verify`` call) over realistic free
   text, with the C extension and with the Python detectors of the same
   module (``_detectnative`` set aside in this process only).
2. a whole ``scrub`` masker (find, fake, join, its cache), both ways. With
   ``--source``, over the ``orders.note`` and ``comments.body`` columns of a
   ``bench/make_db.sql`` database, as a refresh reads them.
3. the part of the Python path a regex library could replace: finding the
   candidates (the ``@`` signs and their local part and domain, the runs of
   digits and separators, the IBAN starts), with :mod:`re`, with google-re2
   and with hyperscan where they are installed (``pip install google-re2
   hyperscan``; neither is a dependency). Validating the candidates (Luhn,
   mod-97, phonenumbers, dates) stays Python whichever engine finds them.

``--refresh SOURCE`` times whole masked refreshes (``--jobs 1``, bench/rules.yml)
of a ``bench/make_db.sql`` database instead, alternating a process with the C
detectors and one without them (the other extensions stay on), ``--repeat``
times each: what the C file buys a refresh.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_masking import notes, plain_notes  # noqa: E402

from datacloner.core.location import Location  # noqa: E402
from datacloner.core.rules import MaskSpec  # noqa: E402
from datacloner.detect import detectors  # noqa: E402
from datacloner.masking.kinds.scrub import scrub_value_fn  # noqa: E402

SECRET = b"bench-secret-0123456789abcdef"
LOC = Location(Path("bench.yml"), 1)
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
REVIEWS = (
    "Great quality for the price, would buy again. Shipping took a bit longer than "
    "promised but the packaging was fine.",
    "Exactly as described. The colour is slightly darker than on the pictures, which I "
    "actually prefer.",
    "Meh. It works, but the stitching came loose after two weeks and the return process "
    "was confusing.",
)


def comments(n: int) -> list[str]:
    """``comments.body`` of bench/make_db.sql: 20% quote an email, 10% a phone, the
    rest canned reviews (made distinct here: no cache hits)."""
    out = []
    for c in range(n):
        email = f"user{c * 104729 % 1_000_003}@mail{c % 97}.example"
        phone = f"+1 {200 + c * 13 % 799}-555-{c * 7919 % 10000:04d}"
        if c % 10 == 0:
            out.append(
                f"Arrived broken, the box was crushed. Please get in touch at {email} so we "
                f"can sort out a replacement for order {c * 3}."
            )
        elif c % 10 == 5:
            out.append(f"Questions about sizing? Write to me ({email}) - happy to compare.")
        elif c % 10 == 7:
            out.append(f"Support never called back. My number is {phone}, I am home evenings.")
        else:
            out.append(f"{REVIEWS[c % 3]} ({1 + c % 5}/5) #{c}")
    return out


def dump_lines(n: int) -> list[str]:
    """Lines of the Pagila and Northwind dumps: addresses, phones, dates, amounts."""
    lines: list[str] = []
    for path in (FIXTURES / "northwind" / "northwind.sql", FIXTURES / "pagila" / "pagila-data.sql"):
        if path.exists():
            lines += [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return (lines * (n // max(len(lines), 1) + 1))[:n] if lines else []


CORPORA: dict[str, Callable[[int], list[str]]] = {
    "notes (an email and a phone each)": notes,
    "reviews (30% personal)": comments,
    "notes without personal data": plain_notes,
    "Pagila + Northwind dump lines": dump_lines,
}
KIND_SETS = {"email, phone": ("email", "phone"), "all kinds": detectors.KINDS}


@contextlib.contextmanager
def python_detectors() -> Iterator[None]:
    """detectors.py without its C form, as where the extension did not build."""
    saved = detectors._detectnative
    detectors._detectnative = None  # type: ignore[assignment]
    try:
        yield
    finally:
        detectors._detectnative = saved


def best_rate(fn: Callable[[str], Any], texts: list[str], repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        started = time.process_time()
        for text in texts:
            fn(text)
        best = max(best, len(texts) / max(time.process_time() - started, 1e-9))
    return best


def scrub_rate(kinds: tuple[str, ...], texts: list[str], repeat: int, native: bool) -> float:
    """A fresh scrub masker per run (an empty cache), values/s."""
    spec = MaskSpec(kind="scrub", location=LOC, options={"kinds": list(kinds), "patterns": {}})
    best = 0.0
    for _ in range(repeat):
        with contextlib.nullcontext() if native else python_detectors():
            mask = scrub_value_fn(spec, SECRET, None)
            started = time.process_time()
            for text in texts:
                mask(text)
            best = max(best, len(texts) / max(time.process_time() - started, 1e-9))
    return best


# The candidate searches of the Python path, written without look-behind (which
# RE2 and hyperscan lack): the same matches as detectors._SCAN.
_CANDIDATES = r"[0-9][0-9 .()/-]{5,}[0-9]|[A-Z][A-Z][0-9][0-9]"
_EMAIL_AROUND = r"[\w.%+-]{1,64}@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63}"


def candidates_re(text: str) -> int:
    found = sum(1 for _ in detectors._SCAN.finditer(text))
    if "@" in text:
        found += len(detectors._find_email(text))
    return found


def library_candidates() -> dict[str, Callable[[str], int]]:
    """The same candidate search through google-re2 and hyperscan, where installed."""
    engines: dict[str, Callable[[str], int]] = {}
    try:
        import re2  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        scan, email = re2.compile(_CANDIDATES), re2.compile(_EMAIL_AROUND)

        def candidates_re2(text: str) -> int:
            found = sum(1 for _ in scan.finditer(text))
            if "@" in text:
                found += sum(1 for _ in email.finditer(text))
            return found

        engines["google-re2"] = candidates_re2
    try:
        import hyperscan  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        db = hyperscan.Database()
        # hyperscan scans bytes: ASCII classes, no length bounds (start-of-match
        # tracking refuses them); fewer checks than the real search, a lower bound.
        patterns = (
            _CANDIDATES.encode(),
            rb"[A-Za-z0-9.%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}",
        )
        db.compile(
            expressions=patterns,
            ids=[0, 1],
            elements=2,
            flags=[hyperscan.HS_FLAG_SOM_LEFTMOST] * 2,
        )
        found: list[tuple[int, int, int]] = []

        def on_match(id_: int, start: int, end: int, flags: int, context: Any) -> None:
            found.append((id_, start, end))

        def candidates_hyperscan(text: str) -> int:
            found.clear()
            db.scan(text.encode(), match_event_handler=on_match)
            return len(found)

        engines["hyperscan"] = candidates_hyperscan
    return engines


def read_source(url: str, limit: int) -> dict[str, list[str]]:
    import psycopg

    columns = {}
    with psycopg.connect(url) as conn:
        for table, column in (("orders", "note"), ("comments", "body")):
            rows = conn.execute(
                f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL LIMIT %s", (limit,)
            ).fetchall()
            columns[f"{table}.{column}"] = [r[0] for r in rows]
    return columns


# A refresh whose process sets the C detectors aside before the CLI starts.
_WITHOUT_C = (
    "import sys; from datacloner.detect import detectors; detectors._detectnative = None; "
    "from datacloner.cli import main; sys.argv[0] = 'datacloner'; main()"
)
_WITH_C = "import sys; from datacloner.cli import main; sys.argv[0] = 'datacloner'; main()"


def time_refreshes(source: str, repeat: int) -> None:
    import yaml

    base, _, dbname = source.rpartition("/")
    target = f"{base}/{dbname}_detect_masked"
    rules = Path(__file__).resolve().parent / "rules.yml"
    with tempfile.TemporaryDirectory(prefix="dc-bench-detect-") as tmp:
        config = Path(tmp) / "datacloner.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "source": source,
                    "secret": "bench-detect-secret-0123456789",
                    "rules": str(rules),
                    "environments": {"bench": {"url": target}},
                }
            )
        )
        args = ["refresh", "bench", "-c", str(config), "--yes", "--jobs", "1"]
        times: dict[str, list[tuple[float, float]]] = {"C detectors": [], "Python detectors": []}
        for _ in range(repeat):
            for label, code in (("C detectors", _WITH_C), ("Python detectors", _WITHOUT_C)):
                started = time.perf_counter()
                errors = Path(tmp) / "stderr.txt"
                with errors.open("wb") as err:
                    proc = subprocess.Popen(
                        [sys.executable, "-c", code, *args], stdout=subprocess.DEVNULL, stderr=err
                    )
                    _, status, usage = os.wait4(proc.pid, 0)
                if status:
                    sys.exit(f"the refresh failed ({label}):\n{errors.read_text()[-2000:]}")
                wall = time.perf_counter() - started
                times[label].append((wall, usage.ru_utime + usage.ru_stime))
                print(f"  {label:<18} {wall:6.1f} s wall, {times[label][-1][1]:6.1f} CPU-s")
    # the fastest wall time and the least CPU of each, apart (a loaded machine
    # stretches wall time far more than CPU time)
    wall = {label: min(w for w, _ in runs) for label, runs in times.items()}
    cpu = {label: min(c for _, c in runs) for label, runs in times.items()}
    with_c, without = "C detectors", "Python detectors"
    print(
        f"wall: {wall[with_c]:.1f} s with, {wall[without]:.1f} s without the C detectors "
        f"({(wall[without] - wall[with_c]) / wall[without]:.0%} less); client CPU: "
        f"{cpu[with_c]:.1f} against {cpu[without]:.1f} CPU-s "
        f"({(cpu[without] - cpu[with_c]) / cpu[without]:.0%} less)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="texts per corpus")
    parser.add_argument("--repeat", type=int, default=3, help="best of R runs")
    parser.add_argument("--source", help="a bench/make_db.sql database: scrub its columns")
    parser.add_argument("--refresh", metavar="SOURCE", help="time refreshes of this database")
    args = parser.parse_args()
    if detectors._detectnative is None:
        sys.exit("datacloner.detect._detectnative is not built (or DATACLONER_PURE_PYTHON is set)")
    if args.refresh:
        time_refreshes(args.refresh, args.repeat)
        return
    corpora = {name: make(args.n) for name, make in CORPORA.items()}
    corpora = {name: texts for name, texts in corpora.items() if texts}

    print(f"1. finder(kinds), texts/s, {args.n:,} distinct texts, one core")
    print(f"{'corpus':<36} {'kinds':<12} {'C':>10} {'Python':>10} {'C/Python':>9}")
    for name, texts in corpora.items():
        for label, kinds in KIND_SETS.items():
            fast = best_rate(detectors.finder(kinds), texts, args.repeat)
            with python_detectors():
                slow = best_rate(detectors.finder(kinds), texts, args.repeat)
            print(f"{name:<36} {label:<12} {fast:>10,.0f} {slow:>10,.0f} {fast / slow:>8.1f}x")

    print("\n2. scrub masker (find, fake, join), values/s")
    columns = read_source(args.source, args.n * 4) if args.source else {}
    for name, texts in {**corpora, **columns}.items():
        fast = scrub_rate(("email", "phone"), texts, args.repeat, native=True)
        slow = scrub_rate(("email", "phone"), texts, args.repeat, native=False)
        spent = len(texts) / slow - len(texts) / fast
        print(
            f"{name:<36} {'email, phone':<12} {fast:>10,.0f} {slow:>10,.0f} "
            f"{fast / slow:>8.1f}x  ({spent:.2f} CPU-s saved on {len(texts):,})"
        )

    print("\n3. finding the candidates only (what a regex library could replace), texts/s")
    engines = {"re (today's Python path)": candidates_re, **library_candidates()}
    print(f"{'corpus':<36} " + " ".join(f"{e[:14]:>14}" for e in engines))
    for name, texts in corpora.items():
        rates = [best_rate(fn, texts, args.repeat) for fn in engines.values()]
        print(f"{name:<36} " + " ".join(f"{r:>14,.0f}" for r in rates))
    with python_detectors():
        total = best_rate(detectors.finder(("email", "phone")), corpora[next(iter(corpora))], 1)
    share = total / best_rate(candidates_re, corpora[next(iter(corpora))], 1)
    print(f"\ncandidate search with re: {share:.0%} of the Python finder's time on notes")


if __name__ == "__main__":
    main()
