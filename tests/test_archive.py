"""Masked archives: `dump` then `restore --to ENV` gives exactly what a direct
refresh gives, needs neither the source nor the secret, and refuses a
corrupted or truncated archive before touching anything. (Signatures and
tampered archives: test_archive_trust.py.)"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers import RULES, run_cli, run_in_process, write_config
from pgcompare import all_digests as _all_digests
from pgcompare import catalog_counts, columns_digest, sequence_positions

from datacloner.archive import sign as archive_sign

# the dump job holds the private key, CI only the public one
_KEY = Ed25519PrivateKey.generate()
DUMP_ENV = {archive_sign.PRIVATE_ENV: archive_sign.encode_private(_KEY)}
CI_ENV = {archive_sign.PUBLIC_ENV: archive_sign.encode_public(_KEY.public_key())}


@pytest.fixture(scope="module")
def archive(pg, pagila_src, tmp_path_factory) -> Path:
    """Dumped by a process of its own; the restores and the direct refresh then run
    in this one (helpers.run_in_process: no second of imports), another hash seed."""
    folder = tmp_path_factory.mktemp("dump")
    cfg = write_config(folder, pagila_src, RULES / "pagila.yml", {"dev": pg.url("unused")})
    done = run_cli("dump", str(folder / "snapshot.dcz"), "-c", str(cfg), "--json", env=DUMP_ENV)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["rows"] > 40_000
    return folder / "snapshot.dcz"


def _ci_config(folder: Path, target: str) -> Path:
    """What CI has: no production URL, no secret."""
    path = folder / "datacloner.yml"
    path.write_text(
        "source: ${PROD_DATABASE_URL}\nsecret: ${DATACLONER_SECRET}\n"
        f"rules: {RULES / 'pagila.yml'}\nenvironments:\n  test: {{url: {target}}}\n"
    )
    return path


def test_restore_equals_a_direct_refresh_without_source_or_secret(
    pg, pagila_src, archive, target_name, tmp_path
):
    restored = target_name
    direct = target_name + "_direct"
    try:
        done = run_in_process(
            "restore",
            str(archive),
            "--to",
            "test",
            "-c",
            str(_ci_config(tmp_path, pg.url(restored))),
            "--yes",
            env=CI_ENV,
        )
        assert done.returncode == 0, done.stderr
        assert "warning" not in done.stderr  # signed, and checked
        folder = tmp_path / "direct"
        folder.mkdir()
        cfg = write_config(folder, pagila_src, RULES / "pagila.yml", {"dev": pg.url(direct)})
        assert run_in_process("refresh", "dev", "-c", str(cfg), "--yes").returncode == 0

        assert _all_digests(pg, restored) == _all_digests(pg, direct)
        with pg.connect(restored) as a, pg.connect(direct) as b:
            assert catalog_counts(a) == catalog_counts(b)
            assert sequence_positions(a) == sequence_positions(b)
    finally:
        pg.drop(direct, direct + "__dc_prev")


def _existing_target(pg, archive: Path, name: str, folder: Path) -> str:
    cfg = _ci_config(folder, pg.url(name))
    done = run_in_process(
        "restore", str(archive), "--to", "test", "-c", str(cfg), "--yes", env=CI_ENV
    )
    assert done.returncode == 0, done.stderr
    with pg.connect(name) as conn:
        return columns_digest(conn, "public", "customer", ["customer_id", "email"])


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "drop the manifest"])
def test_a_damaged_archive_is_refused_and_nothing_changes(
    pg, archive, target_name, tmp_path, damage
):
    before = _existing_target(pg, archive, target_name, tmp_path)
    data = bytearray(archive.read_bytes())
    broken = tmp_path / "broken.dcz"
    if damage == "flip a byte":
        with zipfile.ZipFile(archive) as zf:  # inside the biggest data member
            info = max(zf.infolist(), key=lambda i: i.compress_size)
        data[info.header_offset + 200 + info.compress_size // 2] ^= 0xFF
        broken.write_bytes(bytes(data))
    elif damage == "truncate":
        broken.write_bytes(bytes(data[: len(data) // 2]))
    else:
        with zipfile.ZipFile(archive) as src, zipfile.ZipFile(broken, "w") as dst:
            for item in src.infolist():
                if item.filename != "manifest.json":
                    dst.writestr(item, src.read(item.filename))
    done = run_in_process(
        "restore",
        str(broken),
        "--to",
        "test",
        "-c",
        str(_ci_config(tmp_path, pg.url(target_name))),
        "--yes",
        env=CI_ENV,
    )
    assert done.returncode == 2, done.stderr  # damaged: exit 2, before anything is created
    assert "nothing was changed" in done.stderr
    assert "Traceback" not in done.stderr
    assert not pg.exists(target_name + "__dc_new")
    with pg.connect(target_name) as conn:
        assert columns_digest(conn, "public", "customer", ["customer_id", "email"]) == before


def test_an_archive_of_another_format_version_is_refused(archive, tmp_path, pg, target_name):
    other = tmp_path / "future.dcz"
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(other, "w") as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "manifest.json":
                manifest = json.loads(body)
                manifest["format_version"] = 99
                body = json.dumps(manifest).encode()
            dst.writestr(item, body)
    done = run_in_process(
        "restore",
        str(other),
        "--to",
        "test",
        "-c",
        str(_ci_config(tmp_path, pg.url(target_name))),
        "--yes",
        env=CI_ENV,
    )
    assert done.returncode == 1
    assert "format version 99" in done.stderr
    assert not pg.exists(target_name)


def test_the_archive_holds_no_source_value(archive, pg, pagila_src):
    name = pagila_src.rsplit("/", 1)[1]
    with pg.connect(name) as conn:
        emails = [r[0] for r in conn.execute("SELECT email FROM customer LIMIT 50")]
    with zipfile.ZipFile(archive) as zf:
        text = b"".join(zf.read(n) for n in zf.namelist() if n.startswith("data/"))
    assert not [e for e in emails if e.encode() in text]
