"""datacloner.yml: happy paths and every error message (file, line, key)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from datacloner.core.config import Config, Environment, find_config, load_config
from datacloner.core.errors import UsageError
from datacloner.core.location import Location
from datacloner.core.yamlsource import parse_yaml

BASE = """\
source: sqlite:///prod.db
rules: rules/
environments:
  dev: {url: sqlite:///dev.db}
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests must not depend on the developer's shell.
    for name in (
        "PROD_DATABASE_URL",
        "DATACLONER_SECRET",
        "STAGING_DATABASE_URL",
        "DATACLONER_CONFIG",
        "DC_TEST_VAR",
        "MISSING_DC_VAR",
    ):
        monkeypatch.delenv(name, raising=False)


def write(folder: Path, text: str, name: str = "datacloner.yml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(folder: Path, text: str) -> UsageError:
    path = write(folder, text)
    with pytest.raises(UsageError) as info:
        load_config(path)
    assert info.value.exit_code == 2
    return info.value


def lines_of(err: UsageError) -> list[str]:
    return str(err).splitlines()


# --- happy paths -----------------------------------------------------------------


def test_full_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROD_DATABASE_URL", "postgresql://reader:pw@db.prod.internal/app")
    monkeypatch.setenv("DATACLONER_SECRET", "s3cret-0123456789abcdef")
    path = write(
        tmp_path / "conf",
        """\
        source: ${PROD_DATABASE_URL}
        secret: ${DATACLONER_SECRET}
        rules: rules/
        protected: [db.prod.internal, "*.prod.example.com"]
        environments:
          dev:
            url: postgresql://localhost/app_dev
            keep: 1
          test: {url: postgresql://localhost/app_test}
          staging: {url: ${STAGING_DATABASE_URL:-postgresql+psycopg://h/db}, after: [sql/s.sql]}
          demo: {url: sqlite:///demo.db, on_busy: wait, keep: 3}
        """,
    )
    config = load_config(path)
    assert isinstance(config, Config)
    assert config.path == path
    assert config.source == "postgresql://reader:pw@db.prod.internal/app"
    assert config.secret == "s3cret-0123456789abcdef"
    assert config.require_secret() == b"s3cret-0123456789abcdef"
    assert "s3cret" not in repr(config)  # configs get logged; the key must not be
    assert config.rules_path == tmp_path / "conf" / "rules"
    assert config.protected == ("db.prod.internal", "*.prod.example.com")
    assert list(config.environments) == ["dev", "test", "staging", "demo"]

    dev = config.environment("dev")
    assert dev == Environment(
        name="dev",
        url="postgresql://localhost/app_dev",
        location=Location(path, 6),
    )
    assert dev.on_busy == "terminate" and dev.keep == 1 and dev.after == ()

    staging = config.environment("staging")
    assert staging.url == "postgresql+psycopg://h/db"  # the default after :-
    assert staging.after == (tmp_path / "conf" / "sql" / "s.sql",)
    assert staging.location == Location(path, 10)

    demo = config.environment("demo")
    assert (demo.on_busy, demo.keep) == ("wait", 3)
    # sqlite paths are relative to the config's folder, like every other path.
    assert demo.url == f"sqlite:///{tmp_path / 'conf' / 'demo.db'}"


def test_environment_variable_overrides_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DC_TEST_VAR", "postgresql://from-env/db")
    config = load_config(
        write(tmp_path, BASE.replace("sqlite:///prod.db", "${DC_TEST_VAR:-sqlite:///x.db}"))
    )
    assert config.source == "postgresql://from-env/db"


def test_empty_variable_uses_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DC_TEST_VAR", "")
    config = load_config(
        write(tmp_path, BASE.replace("sqlite:///prod.db", "${DC_TEST_VAR:-sqlite:///x.db}"))
    )
    assert config.source == f"sqlite:///{tmp_path / 'x.db'}"


def test_variables_inside_a_string_and_literal_escape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DC_TEST_VAR", "db.internal")
    config = load_config(
        write(
            tmp_path,
            """\
            source: postgresql://u@${DC_TEST_VAR}:5432/app
            rules: $${not_a_var}/rules
            environments:
              dev: {url: sqlite:///dev.db}
            """,
        )
    )
    assert config.source == "postgresql://u@db.internal:5432/app"
    assert config.rules_path == tmp_path / "${not_a_var}" / "rules"


def test_unquoted_variables_in_flow_collections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `{url: ${X}}` is not valid YAML on its own ({ and } are flow indicators);
    # the contract's own example writes it that way, so it must work.
    monkeypatch.setenv("DC_TEST_VAR", "postgresql://h/staging")
    config = load_config(
        write(
            tmp_path,
            """\
            source: sqlite:///prod.db
            rules: rules/
            protected: [${DC_TEST_VAR:-a}, $${literal}]
            environments:
              staging: {url: ${DC_TEST_VAR}, after: [${MISSING_DC_VAR:-x.sql}]}
            """,
        )
    )
    assert config.environment("staging").url == "postgresql://h/staging"
    assert config.environment("staging").after == (tmp_path / "x.sql",)
    assert config.protected == ("postgresql://h/staging", "${literal}")


def test_relative_config_path_keeps_paths_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, BASE)
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("datacloner.yml"))
    assert config.rules_path == Path("rules")
    assert config.environment("dev").url == "sqlite:///dev.db"
    assert config.environment("dev").location == Location(Path("datacloner.yml"), 4)


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path / "c",
            """\
            source: sqlite:////data/prod.db
            rules: /etc/datacloner/rules
            environments:
              dev: {url: "sqlite://", after: [/srv/after.sql]}
            """,
        )
    )
    assert config.source == "sqlite:////data/prod.db"
    assert config.rules_path == Path("/etc/datacloner/rules")
    assert config.environment("dev").url == "sqlite://"
    assert config.environment("dev").after == (Path("/srv/after.sql"),)


