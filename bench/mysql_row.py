"""The MariaDB/MySQL rows of ``make bench``: the users database loaded into MariaDB,
then ``mysqldump | mysql`` against a masked ``datacloner refresh`` of it.

The data is the PostgreSQL benchmark database's, row for row: each table is
read with ``COPY (SELECT ...) TO STDOUT`` (CSV, timestamps in UTC, booleans as
0/1) and piped into ``LOAD DATA LOCAL INFILE '/dev/stdin'``; keys, the unique
email, foreign keys and the same indexes are added after the rows, as
make_db.sql does. The tables and their rules keep their names, with the
MariaDB database in place of ``public``.
"""

from __future__ import annotations

import hashlib
import inspect
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml
from datasets import RULES, SECRET
from harness import Server, log, run, shell

# MariaDB DDL of bench/make_db.sql's tables (TEXT where PostgreSQL has text,
# VARCHAR where an index needs a bounded key)
TABLES = {
    "plans": "id INT NOT NULL, name TEXT NOT NULL, monthly_cents INT NOT NULL",
    "countries": "code CHAR(2) NOT NULL, name TEXT NOT NULL, vat_rate DECIMAL(4,2) NOT NULL",
    "products": "id INT NOT NULL, sku VARCHAR(32) NOT NULL, name TEXT NOT NULL, "
    "price_cents INT NOT NULL, active TINYINT(1) NOT NULL",
    "users": "id BIGINT NOT NULL, email VARCHAR(255) NOT NULL, first_name TEXT NOT NULL, "
    "last_name TEXT NOT NULL, phone TEXT, street TEXT, city TEXT, zip TEXT, "
    "country CHAR(2) NOT NULL, birth_date DATE, ssn TEXT, password_hash TEXT NOT NULL, "
    "plan_id INT NOT NULL, created_at DATETIME(6) NOT NULL, profile JSON NOT NULL",
    "orders": "id BIGINT NOT NULL, user_id BIGINT NOT NULL, product_id INT NOT NULL, "
    "quantity INT NOT NULL, total_cents BIGINT NOT NULL, status TEXT NOT NULL, "
    "ship_street TEXT NOT NULL, ship_city TEXT NOT NULL, ship_zip TEXT NOT NULL, note TEXT, "
    "created_at DATETIME(6) NOT NULL",
    "comments": "id BIGINT NOT NULL, user_id BIGINT NOT NULL, product_id INT NOT NULL, "
    "rating SMALLINT NOT NULL, body TEXT NOT NULL, created_at DATETIME(6) NOT NULL",
    "audit_log": "id BIGINT NOT NULL, actor VARCHAR(255) NOT NULL, action TEXT NOT NULL, "
    "ip VARCHAR(45), user_agent TEXT, at DATETIME(6) NOT NULL",
}
KEYS = """
ALTER TABLE plans ADD PRIMARY KEY (id);
ALTER TABLE countries ADD PRIMARY KEY (code);
ALTER TABLE products ADD PRIMARY KEY (id);
ALTER TABLE users ADD PRIMARY KEY (id), ADD UNIQUE KEY users_email_key (email),
  ADD FOREIGN KEY (plan_id) REFERENCES plans (id),
  ADD FOREIGN KEY (country) REFERENCES countries (code);
ALTER TABLE orders ADD PRIMARY KEY (id), ADD FOREIGN KEY (user_id) REFERENCES users (id),
  ADD FOREIGN KEY (product_id) REFERENCES products (id);
ALTER TABLE comments ADD PRIMARY KEY (id), ADD FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE audit_log ADD PRIMARY KEY (id), ADD INDEX audit_log_actor_idx (actor),
  ADD INDEX audit_log_at_idx (at);
ANALYZE TABLE plans, countries, products, users, orders, comments, audit_log;
"""


@dataclass
class MariaDB:
    host: str
    port: int
    user: str
    password: str | None

    @classmethod
    def parse(cls, url: str) -> MariaDB:
        parts = urlsplit(url)
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password) if parts.password else None,
        )

    def url(self, db: str) -> str:
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"mysql://{auth}@{self.host}:{self.port}/{db}"

    def args(self) -> list[str]:
        """Connection options of the mysql and mysqldump clients (password by environment)."""
        return [f"--host={self.host}", f"--port={self.port}", f"--user={self.user}"]

    def env(self, base: dict[str, str]) -> dict[str, str]:
        return {**base, "MYSQL_PWD": self.password} if self.password else dict(base)

    def missing(self) -> str | None:
        """Why the MariaDB rows cannot run here, or None."""
        for tool in ("mysql", "mysqldump"):
            if shutil.which(tool) is None:
                return f"`{tool}` not installed (apt-get install mariadb-client)"
        done = subprocess.run(
            ["mysql", *self.args(), "-N", "-e", "SELECT 1"],
            capture_output=True,
            env=self.env({}),
        )
        if done.returncode != 0:
            return f"MariaDB not reachable at {self.host}:{self.port}"
        return None

    def sql(self, statements: str, db: str | None = None) -> str:
        cmd = ["mysql", *self.args(), "-N", "--local-infile=1"] + ([db] if db else [])
        return run(cmd, self.env({}), input=statements.encode())

    def version(self) -> str:
        return self.sql("SELECT version();").strip()

    def recreate(self, db: str) -> None:
        self.sql(f"DROP DATABASE IF EXISTS `{db}`; CREATE DATABASE `{db}`;")

    def drop(self, *names: str) -> None:
        self.sql("".join(f"DROP DATABASE IF EXISTS `{n}`;" for n in names))

    def drop_like(self, db: str) -> None:
        """``db`` and every generation datacloner left beside it."""
        like = db.replace("_", r"\_") + r"\_\_dc\_%"
        names = self.sql(
            f"SELECT schema_name FROM information_schema.schemata "
            f"WHERE schema_name = '{db}' OR schema_name LIKE '{like}';"
        ).split()
        if names:
            self.drop(*names)


