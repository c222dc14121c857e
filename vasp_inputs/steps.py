"""Stages 'dft_submit' and 'dft_harvest' as step functions, the same for every DFT code.

``submit`` chooses the best candidates not yet handed to DFT and hands them to the configured backend;
``harvest`` reads back what the backends finished; ``result_records`` turns outcomes into what the results
store keeps (calculation rows, properties labelled with code and functional, the band-gap criterion, relaxed
structures, and a DFT label for the correction models to learn from). The backend interface
(``vasp_inputs.backend``) hides which code runs, so nothing here asks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict
from pymatgen.core import Structure
from pymatgen.io.cif import CifWriter

from smoacs_core.acquisition import Pick, acquire, chosen
from smoacs_core.dft_filters import FilterOutcome, apply_filters
from smoacs_core.dft_selection import select_for_dft
from smoacs_core.labels import DftLabel
from smoacs_core.stages import StructureStage
from smoacs_core.store import PropertyValue
from smoacs_core.targets import PropertyTarget, range_target
from vasp_inputs.backend import DftBackend
from vasp_inputs.config import DftConfig
from vasp_inputs.results import OPEN_STATUSES, DftCode, DftResult, DftSubmission

REDO_STATUSES = ("lost",)
"""Calculations on this machine that will never come back (their pool was killed with the machine): their
candidates are handed over again."""


class DftSubmitInput(BaseModel):
    """The run's candidates as the store has them (ranking columns at ``judged_stage``) and their structures."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    candidates: pd.DataFrame
    structures: dict[str, Structure]
    """candidate id -> structure at ``judged_stage`` (candidates without one cannot go to DFT)"""
    handed: list[DftSubmission]
    """this code's earlier calculations of the run, as the store has them"""
    dft: DftConfig
    targets: list[PropertyTarget]
    judged_stage: StructureStage
    root: Path
    """where this code's candidate folders go"""
    labelled: list[Structure] = []
    """structures DFT already labelled (acquisition never picks a match)"""


class DftSubmitOutput(BaseModel):
    """The submissions, what the filters before DFT dropped, with why, and the acquisition's numbers."""

    submissions: list[DftSubmission]
    filtered: FilterOutcome | None = None
    picks: list[Pick] | None = None
    """with an acquisition: every eligible candidate's mean, uncertainty, window probability and pick reason"""


def submit(request: DftSubmitInput, backend: DftBackend | None = None) -> DftSubmitOutput:
    """Hand the best-ranked candidates that pass the filters (up to ``dft.candidates`` in all, counting earlier
    ones) to the backend."""
    backend = backend or request.dft.backend()
    redo = set()
    if backend.finishes_here:  # calculations here that will never come back are handed over again
        still_open = [s for s in request.handed if s.status in OPEN_STATUSES]
        redo = {r.candidate for r in backend.harvest(still_open) if r.status in REDO_STATUSES}
        redo |= {s.candidate for s in request.handed if s.status in REDO_STATUSES}
    already = {s.candidate for s in request.handed} - redo
    remaining = request.dft.candidates - len(already)
    if remaining <= 0:
        return DftSubmitOutput(submissions=[])
    table = request.candidates[~request.candidates["id"].isin(already)]
    structures = {i: request.structures[i] for i in table["id"] if i in request.structures}
    dft, filtered = request.dft, None
    if dft.filters.active:
        column = f"{request.judged_stage}.band_gap"
        gaps = table.set_index("id")[column].dropna().to_dict() if column in table.columns else {}
        filtered = apply_filters(structures, gaps, dft.filters)
        structures = {i: s for i, s in structures.items() if not filtered.reasons[i]}
    picks = None
    if dft.acquisition.predictor is not None:
        picks = _acquire(request, structures, remaining)
        chosen_ids = chosen(picks)
    else:
        sites = {i: len(s) for i, s in structures.items()}
        chosen_ids = list(select_for_dft(table, request.targets, request.judged_stage, remaining, dft.only_successes,
                                         sites, dft.max_sites)["id"])
    submissions = backend.submit({i: structures[i] for i in chosen_ids}, request.root)
    return DftSubmitOutput(submissions=submissions, filtered=filtered, picks=picks)


def _acquire(request: DftSubmitInput, structures: dict[str, Structure], count: int) -> list[Pick]:
    """The acquisition's picks among candidates within ``max_sites``, for the run's band-gap window."""
    from smoacs_core.predictors.registry import load_predictor

    target = range_target(request.targets, "band_gap")
    if target is None:
        raise ValueError("dft.acquisition needs a band_gap range target in the run")
    dft = request.dft
    eligible = {i: s for i, s in structures.items() if dft.max_sites is None or len(s) <= dft.max_sites}
    return acquire(eligible, load_predictor(dft.acquisition.predictor), target, count,
                   dft.acquisition.exploration_share, request.labelled)


