"""What every task shares: the cache policy, the store, model fingerprints."""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path

import pandas as pd
from prefect.cache_policies import INPUTS, TASK_SOURCE, CachePolicy

from smoacs_core import __version__
from smoacs_core.files import sha256_of
from smoacs_core.predictors.legacy_matgl import CHECKPOINT_FILES
from smoacs_core.predictors.model_store import checkpoint_dir
from smoacs_core.predictors.registry import PREDICTORS
from smoacs_core.settings import SmoacsSettings
from smoacs_core.store import ResultsStore
from smoacs_core.store.store import PASSWORD_ENV

CACHE_DIR_NAME = ".prefect-cache"
PASSWORD_SECRET_BLOCK = "smoacs-store-password"
"""Name of the Prefect Secret block holding the store password (used when SMOACS_STORE_PASSWORD is unset)."""


def cache_policy(results_dir: Path) -> CachePolicy:
    """Cache on the task's inputs and source code, with keys and results kept in the results directory.

    Inputs carry everything that decides a result (structures by hash, settings, model fingerprint, code
    version), so a re-run of the same configuration reuses every finished task.
    """
    return (INPUTS + TASK_SOURCE).configure(key_storage=str(Path(results_dir).resolve() / CACHE_DIR_NAME))


def open_store(store_url: str) -> ResultsStore:
    """The results store, its password from SMOACS_STORE_PASSWORD or the Prefect Secret block, if any."""
    password = None
    if not os.environ.get(PASSWORD_ENV) and "@" in store_url:
        from prefect.blocks.system import Secret

        try:
            password = Secret.load(PASSWORD_SECRET_BLOCK).get()
        except ValueError:  # no such block: the server trusts this client, or the URL needs no password
            password = None
    return ResultsStore(store_url, password)


def stored_candidates(store: ResultsStore, run_id: str, purpose: str) -> pd.DataFrame:
    """The run's candidates from the store; a stage that finds none stops with a clear error naming the run."""
    table = store.candidates(run_id)
    if table.empty:
        raise ValueError(f"run {run_id} has no candidates to {purpose}")
    return table


@cache
def model_fingerprint(predictor_names: tuple[str, ...]) -> str:
    """Hash of the checkpoint files of the named predictors and of this package's version."""
    settings = SmoacsSettings()
    digest = hashlib.sha256(__version__.encode())
    for name in sorted(predictor_names):
        directory = checkpoint_dir(PREDICTORS[name].checkpoint, settings)
        for file in CHECKPOINT_FILES:
            digest.update(sha256_of(directory / file).encode())
    return digest.hexdigest()[:16]