def test_postgres_scheme_is_normalised(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE.replace("sqlite:///prod.db", "postgres://h/db")))
    assert config.source == "postgresql://h/db"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://h/db",
        "postgresql+psycopg://u:p@h:5432/db",
        "sqlite://",
    ],
)
def test_supported_url_schemes(tmp_path: Path, url: str) -> None:
    config = load_config(write(tmp_path, BASE.replace("sqlite:///dev.db", url)))
    assert config.environment("dev").url == url


def test_merge_keys_share_settings(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """\
            source: sqlite:///prod.db
            rules: rules/
            environments:
              dev: &base {url: sqlite:///dev.db, on_busy: wait, keep: 2}
              test:
                <<: *base
                url: sqlite:///test.db
            """,
        )
    )
    test = config.environment("test")
    assert (test.url, test.on_busy, test.keep) == (f"sqlite:///{tmp_path / 'test.db'}", "wait", 2)


def test_secret_omitted_is_none_and_required_later(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE))
    assert config.secret is None
    with pytest.raises(UsageError) as info:
        config.require_secret()
    err = info.value
    assert err.exit_code == 2
    assert "datacloner.yml" in str(err) and "secret" in str(err)
    assert err.hint is not None
    assert "secret: ${DATACLONER_SECRET}" in err.hint
    assert "export DATACLONER_SECRET=" in err.hint


def test_empty_secret_is_refused(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE + 'secret: ""\n'))
    with pytest.raises(UsageError) as info:
        config.require_secret()
    assert info.value.exit_code == 2
    assert "is empty" in str(info.value)


def test_environment_unknown_names_closest(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, BASE + "  staging: {url: sqlite:///s.db}\n  test: {url: sqlite:///t.db}\n")
    )
    with pytest.raises(UsageError) as info:
        config.environment("stagin")
    err = info.value
    assert err.exit_code == 2
    assert "`stagin`" in str(err) and "did you mean `staging`?" in str(err)
    assert str(tmp_path / "datacloner.yml") in str(err)
    assert err.hint is not None and "dev, staging, test" in err.hint


# --- find_config -----------------------------------------------------------------


