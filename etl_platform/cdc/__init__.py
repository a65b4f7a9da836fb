"""Change data capture: a shard's binlog into the raw zone's change files (docs/cdc.md)."""
