"""The shared model every verb reads: configuration, rules, the catalog, the plan,

the report and progress, errors, guards and URLs. No verb logic and no database
code lives here (see docs/design.md)."""
