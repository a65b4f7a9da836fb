"""The demo: a private MariaDB with shop shards, and the seeder that fills them."""