def test_find_config_explicit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, BASE, "custom.yml")
    monkeypatch.setenv("DATACLONER_CONFIG", str(tmp_path / "ignored.yml"))
    assert find_config(path) == path


def test_find_config_explicit_folder(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    assert find_config(tmp_path) == path


def test_find_config_explicit_missing(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        find_config(tmp_path / "nope.yml")
    err = info.value
    assert err.exit_code == 2
    assert "nope.yml" in str(err) and "--config" in str(err)
    assert err.hint is not None and "docs/configuration.md" in err.hint


def test_find_config_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, BASE, "env.yml")
    monkeypatch.setenv("DATACLONER_CONFIG", str(path))
    assert find_config(None) == path


def test_find_config_from_environment_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATACLONER_CONFIG", str(tmp_path / "gone.yml"))
    with pytest.raises(UsageError) as info:
        find_config(None)
    assert info.value.exit_code == 2
    assert "gone.yml" in str(info.value) and "$DATACLONER_CONFIG" in str(info.value)


def test_find_config_in_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, BASE)
    monkeypatch.chdir(tmp_path)
    assert find_config(None) == Path("datacloner.yml")


def test_find_config_missing_in_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as info:
        find_config(None)
    err = info.value
    assert err.exit_code == 2
    assert "no datacloner.yml in" in str(err) and str(tmp_path) in str(err)
    assert err.hint is not None
    assert "--config" in err.hint and "DATACLONER_CONFIG" in err.hint


# --- interpolation errors --------------------------------------------------------


def _raised(call: Callable[[], object]) -> UsageError:
    with pytest.raises(UsageError) as info:
        call()
    assert info.value.exit_code == 2
    return info.value


def test_missing_variable_names_it_and_line(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """\
            rules: rules/
            source: ${PROD_DATABASE_URL}
            environments:
              dev: {url: sqlite:///dev.db}
            """,
        )
    )
    err = _raised(config.require_source)
    assert lines_of(err) == [
        f"{tmp_path / 'datacloner.yml'}:2: source: environment variable PROD_DATABASE_URL "
        "is not set"
    ]
    assert err.hint is not None and "export PROD_DATABASE_URL=" in err.hint


def test_missing_secret_variable_says_how_to_set_it(tmp_path: Path) -> None:
    """Reported when masking needs it: `restore` in CI has no secret."""
    config = load_config(write(tmp_path, BASE + "secret: ${DATACLONER_SECRET}\n"))
    err = _raised(config.require_secret)
    assert str(err) == (
        f"{tmp_path / 'datacloner.yml'}:5: secret: environment variable DATACLONER_SECRET "
        "is not set"
    )
    assert err.hint is not None and "export DATACLONER_SECRET=" in err.hint


def test_empty_variable_without_default_is_an_error_when_the_environment_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DC_TEST_VAR", "")
    config = load_config(write(tmp_path, BASE.replace("sqlite:///dev.db", "${DC_TEST_VAR}")))
    with pytest.raises(UsageError) as info:
        config.environment("dev")
    assert info.value.exit_code == 2
    assert lines_of(info.value) == [
        f"{tmp_path / 'datacloner.yml'}:4: environments.dev.url: "
        "environment variable DC_TEST_VAR is not set"
    ]


def test_unclosed_variable(tmp_path: Path) -> None:
    err = load_error(tmp_path, BASE.replace("rules/", "${DC_TEST_VAR"))
    assert str(err) == f"{tmp_path / 'datacloner.yml'}:2: rules: `${{` without a closing `}}`"


def test_invalid_variable_name(tmp_path: Path) -> None:
    err = load_error(tmp_path, BASE.replace("rules/", "${1ABC}"))
    assert str(err).startswith(
        f"{tmp_path / 'datacloner.yml'}:2: rules: `${{1ABC}}` is not a variable reference"
    )


