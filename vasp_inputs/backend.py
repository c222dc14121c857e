"""One interface for every DFT code: submit candidates, harvest what finished; the pipeline knows no more.

``submit`` hands structures to the code's backend and returns at once with one ``DftSubmission`` per
candidate; ``harvest`` reads the current outcome of submissions, any number of times, never waiting on a
queue. VASP (atomate2: write-only folders with job scripts, jobflow on this machine, FireWorks) and GPAW (a
pool of worker processes on this machine) both implement it, so the pipeline, the store and the report never
ask which code ran: the code travels with every result as a ``DftCode``. ``run_to_completion`` submits and
waits, for scripts and benchmarks on one machine. ``DftConfig.backend()`` gives the configured code's backend.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path

from pymatgen.core import Structure

from vasp_inputs.results import OPEN_STATUSES, DftCode, DftResult, DftSubmission

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

__all__ = [
    "DftBackend", "DftCode", "candidate_folder", "harvest_until_done", "run_to_completion",
]


def candidate_folder(root: Path, candidate: str) -> Path:
    """Folder of one candidate under ``root``: its id with characters unsafe in paths replaced (every backend)."""
    name = _UNSAFE.sub("_", candidate).strip("._")
    if not name:
        raise ValueError(f"candidate id {candidate!r} gives no usable folder name")
    return Path(root) / name


def distinct_folders(structures: Mapping[str, Structure], root: Path) -> dict[str, Path]:
    """Folder per candidate; two candidates that would share a folder are refused before any work."""
    folders = {candidate: candidate_folder(root, candidate) for candidate in structures}
    seen: dict[Path, str] = {}
    for candidate, folder in folders.items():
        if folder in seen:
            raise ValueError(f"candidates {seen[folder]!r} and {candidate!r} map to the same folder {folder}")
        seen[folder] = candidate
    return folders


class DftBackend(ABC):
    """Where one code's calculations go and how their outcomes come back."""

    code: DftCode
    finishes_here: bool = False
    """True when calculations run on this machine without a scheduler (a pipeline's harvest stage then waits
    for them); False when a cluster queue or a user runs them later."""

    @abstractmethod
    def submit(self, structures: Mapping[str, Structure], root: Path) -> list[DftSubmission]:
        """Hand each candidate (id -> structure) to the code, each in ``candidate_folder(root, id)``."""

    @abstractmethod
    def harvest(self, submissions: Sequence[DftSubmission]) -> list[DftResult]:
        """The current outcome of each submission, in order; open ones keep an open status."""


def run_to_completion(
    backend: DftBackend, structures: Mapping[str, Structure], root: Path, poll_seconds: float = 2.0
) -> list[DftResult]:
    """Submit and harvest until nothing is open: for backends whose calculations finish on this machine."""
    return harvest_until_done(backend, backend.submit(structures, root), poll_seconds)


def harvest_until_done(
    backend: DftBackend, submissions: Sequence[DftSubmission], poll_seconds: float = 2.0
) -> list[DftResult]:
    """Harvest again every ``poll_seconds`` until no submission is open (only where calculations finish here:
    a cluster queue is harvested later instead, by the scheduled harvest)."""
    if not backend.finishes_here:
        raise ValueError(f"{backend.code.label} calculations of this backend finish elsewhere; harvest them later")
    while True:
        results = backend.harvest(submissions)
        if not any(result.status in OPEN_STATUSES for result in results):
            return results
        time.sleep(poll_seconds)
