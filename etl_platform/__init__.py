"""etl_platform: MySQL shards to one wide table per view, as Dagster assets.

Importing the package changes nothing in the process; entry points call
`etl_platform.runtime.configure_process()` first.
"""
