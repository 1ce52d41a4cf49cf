"""SQLite engine (SQLAlchemy): source, new copy, file generations, verify reads."""
