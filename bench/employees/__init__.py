"""A benchmark shaped like MySQL's sample `employees` database: years of sparse history.

Issue 36, point 6 ("Years of history at the cost of its rows"): a few thousand rows spread over
~6,400 days should cost what their rows cost, not what their days cost. `seed` fills the shards,
`run` measures one `etl-platform run` over the whole history (with `--scaling`, the same rows
over 1 to 6,400 days; with `--scaling-rows`, more rows over the same days), `daemon` measures
one backfill of it through `dagster-daemon run` and `dagster-webserver`, launched as the UI
launches it (`--max-days-per-run`: days a run). Both take `--partitions monthly` and
`--storage postgres` (Dagster's storage on the local PostgreSQL instead of SQLite).
"""
