"""Where pretrained checkpoints come from: a local model directory, or their published location.

Users with internet get the checkpoints downloaded once from the matgl repository at the commit that
published these pre-3.0 weights; clusters without internet and our CI point ``SMOACS_MODEL_DIR`` (or the
``model_dir`` setting) at a directory holding ``<model name>/{model.json, model.pt, state.pt}``.
"""

from __future__ import annotations

import shutil
import tempfile
import urllib.request
from pathlib import Path

from smoacs_core.predictors.legacy_matgl import CHECKPOINT_FILES
from smoacs_core.settings import SmoacsSettings

PUBLISHED_URL = "https://github.com/materialsvirtuallab/matgl/raw/e9cde229/pretrained_models/{name}/{file}"
"""matgl's repository at the last commit that shipped the pre-3.0 checkpoints (matgl 2.0.4 era)."""

_DOWNLOAD_TIMEOUT_S = 60


def checkpoint_dir(name: str, settings: SmoacsSettings | None = None) -> Path:
    """The local directory of checkpoint ``name``, downloading it into the cache if no model directory is set.

    Raises:
        FileNotFoundError: ``model_dir`` is set but lacks the model (we never fall back to a download there:
            a cluster without internet should fail at once with the path it looked at).
        ConnectionError: the download failed.
    """
    settings = settings or SmoacsSettings()
    if settings.model_dir is not None:
        local = Path(settings.model_dir).expanduser() / name
        if not all((local / f).is_file() for f in CHECKPOINT_FILES):
            raise FileNotFoundError(
                f"model '{name}' not found in model directory {settings.model_dir} "
                f"(expected {local}/{{{','.join(CHECKPOINT_FILES)}}}; set SMOACS_MODEL_DIR)"
            )
        return local
    cached = settings.cache_dir.expanduser() / "models" / name
    if all((cached / f).is_file() for f in CHECKPOINT_FILES):
        return cached
    return _download(name, cached)


def _download(name: str, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        for file in CHECKPOINT_FILES:
            url = PUBLISHED_URL.format(name=name, file=file)
            try:
                with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response, open(
                    staging / file, "wb"
                ) as out:
                    shutil.copyfileobj(response, out)
            except OSError as error:
                raise ConnectionError(
                    f"could not download model '{name}' from {url} ({error}); without internet, "
                    "set SMOACS_MODEL_DIR to a directory holding the checkpoint"
                ) from error
        shutil.rmtree(target, ignore_errors=True)  # an incomplete earlier download
        staging.replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
