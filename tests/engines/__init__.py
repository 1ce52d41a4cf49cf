"""The engine contract suite (a package, so its conftest is not the top-level
``conftest`` module that other tests import from)."""
