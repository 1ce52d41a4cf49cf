"""`datacloner preview TABLE`: originals beside masked values, as a refresh masks them."""

from __future__ import annotations

from helpers import RULES, run_cli, run_in_process, write_config

from datacloner.core.config import load_config
from datacloner.runtime.preview import preview


def test_preview_shows_masked_beside_original_deterministically(pg, pagila_src, tmp_path):
    cfg = write_config(tmp_path, pagila_src, RULES / "pagila.yml", {"dev": pg.url("x")})
    config = load_config(cfg)
    first = preview(config, "public.customer", 40)
    assert first.columns == ["first_name", "last_name", "email"]
    assert len(first.rows) == 40
    seen: dict[str, str] = {}
    for originals, masked in first.rows:
        email, fake = originals[2], masked[2]
        assert fake != email and "@" in fake
        seen[email] = fake
    again = preview(config, "public.customer", 40)  # another sample, same mapping
    for originals, masked in again.rows:
        if originals[2] in seen:
            assert seen[originals[2]] == masked[2]

    shown = run_cli("preview", "customer", "--rows", "3", "-c", str(cfg))
    assert shown.returncode == 0, shown.stderr
    assert "original → masked" in shown.stdout and "email" in shown.stdout

    missing = run_in_process("preview", "custmer", "-c", str(cfg))
    assert missing.returncode == 2
    assert "public.customer" in missing.stderr
