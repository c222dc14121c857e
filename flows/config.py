"""The one validated configuration of a discovery run, loadable from YAML.

Every field has a documented default; unknown fields are errors that name the field. ``check_ready`` then
verifies what validation alone cannot (models present, store reachable) before any work starts.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from smoacs_core.config import OptimizationConfig
from smoacs_core.cross_check import CrossCheckConfig
from smoacs_core.hull.config import HullConfig
from smoacs_core.relax.relax import RelaxConfig
from smoacs_core.settings import SmoacsSettings
from smoacs_core.stages import Stage
from smoacs_core.steps.sample import InitialStructures
from smoacs_core.uniqueness import NoveltyConfig
from smoacs_core.yaml_files import read_yaml_mapping
from vasp_inputs.config import DftConfig

STAGE_ORDER: tuple[Stage, ...] = tuple(Stage)
DEFAULT_CONFIG = Path(__file__).with_name("default_discovery.yaml")
_MACHINE_FIELDS = ("results_dir", "store_url", "task_runner", "max_parallel_batches", "dask_address", "stored_run_id")
"""Fields that say where and how a run executes, not what it computes: not part of its id."""


class DiscoveryConfig(BaseModel):
    """A discovery run: initial structures -> SMOACS -> (pre-relaxation, hull, DFT) -> report."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # inputs may hold secrets

    name: str = Field(default="discovery", description="Human name of the run; part of its id.")
    results_dir: Path = Field(
        default_factory=lambda: SmoacsSettings().results_dir,
        description="Where files, caches and the SQLite store go (default: SMOACS_RESULTS_DIR or ./results).",
    )
    store_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the results store (postgresql://user@host/db, password from "
        "SMOACS_STORE_PASSWORD); default: SQLite in results_dir.",
    )
    stages: list[Stage] = Field(
        default_factory=lambda: [Stage.SAMPLE, Stage.OPTIMIZE, Stage.REPORT],
        description="Stages to run, in pipeline order; a stage whose code has not landed fails clearly.",
    )
    initial: InitialStructures = Field(default_factory=InitialStructures)
    optimization: OptimizationConfig = Field(
        default_factory=lambda: OptimizationConfig.preset("perovskite"), description="SMOACS settings."
    )
    prerelax: RelaxConfig = Field(default_factory=RelaxConfig, description="ML pre-relaxation (stage 'prerelax').")
    cross_check: CrossCheckConfig = Field(
        default_factory=CrossCheckConfig,
        description="Second models whose disagreement with the run's predictors flags uncertain candidates "
        "(stage 'cross_check').",
    )
    novelty: NoveltyConfig = Field(
        default_factory=NoveltyConfig, description="Known crystals for stage 'deduplicate' (novelty)."
    )
    hull: HullConfig = Field(default_factory=HullConfig, description="Convex-hull reference and footing (stage 'hull').")
    dft: DftConfig = Field(
        default_factory=DftConfig, description="DFT of the best candidates (stages 'dft_submit', 'dft_harvest')."
    )
    batch_size: int = Field(default=64, ge=1, description="Crystals per optimization task (cache/resume unit).")
    task_runner: Literal["threads", "dask"] = Field(
        default="threads", description="'threads' runs batches in this process; 'dask' fans out on a Dask cluster."
    )
    max_parallel_batches: int = Field(default=1, ge=1, description="Concurrent batches with the thread runner.")
    dask_address: str | None = Field(
        default=None, description="Scheduler address of an existing Dask cluster; default: a local cluster."
    )
    novelty_reference: Path | None = Field(
        default=None, description="CSV (or directory) of known formulas for the novelty rate."
    )
    stored_run_id: str | None = Field(
        default=None,
        description="Id of the stored run this configuration continues. Normally empty: the id derives from the "
        "configuration; it is set when a run stored by an earlier version of the pipeline (whose configuration "
        "lacked fields added since) has the same science (flows.runs.continue_stored_run).",
    )

    @model_validator(mode="after")
    def _check(self) -> DiscoveryConfig:
        if not self.stages:
            raise ValueError("stages: at least one stage is needed")
        if len(set(self.stages)) != len(self.stages):
            raise ValueError(f"stages: duplicates in {self.stages}")
        order = [STAGE_ORDER.index(s) for s in self.stages]
        if order != sorted(order):
            raise ValueError(f"stages: {[str(s) for s in self.stages]} is not in pipeline order "
                             f"{[str(s) for s in STAGE_ORDER]}")
        if self.optimization.is_perovskite and self.initial.kind in ("dataset", "files"):
            raise ValueError(
                f"initial.kind: '{self.initial.kind}' gives arbitrary crystals; perovskite modes start from "
                "'perovskite_templates' or the candidates of an earlier perovskite run ('previous_run')"
            )
        if Stage.CROSS_CHECK in self.stages:
            targeted = {t.name: t.predictor for t in self.optimization.targets}
            for name in self.cross_check.models:
                prop = self.cross_check.property_of(name)
                if prop not in targeted:
                    raise ValueError(f"cross_check.models: '{name}' predicts '{prop}', which no target of the run "
                                     f"predicts (targets: {sorted(targeted)})")
                if targeted[prop] == name:
                    raise ValueError(f"cross_check.models: '{name}' is the run's own {prop} predictor; a second "
                                     "opinion needs another model")
        if self.store_url and re.search(r"://[^/@]*:[^/@]*@", self.store_url):
            raise ValueError("store_url: must not contain a password; set SMOACS_STORE_PASSWORD instead")
        return self

    @classmethod
    def from_yaml(cls, path: Path) -> DiscoveryConfig:
        """Load and validate a YAML file; errors name the file and the field."""
        return cls.model_validate(read_yaml_mapping(path, "DiscoveryConfig"))

    def science(self) -> dict:
        """What decides the results: everything but where and how the run executes."""
        return self.model_dump(mode="json", exclude=set(_MACHINE_FIELDS))

    @property
    def run_id(self) -> str:
        """Stable id from the scientific content, so that re-running the same configuration resumes it."""
        if self.stored_run_id:
            return self.stored_run_id
        digest = hashlib.sha256(json.dumps(self.science(), sort_keys=True).encode()).hexdigest()[:10]
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.name).strip("-") or "run"
        return f"{slug}-{digest}"

    @property
    def run_dir(self) -> Path:
        return self.results_dir / self.run_id
