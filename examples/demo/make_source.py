"""Build the demo's "production" database: a small SQLite app with personal data.

    python make_source.py [PATH]        # default: source.db next to this script

The data is deterministic (``random.Random(7)`` over plain lists, no Faker), so
every run builds the same file, and nothing in it looks like Faker output: what
you see in ``dev.db`` after ``datacloner refresh dev`` is clearly the masking.
"""

from __future__ import annotations

import os
import random
import sqlite3
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

N_USERS = 500
N_ORDERS = 2000
N_AUDIT = 1000
N_SESSIONS = 300

FIRST_NAMES = [
    "Maria",
    "James",
    "Aisha",
    "Wei",
    "Olga",
    "Lucas",
    "Priya",
    "Mateo",
    "Fatima",
    "Noah",
    "Sofia",
    "Kenji",
    "Amara",
    "Liam",
    "Ines",
    "Omar",
    "Hannah",
    "Diego",
    "Yuki",
    "Chloe",
    "Ivan",
    "Zainab",
    "Elias",
    "Mei",
    "Tomasz",
    "Leila",
    "Arjun",
    "Emma",
    "Kofi",
    "Astrid",
    "Björn",
    "Zoë",
    "José",
    "Siobhan",
    "Nguyen",
    "Renée",
]
LAST_NAMES = [
    "Garcia",
    "Smith",
    "Okafor",
    "Zhang",
    "Ivanova",
    "Silva",
    "Patel",
    "Rossi",
    "Haddad",
    "Müller",
    "Kowalski",
    "Tanaka",
    "Mensah",
    "O'Brien",
    "Dubois",
    "Andersson",
    "Novak",
    "Kim",
    "Hernández",
    "Cohen",
    "Nakamura",
    "Byrne",
    "Schmidt",
    "Lopez",
    "Khan",
    "Jensen",
    "Moreau",
    "Costa",
    "Yilmaz",
    "Walker",
    "Van der Berg",
    "Nowak",
]
DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "proton.me", "icloud.com", "acme-corp.com"]
PLANS = ["free"] * 6 + ["pro"] * 3 + ["team"]
STATUSES = ["paid"] * 7 + ["pending", "refunded", "cancelled"]
ACTIONS = ["login", "login", "login", "logout", "update_profile", "password_reset", "export_data"]
BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

SCHEMA = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    email TEXT UNIQUE NOT NULL,
    first_name TEXT,
    last_name TEXT,
    phone TEXT,
    birth_date TEXT,
    password_hash TEXT,
    plan TEXT NOT NULL DEFAULT 'free',
    created_at TEXT NOT NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    total NUMERIC NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    actor_email TEXT NOT NULL,
    action TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    token TEXT NOT NULL
);
CREATE INDEX orders_user_id_idx ON orders (user_id);
CREATE INDEX audit_log_actor_email_idx ON audit_log (actor_email);
CREATE VIEW user_order_totals AS
    SELECT u.id AS user_id, u.email, count(o.id) AS orders, coalesce(sum(o.total), 0) AS spent
    FROM users u LEFT JOIN orders o ON o.user_id = u.id
    GROUP BY u.id, u.email;
-- Fires on updates only: loading rows (a copy, a restore) does not add audit rows.
CREATE TRIGGER users_email_changed AFTER UPDATE OF email ON users
BEGIN
    INSERT INTO audit_log (actor_email, action, at)
    VALUES (NEW.email, 'email_changed', strftime('%Y-%m-%dT%H:%M:%S', 'now'));
END;
"""

EPOCH = datetime(2021, 1, 1, 8, 0, 0)
SPAN_SECONDS = 3 * 365 * 24 * 3600


def _ascii(name: str) -> str:
    table = str.maketrans("öëéèüáíóúñ", "oeeeuaioun")
    return name.lower().translate(table).replace("'", "").replace(" ", "")


def _when(rng: random.Random, after: datetime | None = None) -> datetime:
    start = after or EPOCH
    end = EPOCH + timedelta(seconds=SPAN_SECONDS)
    span = max(int((end - start).total_seconds()), 1)
    return start + timedelta(seconds=rng.randrange(span))


def _iso(moment: datetime) -> str:
    return moment.isoformat(sep=" ", timespec="seconds")


def build(conn: sqlite3.Connection, rng: random.Random) -> None:
    conn.executescript(SCHEMA)

    users = []
    emails: set[str] = set()
    for user_id in range(1, N_USERS + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = rng.choice(
            [
                f"{_ascii(first)}.{_ascii(last)}",
                f"{_ascii(first)[0]}{_ascii(last)}",
                f"{_ascii(first)}{rng.randrange(10, 99)}",
            ]
        )
        email = f"{local}@{rng.choice(DOMAINS)}"
        n = 2
        while email in emails:  # a real users table has a unique email
            email = f"{local}{n}@{email.split('@')[1]}"
            n += 1
        emails.add(email)
        phone = (
            None
            if rng.random() < 0.15
            else (
                f"+1 {rng.randrange(200, 999)}-{rng.randrange(200, 999)}-{rng.randrange(10000):04d}"
                if rng.random() < 0.5
                else f"+44 7{rng.randrange(100, 999)} {rng.randrange(100000, 999999)}"
            )
        )
        birth = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))
        password_hash = "$2b$12$" + "".join(rng.choice(BCRYPT_ALPHABET) for _ in range(53))
        created = _when(rng)
        users.append(
            (
                user_id,
                email,
                first,
                last,
                phone,
                birth.isoformat(),
                password_hash,
                rng.choice(PLANS),
                _iso(created),
            )
        )
    conn.executemany("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", users)

    orders = []
    for order_id in range(1, N_ORDERS + 1):
        user = rng.choice(users)
        created = _when(rng, datetime.fromisoformat(user[8]))
        total = round(rng.uniform(4.99, 480.0), 2)
        orders.append((order_id, user[0], total, rng.choice(STATUSES), _iso(created)))
    conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", orders)

    audit = []
    for audit_id in range(1, N_AUDIT + 1):
        user = rng.choice(users)
        at = _when(rng, datetime.fromisoformat(user[8]))
        audit.append((audit_id, user[1], rng.choice(ACTIONS), _iso(at)))
    audit.sort(key=lambda row: row[3])
    audit = [(i, *row[1:]) for i, row in enumerate(audit, start=1)]
    conn.executemany("INSERT INTO audit_log VALUES (?, ?, ?, ?)", audit)

    sessions = [
        (session_id, rng.choice(users)[0], f"{rng.getrandbits(128):032x}")
        for session_id in range(1, N_SESSIONS + 1)
    ]
    conn.executemany("INSERT INTO sessions VALUES (?, ?, ?)", sessions)


def main(argv: list[str]) -> int:
    target = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent / "source.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target, then swap it in: a reader never sees half a file.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()  # sqlite3 creates it afresh
        conn = sqlite3.connect(tmp)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            with conn:
                build(conn, random.Random(7))
            problems = conn.execute("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise RuntimeError(f"foreign key problems: {problems[:5]}")
        finally:
            conn.close()
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    print(
        f"wrote {target}: {N_USERS} users, {N_ORDERS} orders, "
        f"{N_AUDIT} audit_log rows, {N_SESSIONS} sessions"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
