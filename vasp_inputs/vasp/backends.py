"""Submitting candidates' VASP chains and harvesting what finished: two calls, neither waits on a queue.

Backends (``VaspSettings.backend``):
- ``local``: ``submit_vasp`` runs each chain right away with jobflow's ``run_locally`` (custodian around
  ``vasp_cmd``), one candidate after the other, each in its own folder. For a workstation or an interactive
  node.
- ``fireworks``: each chain becomes a FireWorks workflow on the user's LaunchPad; ``qlaunch``/``rlaunch`` on
  the cluster run it. The workflow carries the candidate's on-disk job store, so TaskDocs land in the
  candidate folder.
- ``write``: each candidate folder gets the first step's VASP inputs, flow.json and a Slurm/PBS script running
  the whole chain (``run_flow``); ``submit_all.sh`` submits them. Nothing is started.

``harvest_vasp`` can be called any number of times. A candidate is 'completed' once every step's TaskDoc is in
its job store; 'failed' when its chain stopped on an error custodian could not fix (or any other error), with
the message; 'lost' when its folder, job store or LaunchPad workflow is gone; otherwise it keeps its
submission status ('submitted', or 'written' for scripts not yet run). One candidate's trouble never stops the
others.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from pymatgen.core import Structure

from vasp_inputs.backend import DftBackend, distinct_folders
from vasp_inputs.results import DftCode, DftResult, DftStatus, DftSubmission
from vasp_inputs.vasp.calculation import (
    MANIFEST,
    STORE_DIR,
    RunRecord,
    VaspManifest,
    candidate_store,
    check_store_readable,
    now,
    read_manifest,
    read_run_record,
    write_run_record,
)
from vasp_inputs.vasp.documents import read_task_docs, result_from_task_docs
from vasp_inputs.vasp.run_flow import run_calculation
from vasp_inputs.vasp.settings import VaspSettings
from vasp_inputs.vasp.write import (
    prepare_calculation,
    write_first_step_inputs,
    write_job_script,
    write_submit_all,
)

_MESSAGE_CHARS = 2000


def _check_folders(structures: Mapping[str, Structure], root: Path) -> dict[str, Path]:
    """Folder per candidate; refuses clashes and earlier calculations (nothing is overwritten)."""
    folders = distinct_folders(structures, root)
    existing = [str(folder) for folder in folders.values() if (folder / MANIFEST).exists()]
    if existing:
        raise FileExistsError(
            f"VASP calculations already exist in {existing}; harvest them or use another root"
        )
    return folders


def _failed_submission(candidate: str, folder: Path, backend: str, error: Exception) -> DftSubmission:
    """Record why a candidate could not be submitted, in its folder, so the harvest reports it."""
    folder.mkdir(parents=True, exist_ok=True)
    message = f"submission: {type(error).__name__}: {error}"[:_MESSAGE_CHARS]
    write_run_record(folder, RunRecord(state="failed", started=now(), finished=now(), message=message))
    return DftSubmission(candidate=candidate, code=DftCode.VASP, backend=backend, directory=str(folder.resolve()),
                         status="failed", message=message)


_LAUNCHPADS: dict[tuple[str, int], object] = {}


def load_launchpad(settings: VaspSettings):
    """The user's FireWorks LaunchPad: the file in the settings, else FireWorks' own configuration.

    One connection per LaunchPad file and process, reused by later submissions and harvests (a MongoDB client
    is meant to be long-lived; FireWorks' mongomock stand-in even keeps its data per client).
    """
    from fireworks import LaunchPad

    key = (str(settings.launchpad_file or ""), os.getpid())
    if key not in _LAUNCHPADS:
        if settings.launchpad_file is not None:
            _LAUNCHPADS[key] = LaunchPad.from_file(str(settings.launchpad_file))
        else:
            _LAUNCHPADS[key] = LaunchPad.auto_load()
    return _LAUNCHPADS[key]


def submit_vasp(
    structures: Mapping[str, Structure], root: Path, settings: VaspSettings
) -> list[DftSubmission]:
    """Hand every candidate's VASP chain to the configured backend; one DftSubmission per candidate."""
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    folders = _check_folders(structures, root)
    backend = settings.backend
    launchpad = load_launchpad(settings) if backend == "fireworks" else None
    submissions: list[DftSubmission] = []
    scripts: list[Path] = []
    for candidate, structure in structures.items():
        folder = folders[candidate]
        try:
            flow, manifest = prepare_calculation(structure, candidate, folder, settings, backend)
            reference, status = flow.uuid, "submitted"
            if backend == "local":
                run_calculation(folder, log=False)
            elif backend == "write":
                write_first_step_inputs(structure, folder, settings)
                scripts.append(write_job_script(candidate, folder, settings.job_script))
                status = "written"
            else:
                reference = _add_workflow(launchpad, flow, manifest, folder)
        except Exception as error:  # one candidate's bad input or POTCAR must not stop the others
            submissions.append(_failed_submission(candidate, folder, backend, error))
            continue
        submissions.append(DftSubmission(candidate=candidate, code=DftCode.VASP, backend=backend,
                                         directory=str(folder), reference=reference, status=status))
    if scripts:
        write_submit_all(root, scripts, settings.job_script)
    return submissions


def _add_workflow(launchpad, flow, manifest: VaspManifest, folder: Path) -> str:
    """Add the chain to the LaunchPad with the candidate's job store; the first firework id is the handle."""
    from jobflow.managers.fireworks import flow_to_workflow

    metadata = {"smoacs_candidate": manifest.candidate, "smoacs_folder": str(folder)}
    workflow = flow_to_workflow(flow, store=candidate_store(folder, manifest.job_store), metadata=metadata)
    ids = launchpad.add_wf(workflow)
    return str(min(ids.values()))


def harvest_vasp(submissions: Sequence[DftSubmission], settings: VaspSettings) -> list[DftResult]:
    """The current outcome of every submission, in order; never blocks, never raises for one candidate.

    A candidate whose records cannot be read (say, a JSON job store caught mid-write) keeps its open status,
    with the error in the message, rather than being declared failed on a transient read.
    """
    launchpad = None
    if any(s.backend == "fireworks" and s.reference for s in submissions):
        launchpad = load_launchpad(settings)
    results = []
    for submission in submissions:
        try:
            if submission.backend == "fireworks" and submission.status != "failed":
                results.append(_harvest_fireworks(submission, launchpad))
            else:
                results.append(_harvest_folder(submission))
        except Exception as error:  # e.g. a store read while a job writes it: say so, try again next time
            open_status = submission.status if submission.status in ("written", "submitted") else "submitted"
            message = f"could not be read this time: {type(error).__name__}: {error}"
            results.append(_result(submission, open_status, message))
    return results


def _result(submission: DftSubmission, status: DftStatus, message: str = "") -> DftResult:
    return DftResult(candidate=submission.candidate, code=DftCode.VASP, functional="", status=status,
                     directory=submission.directory, message=message[:_MESSAGE_CHARS])


def _completed(submission: DftSubmission, folder: Path, manifest: VaspManifest) -> DftResult | None:
    """The result when every step's TaskDoc is in the candidate's job store, else None."""
    if not (folder / STORE_DIR).is_dir():
        return None
    check_store_readable(folder, manifest.job_store)
    store = candidate_store(folder, manifest.job_store)
    store.connect()
    try:
        docs = read_task_docs(store, manifest.roles)
    finally:
        store.close()
    if set(docs) != set(manifest.roles):
        return None
    return result_from_task_docs(submission.candidate, docs)


def _harvest_folder(submission: DftSubmission) -> DftResult:
    """local and write backends: the job store and run_state.json in the candidate folder tell everything."""
    folder = Path(submission.directory)
    if not folder.is_dir():
        return _result(submission, "lost", f"calculation folder {folder} is gone")
    record: RunRecord | None = read_run_record(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        if record is not None and record.state == "failed":
            return _result(submission, "failed", record.message)
        return _result(submission, "lost", f"{folder} holds no {MANIFEST}")
    result = _completed(submission, folder, manifest)
    if result is not None:
        return result
    if record is None:
        status = submission.status if submission.status in ("written", "submitted") else "submitted"
        return _result(submission, status, "not started")
    if record.state == "failed":
        return _result(submission, "failed", record.message)
    if record.state == "running":
        return _result(submission, "submitted", f"running on {record.host} since {record.started}")
    return _result(submission, "lost", f"run recorded as completed but {folder / STORE_DIR} lacks outputs")


def _harvest_fireworks(submission: DftSubmission, launchpad) -> DftResult:
    """fireworks backend: the workflow state on the LaunchPad, then the TaskDocs in the job store."""
    try:
        workflow = launchpad.get_wf_by_fw_id_lzyfw(int(submission.reference))
    except ValueError:
        message = f"workflow of firework {submission.reference} is not on the LaunchPad"
        return _result(submission, "lost", message)
    state = workflow.state
    if state == "FIZZLED":
        return _result(submission, "failed", _fizzle_message(launchpad, workflow))
    if state != "COMPLETED":
        return _result(submission, "submitted", f"workflow {state} on the LaunchPad")
    folder = Path(submission.directory)
    manifest = read_manifest(folder) if folder.is_dir() else None
    if manifest is None:
        return _result(submission, "lost", f"workflow completed but {folder} (manifest, job store) is gone")
    result = _completed(submission, folder, manifest)
    if result is None:
        return _result(submission, "lost", f"workflow completed but the job store in {folder} lacks outputs")
    return result


def _fizzle_message(launchpad, workflow) -> str:
    """Name and last error line of each fizzled firework (FireWorks keeps the traceback of the launch)."""
    parts = []
    for fw_id, fw_state in sorted(workflow.fw_states.items()):
        if fw_state != "FIZZLED":
            continue
        firework = launchpad.get_fw_by_id(fw_id)
        action = firework.launches[-1].action if firework.launches else None
        stored = action.stored_data if action is not None else {}
        trace = (stored.get("_exception") or {}).get("_stacktrace") or "no traceback recorded"
        lines = [line for line in str(trace).strip().splitlines() if line.strip()]
        parts.append(f"{firework.name}: {lines[-1].strip() if lines else trace}")
    return "; ".join(parts) or "workflow FIZZLED"


class VaspBackend(DftBackend):
    """atomate2 VASP chains through the configured backend: write-only folders with job scripts (a cluster
    runs them), jobflow on this machine, or a FireWorks LaunchPad."""

    code = DftCode.VASP

    def __init__(self, settings: VaspSettings) -> None:
        self.settings = settings
        self.finishes_here = settings.backend == "local"  # run_locally finishes inside submit

    def submit(self, structures: Mapping[str, Structure], root: Path) -> list[DftSubmission]:
        return submit_vasp(structures, root, self.settings)

    def harvest(self, submissions: Sequence[DftSubmission]) -> list[DftResult]:
        return harvest_vasp(submissions, self.settings)
