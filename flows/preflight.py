"""Checks before a discovery run starts: the configuration to run, and what it needs on this machine.

Models, input files, reference data, the DFT code and the results store are looked for before any work, so a
mistake costs seconds, not the optimization; every message names the configuration field.
"""

from __future__ import annotations

from pathlib import Path

from flows.config import DEFAULT_CONFIG, DiscoveryConfig
from smoacs_core.correction.versions import correction_record
from smoacs_core.predictors.model_store import checkpoint_dir, megnet_keras_files
from smoacs_core.predictors.registry import CORRECTION_PREFIX, PREDICTORS, with_committee_members
from smoacs_core.settings import SmoacsSettings
from smoacs_core.stages import Stage
from vasp_inputs.results import DftCode


def load_config(path: Path | None, results_dir: Path | None = None, store_url: str | None = None) -> DiscoveryConfig:
    """The configuration to run (the shipped default without a path), with command-line overrides."""
    config = DiscoveryConfig.from_yaml(path or DEFAULT_CONFIG)
    updates = {k: v for k, v in (("results_dir", results_dir), ("store_url", store_url)) if v is not None}
    return DiscoveryConfig.model_validate({**config.model_dump(), **updates}) if updates else config


def check_ready(config: DiscoveryConfig) -> DiscoveryConfig:
    """Fail before any work if models, input files or the store are missing; messages name the field. Returns
    the configuration under the id of the stored run it continues (``flows.runs``)."""
    settings = SmoacsSettings()
    for target in config.optimization.targets:
        if target.predictor.startswith(CORRECTION_PREFIX):  # a trained correction: its folder and its members
            record = correction_record(target.predictor.removeprefix(CORRECTION_PREFIX), settings)
            _check_model_files(set(record.config.members), settings)
            continue
        if target.predictor not in PREDICTORS:
            raise ValueError(f"optimization.targets: unknown predictor '{target.predictor}'")
        _check_model_files({target.predictor}, settings)
    if Stage.CROSS_CHECK in config.stages:
        _check_model_files(set(config.cross_check.registered()), settings)
    if config.initial.kind == "files" and not Path(config.initial.path).exists():
        raise FileNotFoundError(f"initial.path: {config.initial.path} does not exist")
    if config.novelty_reference is not None and not config.novelty_reference.exists():
        raise FileNotFoundError(f"novelty_reference: {config.novelty_reference} does not exist")
    _check_data(config, settings)
    _check_dft(config)
    from flows.discovery import store_url_of
    from flows.runs import continue_stored_run
    from tasks.common import open_store

    return continue_stored_run(config, open_store(store_url_of(config)))


def _check_model_files(names: set[str], settings: SmoacsSettings) -> None:
    """The weights of registered predictors (and of the committees' members) are there, or downloaded now."""
    for name in sorted(with_committee_members(names)):
        spec = PREDICTORS[name]
        if spec.in_model_dir:
            checkpoint_dir(spec.checkpoint, settings)
        elif spec.source == "megnet_keras":
            megnet_keras_files(spec.checkpoint, settings)


def _check_data(config: DiscoveryConfig, settings: SmoacsSettings) -> None:
    """Reference data of stages 'deduplicate' and 'hull' (local reference) must be there before any work."""
    if Stage.DEDUPLICATE in config.stages and config.novelty.reference is not None:
        try:
            config.novelty.reference.files(settings)
        except (FileNotFoundError, ValueError) as error:
            raise FileNotFoundError(f"novelty.reference: {error}") from None
    if Stage.HULL in config.stages and config.hull.reference == "local" and settings.data_dir is None:
        raise FileNotFoundError(
            f"hull.reference: 'local' reads the {config.hull.dataset} formation energies and the MP elemental "
            "references from SMOACS_DATA_DIR, which is not set (or choose reference 'entries_file' / 'mp_api')"
        )


def _check_dft(config: DiscoveryConfig) -> None:
    """What DFT submission needs on this machine: GPAW installed, or the FireWorks LaunchPad file."""
    if Stage.DFT_SUBMIT not in config.stages:
        return
    if config.dft.code is DftCode.GPAW:
        import importlib.util

        if importlib.util.find_spec("gpaw") is None:
            raise ModuleNotFoundError("dft.code: 'gpaw' but GPAW is not installed (scripts/setup builds it)")
    launchpad = config.dft.vasp.launchpad_file
    if config.dft.code is DftCode.VASP and config.dft.vasp.backend == "fireworks" and launchpad and not launchpad.exists():
        raise FileNotFoundError(f"dft.vasp.launchpad_file: {launchpad} does not exist")
