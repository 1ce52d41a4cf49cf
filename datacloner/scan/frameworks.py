"""Tables that web frameworks and migration tools own: never masked.

Their rows are the application's bookkeeping (which migrations ran, which
model a content type id means, a lock flag). A copy whose
``schema_migrations.version`` was "masked" as a phone number makes Rails
believe no migration ran: the application the copy is for does not start.
So ``scan`` keeps every column of these tables, with the reason written in
the rules file, and never reads their values.

``django_session`` is deliberately not here: its ``session_key`` is a live
bearer credential (whoever holds it is logged in as that user, on the
production site too) and ``session_data`` holds the signed user id and what
the application put in the session. ``scan`` masks both (``session``): a
copy's users simply log in again.
"""

from __future__ import annotations

# table name (lowercase) -> what owns it
FRAMEWORK_TABLES: dict[str, str] = {
    "schema_migrations": "Rails' (also Ecto's, golang-migrate's) list of applied migrations",
    "ar_internal_metadata": "Rails' environment metadata",
    "django_migrations": "Django's list of applied migrations",
    "django_content_type": "Django's model registry (ids other tables point to)",
    "auth_permission": "Django's permission registry",
    "alembic_version": "Alembic's current revision",
    "flyway_schema_history": "Flyway's migration history",
    "schema_version": "Flyway's (before 5) migration history",
    "databasechangelog": "Liquibase's change log",
    "databasechangeloglock": "Liquibase's lock",
    "knex_migrations": "Knex's list of applied migrations",
    "knex_migrations_lock": "Knex's migration lock",
    "_prisma_migrations": "Prisma's migration history",
    "sequelizemeta": "Sequelize's list of applied migrations",
    "__efmigrationshistory": "Entity Framework's migration history",
    "goose_db_version": "goose's migration history",
    "doctrine_migration_versions": "Doctrine's migration history",
    "migrations": "Laravel's (or TypeORM's) list of applied migrations",
}

# Tables whose rows are sessions: kept by no rule, masked whole (see above).
SESSION_TABLES = frozenset({"django_session"})


def framework_of(table_name: str) -> str | None:
    """What framework owns ``table_name``, or None for an application table."""
    return FRAMEWORK_TABLES.get(table_name.lower())


def framework_reason(table_name: str) -> str:
    owner = framework_of(table_name)
    return f"framework table: {owner}; masking it would break the application the copy is for"
