"""Fetching a published data file once into the cache, never leaving a half-written file behind."""

from __future__ import annotations

import shutil
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

_TIMEOUT_S = 60


def download(url: str, target: Path, what: str, verify: Callable[[Path], None] | None = None) -> Path:
    """Download ``url`` to ``target`` through a staging file; ``verify`` may reject the result by raising.

    Raises:
        ConnectionError: naming ``what`` and ``url`` when the download (or its verification) fails; without
            internet the message says how to point the configuration at a local copy instead.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)[1])
    try:
        try:
            with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response, open(staging, "wb") as out:
                shutil.copyfileobj(response, out)
            if verify is not None:
                verify(staging)
        except (OSError, ValueError) as error:
            raise ConnectionError(
                f"could not download {what} from {url} ({type(error).__name__}: {error}); without internet, "
                f"place the file in SMOACS_DATA_DIR or give its path in the configuration"
            ) from error
        staging.replace(target)
    finally:
        staging.unlink(missing_ok=True)
    return target
