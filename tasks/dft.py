"""Stages 'dft_submit' and 'dft_harvest' as Prefect tasks: the steps of ``vasp_inputs.steps`` and the store.

Submission and harvesting are separate tasks so that no flow waits on a cluster queue: ``submit_dft`` hands
the best candidates to the configured code's backend and returns; ``harvest_dft`` (also the scheduled
``dft-harvest`` deployment) records whatever finished. Where calculations finish on this machine (GPAW's
local pool, jobflow VASP), the pipeline's harvest stage waits for them and records each as it finishes; a
killed run leaves the pool computing and the next run harvests it. Every number is stored with its code and
functional (``GPAW-PBE``, ``VASP-PBE+U``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from pydantic import BaseModel

from smoacs_core.acquisition import Pick
from smoacs_core.dft_filters import FilterOutcome
from smoacs_core.stages import Stage, StructureStage
from smoacs_core.steps.report import describe_statuses
from smoacs_core.store import PropertyValue, ResultsStore
from smoacs_core.targets import PropertyTarget
from tasks.common import NETWORK_RETRIES, RETRY_DELAY_SECONDS, open_store
from vasp_inputs.config import DftConfig
from vasp_inputs.results import OPEN_STATUSES, DftResult
from vasp_inputs.steps import (
    DftSubmitInput,
    finishes_here,
    harvest,
    result_records,
    stored_submissions,
    submission_row,
    submit,
)

POLL_SECONDS = 5.0
"""How often a waiting harvest looks at calculations running on this machine."""


class DftSubmitReport(BaseModel):
    run_id: str
    code: str
    selected: list[str]
    """candidates chosen this time, best first (those already handed to DFT before are not chosen again)"""
    statuses: dict[str, str]


class DftHarvestReport(BaseModel):
    statuses: dict[str, str]
    """candidate id -> status after this harvest (the run's calculations that were open)"""
    newly_completed: int


def record_results(
    store: ResultsStore, run_id: str, results: Sequence[DftResult], targets: Sequence[PropertyTarget],
    judged_stage: StructureStage, dft: DftConfig,
) -> None:
    """Store DFT outcomes and their labels; the ML gap they are compared with is the one at ``judged_stage``."""
    if not results:
        return
    predicted = store.candidates(run_id).set_index("id").get(f"{judged_stage}.band_gap")
    records = result_records(results, targets, {} if predicted is None else predicted.dropna().to_dict(), dft,
                             run_id)
    store.update_dft_calculations(run_id, records.calculations)
    store.save_properties(run_id, records.properties)
    store.save_criteria(run_id, StructureStage.DFT, records.criteria)
    store.save_structures(run_id, StructureStage.DFT, records.structures)
    store.save_labels(records.labels)


def _harvest(
    store: ResultsStore, run_id: str, dft: DftConfig, targets: Sequence[PropertyTarget],
    judged_stage: StructureStage, wait: bool,
) -> DftHarvestReport:
    """Record every open calculation that finished; with ``wait``, go on until those running here are done."""
    logger = get_run_logger()
    submissions = stored_submissions(store.dft_calculations(run_id), OPEN_STATUSES)
    statuses, completed = {}, 0
    while submissions:
        results = harvest(dft, submissions)
        finished = [r for r in results if r.status not in OPEN_STATUSES]
        record_results(store, run_id, finished, targets, judged_stage, dft)
        for result in finished:
            logger.info("%s %s: %s, gap %s eV (%s)", result.label, result.candidate, result.status,
                        "n/a" if result.band_gap is None else f"{result.band_gap:.3f}", result.message or "ok")
        statuses |= {r.candidate: r.status for r in results}
        completed += sum(r.status == "completed" for r in finished)
        submissions = [s for s, r in zip(submissions, results, strict=True) if r.status in OPEN_STATUSES]
        if not (wait and submissions and finishes_here(dft, submissions)):
            break
        time.sleep(POLL_SECONDS)
    if statuses:
        logger.info("run %s: %s", run_id, describe_statuses(Counter(statuses.values())))
    return DftHarvestReport(statuses=statuses, newly_completed=completed)


@task(name="dft-submit", persist_result=False)
def submit_dft(
    run_id: str, run_dir: str, store_url: str, dft: DftConfig, targets: list[PropertyTarget],
    judged_stage: StructureStage,
) -> DftSubmitReport:
    """Choose the best candidates not yet handed to this code and hand them over (never waits)."""
    logger = get_run_logger()
    store = open_store(store_url)
    table = store.candidates(run_id)
    calculations = store.dft_calculations(run_id)
    own = calculations[calculations["code"] == dft.code.label]
    request = DftSubmitInput(
        candidates=table, structures=store.structures(table["id"], judged_stage),
        handed=stored_submissions(own), dft=dft, targets=targets, judged_stage=judged_stage,
        root=Path(run_dir) / "dft" / dft.code,
        labelled=[label.structure for label in store.labels()] if dft.acquisition.predictor else [],
    )
    submitted = submit(request)
    submissions = submitted.submissions
    if submitted.filtered is not None:
        _record_filters(store, run_id, judged_stage, submitted.filtered, Path(run_dir) / "dft")
    if submitted.picks is not None:
        _record_picks(store, run_id, judged_stage, submitted.picks, dft.acquisition.predictor, Path(run_dir) / "dft")
    if submissions:
        store.save_dft_calculations(run_id, [submission_row(s) for s in submissions])
    else:
        logger.info("no candidate left for %s (%d already handed over)", dft.code.label, len(own))
    for failed in (s for s in submissions if s.status == "failed"):
        logger.warning("%s: submission to %s failed: %s", failed.candidate, dft.code.label, failed.message)
    rows = store.dft_calculations(run_id)
    rows = rows[rows["code"] == dft.code.label]
    statuses = dict(zip(rows["candidate_id"], rows["status"], strict=True))
    counts = describe_statuses(Counter(statuses.values()))
    message = f"{len(submissions)} candidates handed to {dft.code.label}; {counts}"
    store.set_stage(run_id, Stage.DFT_SUBMIT, "completed", message)
    return DftSubmitReport(run_id=run_id, code=dft.code.label, selected=[s.candidate for s in submissions],
                           statuses=statuses)


def _record_filters(
    store: ResultsStore, run_id: str, stage: StructureStage, filtered: FilterOutcome, directory: Path
) -> None:
    """Each judged candidate's filter outcome in the store (criterion ``passes_dft_filters``, the numbers the
    filters looked at) and every dropped candidate with its reasons in ``dft/filtered.csv``."""
    store.save_criteria(run_id, stage, {i: {"passes_dft_filters": not reasons} for i, reasons in
                                        filtered.reasons.items()})
    properties: dict[str, list[PropertyValue]] = {}
    for candidate, value in filtered.non_metal_probability.items():
        properties.setdefault(candidate, []).append(
            PropertyValue(stage, "non_metal_probability", "cgcnn-metal-probability", value))
    for candidate, value in filtered.band_gap_spread.items():
        properties.setdefault(candidate, []).append(PropertyValue(stage, "band_gap_spread", "dft filters", value, "eV"))
    store.save_properties(run_id, properties)
    directory.mkdir(parents=True, exist_ok=True)
    dropped = filtered.dropped()
    pd.DataFrame({"id": list(dropped), "reasons": ["; ".join(r) for r in dropped.values()]}).to_csv(
        directory / "filtered.csv", index=False)
    get_run_logger().info("filters before DFT dropped %d of %d candidates (%s)", len(dropped),
                          len(filtered.reasons), directory / "filtered.csv")


def _record_picks(
    store: ResultsStore, run_id: str, stage: StructureStage, picks: Sequence[Pick], predictor: str, directory: Path
) -> None:
    """The acquisition's prediction of every candidate it judged (``acquisition_mean``: what the model said before
    DFT, the prospective error's reference), and the picks with their reasons in ``dft/selection.csv``."""
    store.save_properties(run_id, {pick.candidate: [
        PropertyValue(stage, "acquisition_mean", predictor, pick.mean, "eV"),
        PropertyValue(stage, "acquisition_sigma", predictor, pick.sigma, "eV"),
        PropertyValue(stage, "acquisition_probability", predictor, pick.probability)] for pick in picks})
    directory.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([pick.model_dump() for pick in picks if pick.reason]).to_csv(directory / "selection.csv", index=False)


def runs_with_open_calculations(store: ResultsStore, run_id: str | None = None) -> list[str]:
    """Runs (all, or only ``run_id``) with calculations a harvest still has to look at."""
    return sorted(set(store.dft_calculations(run_id, OPEN_STATUSES)["run_id"]))


@task(name="dft-harvest", persist_result=False, retries=NETWORK_RETRIES, retry_delay_seconds=RETRY_DELAY_SECONDS)
def harvest_dft(
    store_url: str, run_id: str, dft: DftConfig, targets: list[PropertyTarget], judged_stage: StructureStage,
    wait: bool = False,
) -> DftHarvestReport:
    """Record the run's calculations that finished; ``wait``: also wait for those running on this machine."""
    return _harvest(open_store(store_url), run_id, dft, targets, judged_stage, wait)
