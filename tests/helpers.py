"""Helpers shared by the tests: configs and running the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