def test_an_unused_environment_does_not_need_its_variables(tmp_path: Path) -> None:
    """`refresh dev` on a laptop must not need STAGING_DATABASE_URL."""
    config = load_config(
        write(
            tmp_path,
            """\
            source: sqlite:///prod.db
            rules: rules/
            environments:
              dev: {url: sqlite:///dev.db}
              staging: {url: ${STAGING_DATABASE_URL}, after: [a.sql]}
            """,
        )
    )
    assert config.environment("dev").url.endswith("dev.db")
    with pytest.raises(UsageError) as info:
        config.environment("staging")
    assert info.value.exit_code == 2
    assert "datacloner.yml:5: environments.staging.url" in str(info.value)
    assert "STAGING_DATABASE_URL" in str(info.value)


def test_a_missing_source_variable_is_reported_when_the_source_is_used(tmp_path: Path) -> None:
    """`restore` in CI has no production credentials: only reading the source needs them."""
    config = load_config(
        write(
            tmp_path,
            """\
            source: ${PROD_DATABASE_URL}
            rules: rules/
            environments:
              dev: {url: sqlite:///dev.db}
            """,
        )
    )
    assert config.environment("dev").url.endswith("dev.db")
    with pytest.raises(UsageError) as info:
        config.require_source()
    assert info.value.exit_code == 2
    assert lines_of(info.value)[0].endswith(
        "datacloner.yml:1: source: environment variable PROD_DATABASE_URL is not set"
    )


# --- validation errors -----------------------------------------------------------


def test_url_not_a_string_reads_like_the_contract(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        """\
        source: sqlite:///prod.db
        rules: rules/
        protected: []
        environments:
          test: {url: sqlite:///t.db}

          dev:
            url: 5
        """,
    )
    assert str(err) == (
        f"{tmp_path / 'datacloner.yml'}:8: environments.dev.url: expected a string "
        "(a SQLAlchemy URL such as postgresql://host/db or sqlite:///file.db)"
    )


def test_unknown_top_level_key_names_closest(tmp_path: Path) -> None:
    err = load_error(tmp_path, BASE + "secrt: x\n")
    assert str(err) == (
        f"{tmp_path / 'datacloner.yml'}:5: secrt: unknown key `secrt`; did you mean `secret`?"
    )


def test_unknown_environment_key_names_closest(tmp_path: Path) -> None:
    err = load_error(tmp_path, BASE + "  test:\n    url: sqlite://\n    onbusy: wait\n")
    assert str(err) == (
        f"{tmp_path / 'datacloner.yml'}:7: environments.test.onbusy: unknown key `onbusy`; "
        "did you mean `on_busy`?"
    )


def test_unknown_key_without_close_match_lists_allowed(tmp_path: Path) -> None:
    err = load_error(tmp_path, BASE + "zzz: 1\n")
    assert "datacloner.yml:5: zzz: unknown key `zzz`; allowed keys: source, secret" in str(err)


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("source: 5\nrules: r\n", 1, "source: expected a string (a SQLAlchemy URL"),
        ("source: sqlite://\nrules: 5\n", 2, "rules: expected a string (a rules file or folder"),
        ("source: sqlite://\nrules: ''\n", 2, "rules: must not be empty"),
        ("source: sqlite://\nrules: r\nsecret: 12\n", 3, "secret: expected a string"),
        (
            "source: sqlite://\nrules: r\nprotected: db.prod\n",
            3,
            "protected: expected a list (host names or globs",
        ),
        (
            "source: sqlite://\nrules: r\nprotected: [1]\n",
            3,
            "protected[0]: expected a string (a host name or glob",
        ),
    ],
)
def test_top_level_type_errors(tmp_path: Path, text: str, line: int, expected: str) -> None:
    err = load_error(tmp_path, text + "environments:\n  dev: {url: sqlite://}\n")
    assert str(err).startswith(f"{tmp_path / 'datacloner.yml'}:{line}: {expected}")


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ("after: sql/x.sql", "environments.dev.after: expected a list (SQL files"),
        ("after: ['']", "environments.dev.after[0]: must not be empty"),
        ("subset: [a]", "environments.dev.subset: expected a mapping (table to size"),
        ("on_busy: kill", "environments.dev.on_busy: expected one of terminate, wait, fail"),
        ("keep: -1", "environments.dev.keep: must be 0 or more"),
        ("keep: true", "environments.dev.keep: expected a whole number"),
        ("keep: '1'", "environments.dev.keep: expected a whole number"),
    ],
)
def test_environment_type_errors(tmp_path: Path, settings: str, expected: str) -> None:
    err = load_error(
        tmp_path,
        f"source: sqlite://\nrules: r\nenvironments:\n  dev:\n    url: sqlite://\n    {settings}\n",
    )
    assert str(err).startswith(f"{tmp_path / 'datacloner.yml'}:6: {expected}")


