"""Helpers shared by the tests: configs and running the real CLI."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import traceback
from pathlib import Path

from conftest import _missing

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
LOCAL_RULES = ROOT / "tests" / "fixtures"


def write_config(
    folder: Path,
    source: str,
    rules: Path | str,
    targets: dict[str, str],
    secret: str | None = "test-secret-0123456789",
    extra: str = "",
) -> Path:
    lines = [f"source: {source}"]
    if secret is not None:
        lines.append(f"secret: {secret}")
    lines.append(f"rules: {rules}")
    lines.append("environments:")
    for env, url in targets.items():
        lines.append(f"  {env}:\n    url: {url}")
    path = folder / "datacloner.yml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed command, as a user runs it (no terminal, so no prompts)."""
    # the user's own DATACLONER_* settings must not leak into a test, except the
    # client programs' folder that a throwaway server sets
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DATACLONER_") or k == "DATACLONER_PG_BIN"
    }
    full_env.update(env or {})
    full_env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "datacloner.cli", *args],
        cwd=cwd,
        env=full_env,
        input=stdin or "",
        capture_output=True,
        text=True,
        timeout=600,
    )


def run_in_process(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """:func:`run_cli` without a new interpreter (its second of imports): the same
    app, arguments, exit code and separate stdout/stderr, through Typer's runner.
    For a verb's answer, or a run that sets up what a test checks: what needs a
    process of its own (signals, kills, the hash seed of a fresh process, output
    written by C straight to a file descriptor) stays with run_cli; two copies
    compared for equal masking come from two processes (one may be this one)."""
    from typer.testing import CliRunner

    from datacloner.cli import app

    cleared: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith("DATACLONER_") and k != "DATACLONER_PG_BIN"
    }
    full_env = {**cleared, **(env or {}), "COLUMNS": "200"}
    with contextlib.chdir(cwd or os.getcwd()):
        result = CliRunner().invoke(app, list(args), env=full_env)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))  # as Python prints it
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, stderr)


def native_missing(extension: str) -> None:
    """A native extension that did not build: CI builds every one, so there a
    missing one fails the module; elsewhere the module is skipped."""
    _missing(f"the native extension {extension} is not built")


@contextlib.contextmanager
def scratch_db(pg, name: str, statements: str):  # type: ignore[no-untyped-def]
    """A database of the test server made by ``statements``, dropped
    afterwards even when the test fails; yields its name."""
    pg.create(name)
    try:
        with pg.connect(name) as conn:
            conn.execute(statements)
        yield name
    finally:
        pg.drop(name)
