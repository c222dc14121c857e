"""The closed loop: every round optimizes through the DFT correction trained on what DFT said so far, checks its
best picks with DFT, and learns from them before the next round.

Round r: train (or find) the correction on the imported labels and the labels of rounds 0..r-1 (never round r's
own), run the discovery pipeline with that correction as the band-gap predictor and the acquisition choosing the
DFT picks, then record the round's outcome: confirmed picks and the prospective error (the round's model on its
picks, before it learns from them). Each round is a discovery run of its own, with an id derived from its
configuration (which names the correction version), so a killed loop resumes at the round and stage it stopped
in: finished tasks come from the cache, and training the same labels finds the same version. A round stored by
an earlier version of the pipeline (whose configuration lacked fields added since) keeps its run id, so its labels
still count as that round's.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
from importlib.metadata import version
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from pydantic import BaseModel, ConfigDict, Field, model_validator

from flows.config import DiscoveryConfig
from flows.discovery import discovery, store_url_of
from flows.runs import continue_stored_run
from smoacs_core import __version__
from smoacs_core.acquisition import AcquisitionConfig
from smoacs_core.correction.training import CorrectionConfig
from smoacs_core.stages import Stage, judged_stage
from smoacs_core.steps.round_outcome import RoundOutcome, round_outcome
from smoacs_core.targets import range_target
from smoacs_core.yaml_files import read_yaml_mapping
from tasks.common import open_store
from tasks.learn import import_labels, learn_correction
from tasks.loop_report import write_loop_report


class ClosedLoopConfig(BaseModel):
    """Rounds of optimize -> DFT -> learn around one discovery configuration."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="closed-loop", description="Human name; each round's run is '<name>-round<r>'.")
    rounds: int = Field(default=3, ge=1)
    discovery: DiscoveryConfig = Field(
        description="Each round's pipeline (with dft_submit and dft_harvest); its band-gap target's predictor and "
        "the DFT acquisition are set to the round's correction, and initial.seed advances by the round.")
    labels: list[Path] = Field(default_factory=list,
                               description="Label files imported before round 0: its training set.")
    correction: CorrectionConfig = Field(default_factory=CorrectionConfig)
    exploration_share: float = Field(default=0.25, ge=0, le=1,
                                     description="Share of each round's DFT picks for the most uncertain candidates.")

    @model_validator(mode="after")
    def _check(self) -> ClosedLoopConfig:
        stages = self.discovery.stages
        if Stage.DFT_SUBMIT not in stages or Stage.DFT_HARVEST not in stages:
            raise ValueError("discovery.stages: a closed loop needs 'dft_submit' and 'dft_harvest' to learn from")
        if range_target(self.discovery.optimization.targets, "band_gap") is None:
            raise ValueError("discovery.optimization.targets: a closed loop needs a band_gap range target")
        if not self.labels:
            raise ValueError("labels: round 0 learns from labels files (e.g. benchmarks/results/gpaw_labels.json, "
                             "or your own DFT through `smoacs labels import` formats); none given")
        missing = [str(path) for path in self.labels if not Path(path).is_file()]
        if missing:
            raise FileNotFoundError(f"labels: no such files {missing}")
        return self

    @classmethod
    def from_yaml(cls, path: Path) -> ClosedLoopConfig:
        return cls.model_validate(read_yaml_mapping(path, "ClosedLoopConfig"))

    @property
    def loop_id(self) -> str:
        """Stable id from the loop's science (like a run id): re-running the configuration resumes the loop, and
        asking for more rounds extends it (the number of rounds does not change the rounds before)."""
        science = {**self.model_dump(mode="json", exclude={"discovery", "rounds"}),
                   "discovery": self.discovery.science()}
        digest = hashlib.sha256(json.dumps(science, sort_keys=True).encode()).hexdigest()[:10]
        return f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', self.name).strip('-') or 'loop'}-loop-{digest}"


class RoundRecord(BaseModel):
    """One round: the correction it used (trained on earlier rounds only), its run, and its outcome."""

    round: int
    predictor: str
    trained_on: int
    cv_mae: float | None
    run_id: str
    outcome: RoundOutcome


def round_config(config: ClosedLoopConfig, number: int, predictor: str) -> DiscoveryConfig:
    """The discovery run of round ``number``: the band-gap target and the acquisition use ``predictor``."""
    template = config.discovery
    targets = [t.model_copy(update={"predictor": predictor}) if t.name == "band_gap" else t
               for t in template.optimization.targets]
    return template.model_copy(update={
        "name": f"{config.name}-round{number}",
        "initial": template.initial.model_copy(update={"seed": template.initial.seed + number}),
        "optimization": template.optimization.model_copy(update={"targets": targets}),
        "dft": template.dft.model_copy(update={"acquisition": AcquisitionConfig(
            predictor=predictor, exploration_share=config.exploration_share)}),
    })


@flow(name="closed-loop", log_prints=True)
def closed_loop(config: ClosedLoopConfig) -> list[RoundRecord]:
    """Rounds of learn -> discovery (optimize through the correction, DFT picks by acquisition) -> outcome."""
    logger = get_run_logger()
    store_url = store_url_of(config.discovery)
    store = open_store(store_url)
    loop_id = config.loop_id
    store.start_run(loop_id, config.name, config.model_dump(mode="json"),
                    {"smoacs": __version__, "prefect": version("prefect"), "python": platform.python_version()},
                    flow_run.id)
    sources = import_labels(store_url, config.labels)
    target = range_target(config.discovery.optimization.targets, "band_gap")
    rounds: list[RoundRecord] = []
    try:
        for number in range(config.rounds):
            store.set_stage(loop_id, f"round-{number}", "running")
            trained = learn_correction(store_url, sources, [r.run_id for r in rounds], config.correction)
            run = continue_stored_run(round_config(config, number, trained.predictor_name), store)
            discovery(run)
            outcome = round_outcome(store.candidates(run.run_id), target, judged_stage(run.stages))
            rounds.append(RoundRecord(round=number, predictor=trained.predictor_name,
                                      trained_on=trained.record.labels, cv_mae=trained.record.metrics.cv_mae,
                                      run_id=run.run_id, outcome=outcome))
            records = [r.model_dump(mode="json") for r in rounds]
            store.save_summary(loop_id, {"rounds": records})
            write_loop_report(store_url, loop_id, records, target, judged_stage(run.stages),
                              str(config.discovery.results_dir / loop_id / "report"))
            store.set_stage(loop_id, f"round-{number}", "completed",
                            f"{outcome.confirmed} of {outcome.picks} confirmed; prospective MAE "
                            f"{outcome.prospective_mae}")
            logger.info("round %d (%s): %d of %d DFT picks confirmed, %d metals, prospective MAE %s eV", number,
                        trained.predictor_name, outcome.confirmed, outcome.picks, outcome.metals,
                        outcome.prospective_mae)
    except BaseException:
        store.finish_run(loop_id, "failed", {"rounds": [r.model_dump(mode="json") for r in rounds]})
        raise
    store.finish_run(loop_id, "completed", {"rounds": [r.model_dump(mode="json") for r in rounds]})
    return rounds