@pytest.mark.parametrize(
    ("missing", "line", "expected"),
    [
        (
            "source",
            1,
            "missing key `source` "
            "(a SQLAlchemy URL such as postgresql://host/db or sqlite:///file.db)",
        ),
        ("rules", 1, "missing key `rules` (a rules file or folder, e.g. rules/)"),
        ("environments", 1, "missing key `environments` (e.g. dev: {url: sqlite:///dev.db})"),
    ],
)
def test_missing_top_level_keys(tmp_path: Path, missing: str, line: int, expected: str) -> None:
    config = {
        "source": "source: sqlite://\n",
        "rules": "rules: r\n",
        "environments": "environments:\n  dev: {url: 'sqlite://'}\n",
    }
    del config[missing]
    err = load_error(tmp_path, "".join(config.values()))
    assert str(err) == f"{tmp_path / 'datacloner.yml'}:{line}: {expected}"


def test_missing_url(tmp_path: Path) -> None:
    err = load_error(tmp_path, "source: sqlite://\nrules: r\nenvironments:\n  dev:\n    keep: 2\n")
    assert str(err) == (
        f"{tmp_path / 'datacloner.yml'}:4: environments.dev: missing key `url` "
        "(a SQLAlchemy URL such as postgresql://host/db or sqlite:///file.db)"
    )


@pytest.mark.parametrize("value", ["{}", "", "[dev]"])
def test_environments_must_be_a_non_empty_mapping(tmp_path: Path, value: str) -> None:
    err = load_error(tmp_path, f"source: sqlite://\nrules: r\nenvironments: {value}\n")
    message = str(err)
    assert message.startswith(f"{tmp_path / 'datacloner.yml'}:3: environments: ")
    assert "dev: {url: sqlite:///dev.db}" in message


def test_environment_given_as_a_string(tmp_path: Path) -> None:
    err = load_error(tmp_path, "source: sqlite://\nrules: r\nenvironments:\n  dev: sqlite://\n")
    assert str(err) == (
        f"{tmp_path / 'datacloner.yml'}:4: environments.dev: expected a mapping "
        "(e.g. dev: {url: sqlite:///dev.db})"
    )


@pytest.mark.parametrize("url", ["mysql+pymysql://u:hunter2@h/db", "mariadb://h/db"])
def test_mysql_urls_are_accepted_at_load(tmp_path: Path, url: str) -> None:
    """MySQL/MariaDB has its engine (docs/mysql.md): the URL is read, not refused."""
    path = tmp_path / "datacloner.yml"
    path.write_text(BASE.replace("sqlite:///dev.db", f"'{url}'"))
    assert load_config(path).environment("dev").url == url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("oracle://scott:tiger@h/db", "unsupported database `oracle`"),
        ("localhost/app", "expected a SQLAlchemy URL such as postgresql://host/db"),
        ("postgresql://u:hunter2@h:port/db", "not a valid URL"),
    ],
)
def test_bad_urls(tmp_path: Path, url: str, expected: str) -> None:
    err = load_error(tmp_path, BASE.replace("sqlite:///dev.db", f"'{url}'"))
    assert str(err).startswith(f"{tmp_path / 'datacloner.yml'}:4: environments.dev.url: ")
    assert expected in str(err)
    # A URL may hold a password: never echo it.
    assert "tiger" not in str(err) and "hunter2" not in str(err)


