"""Writers and IO managers: the raw zone, the lake, and the warehouses."""
