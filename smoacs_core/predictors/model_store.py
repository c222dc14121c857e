"""Where pretrained weights come from: a local model directory, or their published location.

Users with internet get each model downloaded once into the cache: the matgl checkpoints from the matgl repository
at the commit that published these pre-3.0 weights, the legacy Keras MEGNet models from megnet's ``mvl_models/``.
Clusters without internet and our CI point ``SMOACS_MODEL_DIR`` (``model_dir``) at a directory holding
``<model name>/{model.json, model.pt, state.pt}`` and ``SMOACS_MEGNET_KERAS_DIR`` (``megnet_keras_dir``) at one
laid out like ``mvl_models/`` (``mp-2018.6.1/<name>.hdf5`` and ``<name>.hdf5.json``, ``mf_2020/...``).
A directory that is set but lacks a file fails at once with the path it looked at: never a download there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

from smoacs_core.predictors.legacy_matgl import CHECKPOINT_FILES
from smoacs_core.settings import SmoacsSettings

PUBLISHED_URL = "https://github.com/materialsvirtuallab/matgl/raw/e9cde229/pretrained_models/{name}/{file}"
"""matgl's repository at the last commit that shipped the pre-3.0 checkpoints (matgl 2.0.4 era)."""
MEGNET_KERAS_URL = (
    "https://github.com/materialsvirtuallab/megnet/raw/f3705760266f24b62c4810dd4abacfc25f4f64ae/mvl_models/{path}"
)
"""megnet's repository at the commit whose ``mvl_models/`` holds the Keras models this project converts."""
KERAS_CONFIG_SUFFIX = ".json"
"""megnet saves a model as ``<name>.hdf5`` (Keras) beside ``<name>.hdf5.json`` (converter, scaler, metadata)."""

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
    if not all((cached / f).is_file() for f in CHECKPOINT_FILES):
        urls = {cached / f: PUBLISHED_URL.format(name=name, file=f) for f in CHECKPOINT_FILES}
        download(urls, settings.cache_dir, f"model '{name}'",
                 "set SMOACS_MODEL_DIR to a directory holding the checkpoint")
    return cached


def megnet_keras_files(relative: str, settings: SmoacsSettings | None = None) -> tuple[Path, Path]:
    """(weights, config) of the Keras MEGNet ``relative`` (e.g. ``mp-2018.6.1/formation_energy.hdf5``): from
    ``megnet_keras_dir`` when set, else from the cache, downloaded there once.

    Raises:
        FileNotFoundError: ``megnet_keras_dir`` is set but lacks either file (named in the message).
        ConnectionError: the download failed.
    """
    settings = settings or SmoacsSettings()
    files = (relative, relative + KERAS_CONFIG_SUFFIX)
    if settings.megnet_keras_dir is not None:
        root = Path(settings.megnet_keras_dir).expanduser()
        for file in files:
            if not (root / file).is_file():
                raise FileNotFoundError(
                    f"Keras MEGNet file {root / file} not found (SMOACS_MEGNET_KERAS_DIR={root})")
    else:
        root = settings.cache_dir.expanduser() / "megnet_keras"
        if not all((root / file).is_file() for file in files):
            download({root / file: MEGNET_KERAS_URL.format(path=file) for file in files}, settings.cache_dir,
                     f"Keras MEGNet model '{relative}'",
                     "set SMOACS_MEGNET_KERAS_DIR to a directory laid out like megnet's mvl_models/")
    weights, config = (root / file for file in files)
    return weights, config


def download(targets: dict[Path, str], cache_dir: Path, what: str, offline_hint: str) -> None:
    """Fetch each URL of ``targets`` to its path, all or none: the files are staged in ``cache_dir`` and moved into
    place only when every download succeeded, so an interrupted download never looks like a model.

    Raises:
        ConnectionError: a download failed; the message names ``what``, the URL and ``offline_hint``.
    """
    cache_dir = Path(cache_dir).expanduser()
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=cache_dir))
    try:
        staged = {}
        for index, (target, url) in enumerate(targets.items()):
            staged[target] = staging / str(index)
            try:
                with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response, open(
                    staged[target], "wb"
                ) as out:
                    shutil.copyfileobj(response, out)
            except OSError as error:
                raise ConnectionError(
                    f"could not download {what} from {url} ({error}); without internet, {offline_hint}"
                ) from error
        for target, file in staged.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(file, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
