"""The DuckDB store: the one place that opens the database file."""

from blossom_studio.store.db import Store, StoreError, StoreLockedError, open_store

__all__ = ["Store", "StoreError", "StoreLockedError", "open_store"]
