"""MySQL and MariaDB engine (docs/mysql.md)."""
