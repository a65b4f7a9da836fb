"""The CDC latency benchmark (`python -m bench.cdc.latency`): run by hand, never in CI."""
