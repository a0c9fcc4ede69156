"""The tables, one module per feature (`org`, `points`, `reports`, `votes`, `council`) and the
ones every feature shares (`common`). `storage.tables` imports them all for the metadata."""
