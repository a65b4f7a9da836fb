"""Pure transforms that shape raw rows into a business view: frames in, frames out.

Nothing here reads or writes files, talks to a database or imports Dagster, so every function
is tested on small hand-written frames. JSON is parsed with polars' vectorised JSON path
functions; per-row Python only builds the (few) reject records or unescapes distinct key names.
"""
