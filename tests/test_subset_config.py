"""`subset:` in datacloner.yml: every mistake named at its file:line (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from datacloner.core.config import load_config
from datacloner.core.errors import UsageError

HEAD = (
    "source: postgresql://localhost/prod\nrules: r\nenvironments:\n  dev:\n"
    "    url: postgresql://localhost/dev\n    subset:\n"
)


def _load(tmp_path: Path, body: str):
    path = tmp_path / "datacloner.yml"
    path.write_text(HEAD + body)
    return load_config(path)


def _error(tmp_path: Path, body: str) -> str:
    with pytest.raises(UsageError) as info:
        _load(tmp_path, body)
    assert info.value.exit_code == 2
    return str(info.value).replace(str(tmp_path / "datacloner.yml"), "F")


def test_the_documented_block_parses(tmp_path: Path) -> None:
    spec = (
        _load(
            tmp_path,
            "      public.users: 2%\n"
            "      public.tenants: 50\n"
            "      public.orders: {where: \"created_at > now() - interval '90 days'\","
            " limit: 10000}\n"
            "      all: [public.plans, public.currencies]\n"
            "      empty: [public.events]\n"
            "      children: {public.audit_log: 1000}\n"
            "      nullable: null\n"
            "      disconnected: empty\n"
            "      max_rows: 5000000\n",
        )
        .environment("dev")
        .subset
    )
    assert spec is not None
    users, tenants, orders = spec.starts
    assert (users.share, users.count, tenants.count, orders.count) == (2.0, None, 50, 10000)
    assert orders.where and "interval" in orders.where
    assert [str(x.table) for x in spec.whole] == ["public.plans", "public.currencies"]
    assert (spec.nullable, spec.disconnected, spec.max_rows) == ("null", "empty", 5000000)
    assert spec.children[0][1] == 1000


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "      public.users: 0%\n",
            "F:7: environments.dev.subset.public.users: 0% is outside (0, 100]",
        ),
        (
            "      public.users: 101%\n",
            "F:7: environments.dev.subset.public.users: 101% is outside",
        ),
        (
            "      public.users: lots\n",
            "F:7: environments.dev.subset.public.users: expected a share",
        ),
        (
            "      public.users: 0\n",
            "F:7: environments.dev.subset.public.users: a row count must be 1",
        ),
        ("      users: 2%\n", "F:7: environments.dev.subset.users: unknown key `users`"),
        ("      public.users: 2%\n      childern: {public.a: 1}\n", "did you mean `children`?"),
        (
            "      public.users: 2%\n      nullable: maybe\n",
            "F:8: environments.dev.subset.nullable: expected follow or null",
        ),
        ("      public.users: 2%\n      disconnected: some\n", "expected all or empty"),
        (
            "      public.users: 2%\n      max_rows: -5\n",
            "F:8: environments.dev.subset.max_rows: expected a whole number",
        ),
        (
            "      public.users: 2%\n      children: {public.log: 0}\n",
            "F:8: environments.dev.subset.children.public.log: expected a whole number of 1",
        ),
        (
            "      public.users: {where: 3}\n",
            "F:7: environments.dev.subset.public.users: `where:` must be a SQL condition",
        ),
        ("      public.users: {where: 'a > 1', limt: 3}\n", "did you mean `limit`?"),
        ("      all: [public.plans]\n", "F:6: environments.dev.subset: no start table"),
        (
            "      all: [plans]\n      public.users: 1%\n",
            "F:7: environments.dev.subset.all[0]: write the table as schema.table",
        ),
    ],
)
def test_mistakes_are_named_at_their_line(tmp_path: Path, body: str, expected: str) -> None:
    assert expected in _error(tmp_path, body)


def test_a_table_listed_twice_names_both_lines(tmp_path: Path) -> None:
    message = _error(tmp_path, "      public.users: 2%\n      all: [public.plans, public.users]\n")
    assert (
        "F:8: environments.dev.subset.all[1]: public.users is listed twice in subset (first at F:7"
        in message
    )


def test_an_engine_without_subsetting_refuses_the_key(tmp_path: Path) -> None:
    """Read and then ignored, `subset: 2%` would copy the whole of production
    onto a laptop that expected 2% of it: an engine that cannot select rows
    refuses the key at load."""
    path = tmp_path / "datacloner.yml"
    path.write_text(
        "source: sqlite://\nrules: r\nenvironments:\n  dev:\n    url: sqlite://\n"
        "    subset: {main.users: 2%}\n"
    )
    from datacloner.engines import registry

    if getattr(registry.engine_of("sqlite://"), "subset", False):
        assert load_config(path).environment("dev").subset is not None
        return
    with pytest.raises(UsageError) as info:
        load_config(path)
    assert str(info.value).startswith(
        f"{path}:6: environments.dev.subset: subsetting is not supported for SQLite"
    )