def _select(server: Server, pg_db: str, table: str) -> str:
    """The PostgreSQL query giving ``table``'s rows as MariaDB loads them."""
    with server.connect(pg_db) as conn:
        columns = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
            (table,),
        ).fetchall()
    exprs = []
    for name, kind in columns:
        if kind.startswith("timestamp"):
            exprs.append(f"to_char({name} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
        elif kind == "boolean":
            exprs.append(f"{name}::int")
        elif kind == "inet":
            exprs.append(f"host({name})")
        else:
            exprs.append(name)
    return f"SELECT {', '.join(exprs)} FROM public.{table}"


def ensure(server: Server, pg_db: str, maria: MariaDB, db: str, rebuild: bool) -> None:
    """Copy the PostgreSQL users database ``pg_db`` into MariaDB database ``db``, unless
    ``db`` holds a copy of the same build (its comment: ``pg_db``'s fingerprint)."""
    fingerprint = f"{server.comment(pg_db)} mysql_row={_digest()}"
    found = maria.sql(
        f"SELECT schema_comment FROM information_schema.schemata WHERE schema_name = '{db}';"
    ).strip()
    if found == fingerprint and not rebuild:
        log(f"MariaDB {db}: reusing (loaded from the same {pg_db})")
        return
    load(server, pg_db, maria, db)
    maria.sql(f"ALTER DATABASE `{db}` COMMENT '{fingerprint}';")


def _digest() -> str:
    """What shapes the loaded data only (the tables, keys and the load's code): an edit
    elsewhere in this file keeps a multi-minute 1M-user load."""
    shape = repr(TABLES) + KEYS + inspect.getsource(load) + inspect.getsource(_select)
    return hashlib.sha256(shape.encode()).hexdigest()[:16]


def load(server: Server, pg_db: str, maria: MariaDB, db: str) -> None:
    """Copy the PostgreSQL users database ``pg_db`` into MariaDB database ``db``."""
    log(f"MariaDB {db}: loading from {pg_db} ...")
    began = time.perf_counter()
    maria.recreate(db)
    maria.sql(
        "".join(f"CREATE TABLE {t} ({cols}) ENGINE=InnoDB;" for t, cols in TABLES.items()), db
    )
    psql = server.tool("psql")
    for table in TABLES:
        # every value quoted, NULL not: LOAD DATA reads a bare NULL as NULL
        copy = (
            f"COPY ({_select(server, pg_db, table)}) TO STDOUT "
            "WITH (FORMAT csv, NULL 'NULL', FORCE_QUOTE *)"
        )
        load_sql = (
            "SET unique_checks=0; SET foreign_key_checks=0; "
            f"LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE {table} CHARACTER SET utf8mb4 "
            "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
            "LINES TERMINATED BY '\\n';"
        )
        script = (
            f"{shlex.join([psql, '-X', '-q', '-d', pg_db, '-c', copy])} | "
            f"{shlex.join(['mysql', *maria.args(), '--local-infile=1', db, '-e', load_sql])}"
        )
        run(shell(script), maria.env(server.env()))
    maria.sql(KEYS, db)
    log(f"MariaDB {db}: loaded in {time.perf_counter() - began:.1f} s")


def counts(maria: MariaDB, db: str) -> dict[str, int]:
    query = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM `{t}`" for t in TABLES)
    out = maria.sql(query + ";", db)
    return {line.split("\t")[0]: int(line.split("\t")[1]) for line in out.splitlines() if line}


def dump_pipe(maria: MariaDB, src: str, dst: str) -> list[str]:
    """``mysqldump --single-transaction SRC | mysql DST``, as one process tree."""
    return shell(
        f"{shlex.join(['mysqldump', *maria.args(), '--single-transaction', src])} | "
        f"{shlex.join(['mysql', *maria.args(), dst])}"
    )


def config(folder: Path, maria: MariaDB, src: str, dst: str) -> tuple[Path, str]:
    """bench/rules.yml with ``public.`` replaced by the MariaDB database's name."""
    rules = yaml.safe_load(RULES.read_text())
    rules["tables"] = {
        name.replace("public.", f"{src}.", 1): table for name, table in rules["tables"].items()
    }
    folder.mkdir(parents=True, exist_ok=True)
    rules_path = folder / "rules-mysql.yml"
    rules_path.write_text(yaml.safe_dump(rules, sort_keys=False))
    path = folder / "datacloner-mysql.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "source": maria.url(src),
                "secret": SECRET,
                "rules": str(rules_path),
                "environments": {"bench": {"url": maria.url(dst)}},
            },
            sort_keys=False,
        )
    )
    return path, "bench"
