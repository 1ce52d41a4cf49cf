"""The verbs' logic, one module per verb family: refresh (and check), scan,
verify, preview, archive (dump/restore) and lifecycle (rollback/status).

The CLI (``datacloner.cli``) parses flags, calls a function here and renders
the result; only ``engines`` talk to a database (see docs/design.md)."""
