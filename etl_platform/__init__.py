"""etl_platform: MySQL shards to one wide table per view, as Dagster assets."""

from etl_platform import arrow_pool, glibc_malloc, jemalloc

jemalloc.configure()  # before anything imports polars (see the module)
arrow_pool.configure()  # before anything imports pyarrow (see the module)
glibc_malloc.fix_mmap_threshold()  # large freed blocks leave the process (see the module)
