"""Config models and the one loader for `sources.yaml` and the view specs."""
