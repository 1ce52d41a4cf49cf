"""Guards refuse a dangerous target before anything is created on it."""

from __future__ import annotations

import pytest
from helpers import RULES, run_cli, run_in_process, write_config
from pgcompare import columns_digest

from datacloner.core.errors import Refused
from datacloner.core.guards import refuse_protected


def test_target_that_is_the_source_under_another_spelling_is_refused(pg, pagila_src, tmp_path):
    name = pagila_src.rsplit("/", 1)[1]
    # same server and database, spelled with "localhost" instead of 127.0.0.1
    alias = f"postgresql://{pg.user}@localhost:{pg.port}/{name}"
    if pg.host not in ("127.0.0.1", "localhost"):
        pytest.skip("the alias test needs a server on the loopback interface")
    with pg.connect(name) as conn:
        before = columns_digest(conn, "public", "customer", ["customer_id", "email"])
    cfg = write_config(tmp_path, pagila_src, RULES / "pagila.yml", {"dev": alias})
    # the refusals in this process (no second of imports); what must never be
    # printed below is read from real processes
    done = run_in_process("refresh", "dev", "-c", str(cfg), "--yes")
    assert done.returncode == 1, done.stderr
    assert "the target is the source database" in done.stderr
    assert "Traceback" not in done.stderr
    assert not pg.exists(name + "__dc_new")
    with pg.connect(name) as conn:
        assert columns_digest(conn, "public", "customer", ["customer_id", "email"]) == before


def test_protected_host_is_refused(pg, pagila_src, target_name, tmp_path):
    cfg = write_config(
        tmp_path,
        pagila_src,
        RULES / "pagila.yml",
        {"dev": f"postgresql://{pg.user}@localhost:{pg.port}/{target_name}"},
        extra="protected: ['db.prod.*', localhost]\n",
    )
    done = run_in_process("refresh", "dev", "-c", str(cfg), "--yes")
    assert done.returncode == 1
    assert "is protected" in done.stderr and "localhost" in done.stderr
    assert not pg.exists(target_name) and not pg.exists(target_name + "__dc_new")


def test_protected_globs_and_aliases():
    with pytest.raises(Refused):
        refuse_protected("postgresql://u@db.prod.internal/app", ("db.prod.*",))
    with pytest.raises(Refused):  # the same address under another name
        refuse_protected("postgresql://u@127.0.0.1/app", ("localhost",))
    refuse_protected("postgresql://u@staging.internal/app", ("db.prod.*",))
    refuse_protected("sqlite:///dev.db", ("localhost",))


def test_passwords_in_urls_are_never_printed(pg, pagila_src, target_name, tmp_path):
    secret_password = "s3cr3t-Pa55word"
    source = f"postgresql://nobody:{secret_password}@127.0.0.1:1/prod"
    target = f"postgresql://{pg.user}:{secret_password}@{pg.host}:{pg.port}/{target_name}"
    cfg = write_config(tmp_path, source, RULES / "pagila.yml", {"dev": target})
    for args in (["refresh", "dev", "--yes"], ["check"], ["status", "dev"], ["preview", "x"]):
        done = run_cli(*args, "-c", str(cfg))
        assert done.returncode != 0 or args[0] == "status"
        assert secret_password not in done.stdout + done.stderr, args
    # a successful refresh's report shows the target without its password
    cfg = write_config(tmp_path, pagila_src, RULES / "pagila.yml", {"dev": target})
    done = run_cli("refresh", "dev", "--yes", "--json", "-c", str(cfg))
    assert done.returncode == 0, done.stderr
    assert secret_password not in done.stdout + done.stderr
    assert "***" in done.stdout
