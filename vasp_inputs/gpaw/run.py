"""Run the GPAW flow for each candidate and hand back ``DftResult``s (code 'GPAW', never reported as VASP).

Each candidate runs in its own folder under ``root`` and in its own worker process
(``python -m vasp_inputs.gpaw.worker FOLDER``), which calls ``jobflow.run_locally`` on the candidate's flow.
The worker process exists for three reasons: OpenBLAS reads ``OPENBLAS_NUM_THREADS`` only when it is loaded,
so the limit must be in the environment before numpy starts (a process that already imported numpy cannot
set it); a crash or a hang of one candidate (segfault, time limit) cannot take the others down; and memory
is returned after each candidate.

A candidate folder holds ``input.json`` (candidate, structure, settings, GPAW version), GPAW's text logs
(``relax.txt``, ``scf.txt``, ``bands.txt``), ``bandstructure.json`` for a band path, the worker's log
(``worker.log``, with jobflow's messages and any traceback) and ``result.json``. A folder whose ``input.json``
matches and that has a ``result.json`` is reused, not recomputed; a folder holding a different calculation is
never overwritten: that candidate is reported failed and says so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

from pymatgen.core import Structure

from vasp_inputs.gpaw.calculator import physics_for
from vasp_inputs.gpaw.settings import GpawSettings
from vasp_inputs.results import DftResult

INPUT_FILE, RESULT_FILE, WORKER_LOG = "input.json", "result.json", "worker.log"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def result_to_json(result: DftResult) -> dict[str, Any]:
    """A JSON-ready dict (the structure as pymatgen's dict)."""
    data = result.model_dump(exclude={"structure"})
    data["structure"] = result.structure.as_dict() if result.structure is not None else None
    return data


def result_from_json(data: Mapping[str, Any]) -> DftResult:
    structure = data.get("structure")
    return DftResult(**{**data, "structure": Structure.from_dict(structure) if structure else None})


def candidate_folder(root: Path, candidate: str) -> Path:
    """Folder of one candidate: its label with characters unsafe in file names replaced."""
    return Path(root) / (_UNSAFE.sub("_", candidate).strip("._") or "candidate")


def calculation_request(candidate: str, structure: Structure, settings: GpawSettings) -> dict[str, Any]:
    """What identifies a calculation: reusing a folder needs all of it to match."""
    request = {
        "candidate": candidate,
        "structure": structure.as_dict(),
        "settings": settings.identity(),
        "versions": {name: version(name) for name in ("gpaw", "gpaw-data")},
    }
    return json.loads(json.dumps(request))  # as it reads back from input.json


def worker_environment(settings: GpawSettings) -> dict[str, str]:
    """The worker's environment: BLAS threads fixed before anything loads OpenBLAS."""
    threads = str(settings.blas_threads)
    limits = {name: threads for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    return {**os.environ, **limits}


def _failed(candidate: str, functional: str, directory: Path, message: str, seconds: float) -> DftResult:
    return DftResult(candidate=candidate, code="GPAW", functional=functional, status="failed",
                     directory=str(directory), message=message, seconds=seconds)


def _log_tail(path: Path, lines: int = 5) -> str:
    if not path.exists():
        return ""
    tail = [line for line in path.read_text(errors="replace").splitlines() if line.strip()][-lines:]
    return " | ".join(tail)


def run_candidate(candidate: str, structure: Structure, root: Path, settings: GpawSettings) -> DftResult:
    """One candidate's GPAW relax + band gap in its own folder and worker process."""
    directory = candidate_folder(root, candidate)
    start = time.perf_counter()
    try:
        functional = physics_for(structure, settings).functional
    except Exception as error:  # noqa: BLE001 -- pymatgen's input set rejects the structure
        return _failed(candidate, "PBE", directory, f"MP input set: {type(error).__name__}: {error}", 0.0)
    request = calculation_request(candidate, structure, settings)
    input_path, result_path = directory / INPUT_FILE, directory / RESULT_FILE
    if directory.exists() and any(directory.iterdir()):
        previous = json.loads(input_path.read_text()) if input_path.exists() else None
        if previous is None or previous.get("request") != request:
            return _failed(candidate, functional, directory,
                           f"{directory} holds a different calculation (structure, settings or GPAW "
                           "version); not overwritten: remove it or choose another root", 0.0)
        if result_path.exists():
            return result_from_json(json.loads(result_path.read_text()))
    directory.mkdir(parents=True, exist_ok=True)
    input_path.write_text(json.dumps({"request": request, "run": settings.model_dump()}, indent=1) + "\n")
    command = [sys.executable, "-m", "vasp_inputs.gpaw.worker", str(directory)]
    with open(directory / WORKER_LOG, "w") as log:
        try:
            returncode: int | None = subprocess.run(
                command, env=worker_environment(settings), stdout=log, stderr=subprocess.STDOUT,
                timeout=settings.timeout_seconds, check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            returncode = None
    seconds = time.perf_counter() - start
    if returncode is None:
        return _failed(candidate, functional, directory,
                       f"time limit of {settings.timeout_seconds} s exceeded (see {WORKER_LOG})", seconds)
    if not result_path.exists():
        return _failed(candidate, functional, directory,
                       f"GPAW worker exited with code {returncode} without a result: "
                       f"{_log_tail(directory / WORKER_LOG)}", seconds)
    result = result_from_json(json.loads(result_path.read_text())).model_copy(update={"seconds": seconds})
    result_path.write_text(json.dumps(result_to_json(result), indent=1) + "\n")
    return result


def run_gpaw(
    structures: Mapping[str, Structure], root: Path, settings: GpawSettings | None = None
) -> list[DftResult]:
    """GPAW-PBE(+U) relaxation and band gap of each candidate, one after another, in ``root/<candidate>``.

    Failures (an SCF that does not converge, a relaxation that does not converge or crashes, a time limit, a
    folder holding another calculation) mark that candidate's status 'failed' with a message; the others are
    still computed. Results come back in the order of ``structures``.
    """
    if importlib.util.find_spec("_gpaw") is None:
        raise ModuleNotFoundError("GPAW is not installed in this environment (scripts/setup builds it)")
    settings = settings or GpawSettings()
    root = Path(root)
    folders = [candidate_folder(root, candidate) for candidate in structures]
    if len(set(folders)) != len(folders):
        raise ValueError("candidate labels map to the same folder name; make them distinct")
    root.mkdir(parents=True, exist_ok=True)
    return [run_candidate(label, structure, root, settings) for label, structure in structures.items()]
