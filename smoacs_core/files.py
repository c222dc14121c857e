"""Files a stage wrote, named by path and content hash (what a cached result points to, and how it is checked)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import BaseModel


class FileRef(BaseModel):
    """A file a stage wrote, by path and content hash."""

    path: str
    sha256: str

    @classmethod
    def of(cls, path: Path) -> FileRef:
        return cls(path=str(path), sha256=sha256_of(path))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
