"""The results store (SQLite by default, PostgreSQL by URL); no Prefect here."""

from smoacs_core.store.store import (
    CandidateData,
    PropertyValue,
    ResultsStore,
    StoreError,
    default_store_url,
)

__all__ = ["CandidateData", "PropertyValue", "ResultsStore", "StoreError", "default_store_url"]