def test_every_error_reported_one_per_line_in_file_order(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        """\
        source: ftp://x
        rules: 1
        environments:
          dev:
            urll: sqlite://
            keep: -2
        """,
    )
    file = tmp_path / "datacloner.yml"
    assert lines_of(err) == [
        f"{file}:1: source: unsupported database `ftp`; use mysql, postgresql or sqlite",
        f"{file}:2: rules: expected a string (a rules file or folder, e.g. rules/)",
        f"{file}:4: environments.dev: missing key `url` "
        "(a SQLAlchemy URL such as postgresql://host/db or sqlite:///file.db)",
        f"{file}:5: environments.dev.urll: unknown key `urll`; did you mean `url`?",
        f"{file}:6: environments.dev.keep: must be 0 or more",
    ]


# --- file-level errors -----------------------------------------------------------


def test_invalid_yaml(tmp_path: Path) -> None:
    err = load_error(tmp_path, "source: sqlite://\nrules: [a\nenvironments: {}\n")
    assert str(err).startswith(f"{tmp_path / 'datacloner.yml'}:3: invalid YAML: ")


def test_tab_indentation_gets_a_hint(tmp_path: Path) -> None:
    err = load_error(tmp_path, "environments:\n\tdev: x\n")
    assert str(err).startswith(f"{tmp_path / 'datacloner.yml'}:2: invalid YAML: ")
    assert err.hint is not None and "tabs" in err.hint


def test_duplicate_key(tmp_path: Path) -> None:
    err = load_error(tmp_path, BASE + "  dev: {url: sqlite:///other.db}\n")
    assert str(err) == (
        f"{tmp_path / 'datacloner.yml'}:5: duplicate key `dev` (already set on line 4)"
    )


def test_key_must_be_text(tmp_path: Path) -> None:
    err = load_error(tmp_path, BASE + "? [a, b]\n: 1\n")
    assert str(err) == f"{tmp_path / 'datacloner.yml'}:5: keys must be plain text, not a list"


def test_empty_file(tmp_path: Path) -> None:
    err = load_error(tmp_path, "# nothing yet\n")
    assert str(err) == f"{tmp_path / 'datacloner.yml'}: the file is empty"
    assert err.hint is not None and "environments:" in err.hint


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    err = load_error(tmp_path, "- source\n")
    assert str(err) == f"{tmp_path / 'datacloner.yml'}:1: expected a mapping of settings"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        load_config(tmp_path / "absent.yml")
    assert info.value.exit_code == 2
    assert str(info.value) == f"{tmp_path / 'absent.yml'}: file not found"


# --- yamlsource ------------------------------------------------------------------


def test_yaml_lines_by_path() -> None:
    doc = parse_yaml(
        "a:\n  b:\n    - x\n    - {c: 1}\n  yes: on\n",
        Path("f.yml"),
    )
    assert doc.data == {"a": {"b": ["x", {"c": 1}], "yes": True}}
    assert doc.line(("a",)) == 1
    assert doc.line(("a", "b")) == 2
    assert doc.value_line(("a", "b")) == 3
    assert doc.line(("a", "b", 1, "c")) == 4
    assert doc.line(("a", "yes")) == 5  # keys stay text: `yes` is not True
    assert doc.raw(("a", "yes")) == "on"
    assert doc.line(("a", "missing", "deeper")) == 1  # nearest existing parent
    assert doc.location(("a", "b", 0)) == Location(Path("f.yml"), 3)


def test_yaml_recursive_alias_is_refused() -> None:
    with pytest.raises(UsageError) as info:
        parse_yaml("a: &x [*x]\n", Path("f.yml"))
    assert info.value.exit_code == 2
    assert str(info.value) == "f.yml:1: invalid YAML: an alias refers to itself"


def test_yaml_custom_tags_are_refused() -> None:
    with pytest.raises(UsageError) as info:
        parse_yaml("a: !!python/object:os.system x\n", Path("f.yml"))
    assert str(info.value).startswith("f.yml:1: invalid YAML: ")
