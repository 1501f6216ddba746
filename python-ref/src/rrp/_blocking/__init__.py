"""The blocking client: the sans-IO client cores driven over plain sockets."""
