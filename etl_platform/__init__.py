"""etl_platform: MySQL shards to one wide table per view, as Dagster assets."""

from etl_platform import jemalloc

jemalloc.configure()  # before anything imports polars (see the module)