def harvest(dft: DftConfig, submissions: Sequence[DftSubmission]) -> list[DftResult]:
    """The current outcome of each submission (any code), in order; never waits."""
    outcomes: dict[int, DftResult] = {}
    for code in dict.fromkeys(s.code for s in submissions):
        numbered = [(n, s) for n, s in enumerate(submissions) if s.code is code]
        harvested = dft.backend(code).harvest([s for _, s in numbered])
        outcomes.update({n: result for (n, _), result in zip(numbered, harvested, strict=True)})
    return [outcomes[n] for n in range(len(submissions))]


def finishes_here(dft: DftConfig, submissions: Sequence[DftSubmission]) -> bool:
    """Whether any of the submissions runs on this machine without a scheduler (worth waiting for)."""
    return any(dft.backend(code).finishes_here for code in {s.code for s in submissions})


def stored_submissions(rows: pd.DataFrame, statuses: Sequence[str] | None = None) -> list[DftSubmission]:
    """The store's calculation rows (with one of ``statuses``, if given) as submissions."""
    if statuses is not None:
        rows = rows[rows["status"].isin(statuses)]
    return [
        DftSubmission(candidate=r.candidate_id, code=DftCode(r.code), backend=r.backend, directory=r.directory,
                      reference=r.reference or "", status=r.status)
        for r in rows.itertuples(index=False)
    ]


def submission_row(submission: DftSubmission) -> dict[str, str]:
    """A ``dft_calculations`` row of the store."""
    return {"candidate_id": submission.candidate, "code": submission.code.label, "backend": submission.backend,
            "directory": submission.directory, "reference": submission.reference, "status": submission.status,
            "message": submission.message}


class DftRecords(BaseModel):
    """What the store keeps of DFT outcomes."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    calculations: list[dict[str, str]]
    properties: dict[str, list[PropertyValue]]
    criteria: dict[str, dict[str, bool]]
    structures: dict[str, tuple[Structure, str | None]]
    labels: list[DftLabel]


def result_records(
    results: Sequence[DftResult], targets: Sequence[PropertyTarget], predicted_gaps: Mapping[str, float],
    dft: DftConfig, run_id: str,
) -> DftRecords:
    """Calculation rows for every outcome; for completed ones the properties (labelled 'GPAW-PBE',
    'VASP-PBE+U'), the drift from the ML gap ``predicted_gaps`` it checks, the band-gap criterion of the run's
    range target, the relaxed structure (also written as CIF beside the calculation) and a label (source and
    group: the run; settings: ``dft``'s for that code)."""
    stage = StructureStage.DFT
    records = DftRecords(
        calculations=[{"candidate_id": r.candidate, "code": r.code.label, "status": r.status,
                       "functional": r.functional, "message": r.message} for r in results],
        properties={}, criteria={}, structures={}, labels=[],
    )
    gap_target = range_target(targets, "band_gap")
    for result in (r for r in results if r.status == "completed"):
        label = result.label
        values = [
            PropertyValue(stage, "band_gap", label, result.band_gap, "eV"),
            PropertyValue(stage, "energy_per_atom", label, result.energy_per_atom, "eV/atom"),
            PropertyValue(stage, "corrected_energy_per_atom", label, result.corrected_energy_per_atom, "eV/atom"),
            PropertyValue(stage, "seconds", label, result.seconds, "s"),
        ]
        if result.is_gap_direct is not None:
            values.append(PropertyValue(stage, "is_gap_direct", label, float(result.is_gap_direct)))
        predicted = predicted_gaps.get(result.candidate)
        if predicted is not None and result.band_gap is not None:
            values.append(PropertyValue(stage, "band_gap_drift", label, result.band_gap - predicted, "eV"))
        records.properties[result.candidate] = values
        if gap_target is not None and result.band_gap is not None:
            records.criteria[result.candidate] = {"band_gap_ok": bool(gap_target.satisfied([result.band_gap])[0])}
        if result.structure is not None:
            path = Path(result.directory) / f"{result.candidate}-{label}.cif" if result.directory else None
            if path is not None:
                CifWriter(result.structure).write_file(path)
            records.structures[result.candidate] = (result.structure, None if path is None else str(path))
            if result.band_gap is not None:
                settings = getattr(dft, result.code.value).model_dump(mode="json")
                records.labels.append(DftLabel(
                    name=result.candidate, structure=result.structure, band_gap=max(result.band_gap, 0.0),
                    code=result.code.label, functional=result.functional, source=f"run {run_id}", group=run_id,
                    energy_per_atom=result.energy_per_atom, settings=settings))
    return records
