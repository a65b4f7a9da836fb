"""The view studio: a web page that builds a view's `defs.yaml` by pointing at tables, checks it
with the platform's own validator, previews a day with the view's own transform and publishes
the file (docs/studio.md)."""
