"""The component instances of the platform: `dg` and `definitions.py` load this tree."""
