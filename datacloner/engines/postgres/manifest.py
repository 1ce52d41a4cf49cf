"""The manifest stored in every PostgreSQL copy: ``datacloner.refreshes``,
one row per refresh that produced the copy (what, when, from where, with
which rules). The ``datacloner`` schema is never copied from a source."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

SCHEMA = "datacloner"


def write_manifest(conn: psycopg.Connection, manifest: dict[str, Any]) -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {SCHEMA}.refreshes ("
        " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " started_at timestamptz, finished_at timestamptz, rules_digest text,"
        " secret_fingerprint text, version text, manifest jsonb NOT NULL)"
    )
    conn.execute(
        f"INSERT INTO {SCHEMA}.refreshes (started_at, finished_at, rules_digest, "
        "secret_fingerprint, version, manifest) VALUES (%s, %s, %s, %s, %s, %s)",
        (
            manifest.get("started_at") or None,
            manifest.get("finished_at") or None,
            manifest.get("rules_digest"),
            manifest.get("secret_fingerprint"),
            manifest.get("version"),
            Jsonb(manifest),
        ),
    )


def read_manifests(conn: psycopg.Connection) -> list[dict[str, Any]]:
    exists = conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.refreshes",)).fetchone()
    if not exists or exists[0] is None:
        return []
    rows = conn.execute(f"SELECT manifest FROM {SCHEMA}.refreshes ORDER BY id DESC").fetchall()
    return [r[0] for r in rows]
