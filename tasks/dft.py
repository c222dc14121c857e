"""Stages 'dft_submit' and 'dft_harvest': the best candidates to DFT, and DFT results back into the store.

Submission and harvesting are separate tasks so that no flow waits on a cluster queue: ``submit_dft`` hands
VASP work to its backend (write-only folders, a FireWorks LaunchPad, or jobflow on this machine) and
returns; ``harvest_dft`` (also the scheduled ``dft-harvest`` deployment) collects whatever finished. GPAW runs
here and now, one candidate at a time, each recorded as soon as it is done, so a killed run loses only the
candidate in progress. Every number is stored with its code and functional (``GPAW-PBE``, ``VASP-PBE+U``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from prefect import get_run_logger, task
from pydantic import BaseModel
from pymatgen.io.cif import CifWriter

from smoacs_core.dft_selection import select_for_dft
from smoacs_core.store import PropertyValue, ResultsStore
from smoacs_core.targets import PropertyTarget, range_target
from tasks.common import open_store
from vasp_inputs.config import DftConfig
from vasp_inputs.results import DftResult, DftSubmission, describe_statuses

STAGE = "dft"
OPEN_STATUSES = ("written", "submitted")
"""Calculations a harvest still looks at (GPAW never leaves one open: it runs inside the submit task)."""


class DftSubmitReport(BaseModel):
    run_id: str
    code: str
    selected: list[str]
    """candidates chosen this time, best first (those already handed to DFT before are not chosen again)"""
    statuses: dict[str, str]


def record_results(
    store: ResultsStore, run_id: str, results: Sequence[DftResult], targets: Sequence[PropertyTarget],
    judged_stage: str,
) -> None:
    """Store DFT outcomes: calculation rows always; structure, properties and the band-gap criterion when
    the calculation completed. The ML prediction it is compared with is the one at ``judged_stage``."""
    if not results:
        return
    store.update_dft_calculations(run_id, [
        {"candidate_id": r.candidate, "code": r.code, "status": r.status, "functional": r.functional,
         "message": r.message} for r in results
    ])
    done = [r for r in results if r.status == "completed"]
    predicted = store.candidates(run_id).set_index("id").get(f"{judged_stage}.band_gap")
    gap_target = range_target(targets, "band_gap")
    properties, criteria, structures = {}, {}, {}
    for result in done:
        values = [
            PropertyValue(STAGE, "band_gap", result.label, result.band_gap, "eV"),
            PropertyValue(STAGE, "energy_per_atom", result.label, result.energy_per_atom, "eV/atom"),
            PropertyValue(STAGE, "corrected_energy_per_atom", result.label, result.corrected_energy_per_atom,
                          "eV/atom"),
            PropertyValue(STAGE, "seconds", result.label, result.seconds, "s"),
        ]
        if result.is_gap_direct is not None:
            values.append(PropertyValue(STAGE, "is_gap_direct", result.label, float(result.is_gap_direct)))
        if predicted is not None and result.band_gap is not None:
            values.append(PropertyValue(STAGE, "band_gap_drift", result.label,
                                        result.band_gap - predicted[result.candidate], "eV"))
        properties[result.candidate] = values
        if gap_target is not None and result.band_gap is not None:
            criteria[result.candidate] = {"band_gap_ok": bool(gap_target.satisfied([result.band_gap])[0])}
        if result.structure is not None:
            path = Path(result.directory) / f"{result.candidate}-{result.label}.cif" if result.directory else None
            if path is not None:
                CifWriter(result.structure).write_file(path)
            structures[result.candidate] = (result.structure, None if path is None else str(path))
    store.save_properties(run_id, properties)
    store.save_criteria(run_id, STAGE, criteria)
    store.save_structures(run_id, STAGE, structures)


@task(name="dft-submit", persist_result=False)
def submit_dft(
    run_id: str, run_dir: str, store_url: str, dft: DftConfig, targets: list[PropertyTarget], judged_stage: str
) -> DftSubmitReport:
    """Choose the best candidates not yet handed to this code and hand them over (or, GPAW, compute them)."""
    logger = get_run_logger()
    store = open_store(store_url)
    table = store.candidates(run_id)
    handed = store.dft_calculations(run_id)
    handed = handed[handed["code"] == dft.code_name]
    if dft.code == "gpaw":  # a GPAW row still 'submitted' was interrupted mid-calculation: compute it again
        handed = handed[handed["status"] != "submitted"]
    structures = store.structures(table["id"], judged_stage)
    already = set(handed["candidate_id"])
    remaining = dft.candidates - len(already)
    selected = [] if remaining <= 0 else list(select_for_dft(
        table[~table["id"].isin(already)], targets, judged_stage, remaining, dft.only_successes,
        {i: len(s) for i, s in structures.items()}, dft.max_sites,
    )["id"])
    root = Path(run_dir) / "dft" / dft.code
    if not selected:
        logger.info("no candidate left for %s (%d already handed over)", dft.code_name, len(already))
    elif dft.code == "vasp":
        from vasp_inputs.vasp.backends import submit_vasp

        submissions = submit_vasp({i: structures[i] for i in selected}, root, dft.vasp)
        store.save_dft_calculations(run_id, [_row(s) for s in submissions])
        failed = [s for s in submissions if s.status == "failed"]
        if failed:
            logger.warning("%d submissions failed (see run_state.json in each folder): %s", len(failed),
                           ", ".join(s.directory for s in failed))
    else:
        from vasp_inputs.gpaw.run import run_gpaw

        for candidate_id in selected:
            folder = root / candidate_id
            store.save_dft_calculations(run_id, [_row(DftSubmission(
                candidate=candidate_id, code="GPAW", backend="local", directory=str(folder)))])
            (result,) = run_gpaw({candidate_id: structures[candidate_id]}, root, dft.gpaw)
            record_results(store, run_id, [result], targets, judged_stage)
            logger.info("%s %s: %s, gap %s eV (%s)", result.label, candidate_id, result.status,
                        "n/a" if result.band_gap is None else f"{result.band_gap:.3f}", result.message or "ok")
    statuses = dict(zip(*_latest(store, run_id, dft.code_name), strict=True))
    counts = describe_statuses(Counter(statuses.values()))
    message = f"{len(selected)} candidates handed to {dft.code_name}; {counts}"
    store.set_stage(run_id, "dft_submit", "completed", message)
    return DftSubmitReport(run_id=run_id, code=dft.code_name, selected=selected, statuses=statuses)


def _row(submission: DftSubmission) -> dict[str, str]:
    return {"candidate_id": submission.candidate, "code": submission.code, "backend": submission.backend,
            "directory": submission.directory, "reference": submission.reference, "status": submission.status}


def _latest(store: ResultsStore, run_id: str, code: str) -> tuple[list[str], list[str]]:
    rows = store.dft_calculations(run_id)
    rows = rows[rows["code"] == code]
    return list(rows["candidate_id"]), list(rows["status"])


class DftHarvestReport(BaseModel):
    statuses: dict[str, str]
    """candidate id -> status after this harvest (the run's open VASP calculations only)"""
    newly_completed: int


def runs_with_open_calculations(store: ResultsStore, run_id: str | None = None) -> list[str]:
    """Runs (all, or only ``run_id``) with VASP calculations a harvest still has to look at."""
    rows = store.dft_calculations(run_id, OPEN_STATUSES)
    return sorted(set(rows.loc[rows["code"] == "VASP", "run_id"]))


@task(name="dft-harvest", persist_result=False)
def harvest_dft(
    store_url: str, run_id: str, dft: DftConfig, targets: list[PropertyTarget], judged_stage: str
) -> DftHarvestReport:
    """Collect the run's open VASP calculations and record what finished."""
    from vasp_inputs.vasp.backends import harvest_vasp

    logger = get_run_logger()
    store = open_store(store_url)
    rows = store.dft_calculations(run_id, OPEN_STATUSES)
    submissions = [
        DftSubmission(candidate=r.candidate_id, code="VASP", backend=r.backend, directory=r.directory,
                      reference=r.reference, status=r.status)
        for r in rows[rows["code"] == "VASP"].itertuples(index=False)
    ]
    results = harvest_vasp(submissions, dft.vasp) if submissions else []
    record_results(store, run_id, [r for r in results if r.status not in OPEN_STATUSES], targets, judged_stage)
    statuses = {r.candidate: r.status for r in results}
    if statuses:
        logger.info("run %s: %s", run_id, describe_statuses(Counter(statuses.values())))
    return DftHarvestReport(statuses=statuses, newly_completed=sum(r.status == "completed" for r in results))
