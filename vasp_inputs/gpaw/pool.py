"""GPAW behind the DFT backend interface: submit starts a local pool of worker processes, harvest reads results.

``GpawBackend.submit`` prepares one folder per candidate and starts one pool process
(``python -m vasp_inputs.gpaw.pool FOLDER...``, in its own session) that runs the candidates' workers
(``python -m vasp_inputs.gpaw.worker FOLDER``), ``GpawSettings.parallel_candidates`` at a time (one per core
by default), each under the wall-time limit (status 'timeout' when it is exceeded). It returns at once;
``harvest`` reads each folder's ``result.json`` and reports a candidate whose pool is gone without a result
as 'lost'. Like VASP, nothing waits on the calculation unless
the caller wants to (``vasp_inputs.backend.harvest_until_done``), and a killed pipeline leaves the pool
computing: a rerun harvests it.

A worker process per candidate, because OpenBLAS reads ``OPENBLAS_NUM_THREADS`` only when it is loaded (the
limit must be in the environment before numpy starts), a crash or hang of one candidate cannot take the
others down, and memory is returned after each candidate.

A candidate folder holds ``input.json`` (candidate, structure, settings, GPAW version), GPAW's text logs
(``relax.txt``, ``scf.txt``, ``bands.txt``), ``bandstructure.json`` for a band path, the worker's log
(``worker.log``, with jobflow's messages and any traceback) and ``result.json``. A folder whose ``input.json``
matches and that has a ``result.json`` is reused, not recomputed; a folder holding a different calculation is
never overwritten: that candidate's submission fails and says so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path
from typing import Any

from pymatgen.core import Structure

from vasp_inputs.backend import DftBackend, distinct_folders
from vasp_inputs.gpaw.calculator import physics_for
from vasp_inputs.gpaw.settings import GpawSettings
from vasp_inputs.results import DftCode, DftResult, DftSubmission

INPUT_FILE, RESULT_FILE, WORKER_LOG, POOL_LOG = "input.json", "result.json", "worker.log", "gpaw-pool.log"
WORKER_RESULT_FILE = "worker-result.json"
"""What the worker computed; the pool adds the wall time and only then publishes ``result.json``, so a harvest
never reads a result that is still being completed."""
POOL_MODULE = "vasp_inputs.gpaw.pool"
_PRINT = threading.Lock()


def result_to_json(result: DftResult) -> dict[str, Any]:
    """A JSON-ready dict (the structure as pymatgen's dict)."""
    data = result.model_dump(mode="json", exclude={"structure"})
    data["structure"] = result.structure.as_dict() if result.structure is not None else None
    return data


def result_from_json(data: Mapping[str, Any]) -> DftResult:
    structure = data.get("structure")
    return DftResult(**{**data, "structure": Structure.from_dict(structure) if structure else None})


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
    return DftResult(candidate=candidate, code=DftCode.GPAW, functional=functional, status="failed",
                     directory=str(directory), message=message, seconds=seconds)


def _log_tail(path: Path, lines: int = 5) -> str:
    if not path.exists():
        return ""
    tail = [line for line in path.read_text(errors="replace").splitlines() if line.strip()][-lines:]
    return " | ".join(tail)


def _write_result(directory: Path, result: DftResult) -> None:
    temporary = directory / f"{RESULT_FILE}.tmp"
    temporary.write_text(json.dumps(result_to_json(result), indent=1) + "\n")
    os.replace(temporary, directory / RESULT_FILE)


def prepare_folder(candidate: str, structure: Structure, directory: Path, settings: GpawSettings) -> str | None:
    """Write the candidate's ``input.json``; None if the folder is ready to run or already holds this result,
    else why it cannot be used (the structure is outside MP's input set, or another calculation is there)."""
    try:
        physics_for(structure, settings)
    except Exception as error:  # noqa: BLE001 -- pymatgen's input set rejects the structure
        return f"MP input set: {type(error).__name__}: {error}"
    request = calculation_request(candidate, structure, settings)
    input_path = directory / INPUT_FILE
    if directory.exists() and any(directory.iterdir()):
        previous = json.loads(input_path.read_text()) if input_path.exists() else None
        if previous is None or previous.get("request") != request:
            return (f"{directory} holds a different calculation (structure, settings or GPAW version); not "
                    "overwritten: remove it or choose another root")
        if (directory / RESULT_FILE).exists():
            return None
    directory.mkdir(parents=True, exist_ok=True)
    input_path.write_text(json.dumps({"request": request, "run": settings.model_dump()}, indent=1) + "\n")
    for stale in (RESULT_FILE, WORKER_RESULT_FILE):
        (directory / stale).unlink(missing_ok=True)
    return None


def run_folder(directory: Path) -> DftResult:
    """One candidate's GPAW relax + band gap in its worker process, under the wall-time limit; the outcome,
    failures included, is left in ``result.json``."""
    try:
        return _run_worker(directory)
    except Exception as error:  # noqa: BLE001 -- the pool goes on with the other candidates
        result = _failed(directory.name, "PBE", directory, f"GPAW pool: {type(error).__name__}: {error}", 0.0)
        _write_result(directory, result)
        return result


def _run_worker(directory: Path) -> DftResult:
    data = json.loads((directory / INPUT_FILE).read_text())
    candidate, settings = data["request"]["candidate"], GpawSettings(**data["run"])
    functional = physics_for(Structure.from_dict(data["request"]["structure"]), settings).functional
    start = time.perf_counter()
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
    result_path = directory / WORKER_RESULT_FILE
    if returncode is None:
        result = _failed(candidate, functional, directory,
                         f"time limit of {settings.timeout_seconds} s exceeded (see {WORKER_LOG})", seconds)
        result = result.model_copy(update={"status": "timeout"})
    elif not result_path.exists():
        result = _failed(candidate, functional, directory,
                         f"GPAW worker exited with code {returncode} without a result: "
                         f"{_log_tail(directory / WORKER_LOG)}", seconds)
    else:
        result = result_from_json(json.loads(result_path.read_text())).model_copy(update={"seconds": seconds})
    _write_result(directory, result)
    return result


def _pool_is_running(reference: str) -> bool:
    """Whether the pool process of a submission is still alive: not a zombie (a finished pool its parent has
    not reaped) and not another program that reused the process id. For a moment after it starts, a process's
    command line reads empty; that counts as running."""
    try:
        pid = int(reference)
    except ValueError:
        return False
    proc = Path(f"/proc/{pid}")
    if Path("/proc/self").exists():
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (proc / "cmdline").read_bytes()
        except (OSError, IndexError):
            return False
        return state != "Z" and (not cmdline or POOL_MODULE.encode() in cmdline)
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


class GpawBackend(DftBackend):
    """GPAW-PBE(+U) relaxation and band gap of each candidate on this machine, in a local pool of processes."""

    code = DftCode.GPAW
    finishes_here = True

    def __init__(self, settings: GpawSettings | None = None) -> None:
        self.settings = settings or GpawSettings()
        self._pools: dict[str, subprocess.Popen] = {}
        """pool processes this backend started: polled (and so reaped) by harvest"""

    def submit(self, structures: Mapping[str, Structure], root: Path) -> list[DftSubmission]:
        if importlib.util.find_spec("_gpaw") is None:
            raise ModuleNotFoundError("GPAW is not installed in this environment (scripts/setup builds it)")
        root = Path(root).resolve()
        folders = distinct_folders(structures, root)
        root.mkdir(parents=True, exist_ok=True)
        problems = {c: prepare_folder(c, s, folders[c], self.settings) for c, s in structures.items()}
        to_run = [folders[c] for c, problem in problems.items()
                  if problem is None and not (folders[c] / RESULT_FILE).exists()]
        reference = str(self._start_pool(to_run, root)) if to_run else ""
        return [
            DftSubmission(candidate=candidate, code=DftCode.GPAW, backend="local", directory=str(folders[candidate]),
                          reference=reference, status="submitted" if problem is None else "failed",
                          message=problem or "")
            for candidate, problem in problems.items()
        ]

    def _start_pool(self, folders: list[Path], root: Path) -> int:
        parallel = min(self.settings.parallel_candidates or os.cpu_count() or 1, len(folders))
        command = [sys.executable, "-m", POOL_MODULE, "--parallel", str(parallel), *map(str, folders)]
        with open(root / POOL_LOG, "a") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                       stdin=subprocess.DEVNULL)
        self._pools[str(process.pid)] = process
        return process.pid

    def _running(self, reference: str) -> bool:
        started_here = self._pools.get(reference)
        return started_here.poll() is None if started_here is not None else _pool_is_running(reference)

    def harvest(self, submissions: Sequence[DftSubmission]) -> list[DftResult]:
        results = []
        for submission in submissions:
            directory = Path(submission.directory)
            running = self._running(submission.reference)  # before the result: a pool writes it, then ends
            if submission.status == "failed":
                results.append(_failed(submission.candidate, "PBE", directory, submission.message, 0.0))
            elif (directory / RESULT_FILE).exists():
                results.append(result_from_json(json.loads((directory / RESULT_FILE).read_text())))
            elif running:
                results.append(DftResult(candidate=submission.candidate, code=DftCode.GPAW, functional="",
                                         status="submitted", directory=str(directory),
                                         message=f"running in GPAW pool process {submission.reference}"))
            else:
                results.append(DftResult(
                    candidate=submission.candidate, code=DftCode.GPAW, functional="", status="lost",
                    directory=str(directory),
                    message=f"the GPAW pool process ({submission.reference or 'none'}) stopped before this "
                            f"candidate finished; see {directory.parent / POOL_LOG}",
                ))
        return results


def _say(line: str) -> None:
    with _PRINT:  # one line at a time: candidates run side by side in threads
        print(line, flush=True)


def _run_and_say(directory: Path) -> DftResult:
    _say(f"start {directory.name}")
    result = run_folder(directory)
    _say(f"{result.candidate}: {result.status} {result.message}")
    return result


def main(argv: list[str] | None = None) -> int:
    """The pool process: run the workers of the given candidate folders, ``--parallel N`` at a time."""
    args = sys.argv[1:] if argv is None else argv
    parallel = 1
    if args[:1] == ["--parallel"]:
        parallel, args = int(args[1]), args[2:]
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(_run_and_say, [Path(folder) for folder in args]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
