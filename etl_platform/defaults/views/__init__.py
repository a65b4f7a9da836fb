"""The demo's view specs: one folder per view with a `defs.yaml` (a Dagster component)."""
