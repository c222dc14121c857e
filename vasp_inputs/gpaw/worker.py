"""Worker process for one candidate: ``python -m vasp_inputs.gpaw.worker FOLDER``.

Reads ``FOLDER/input.json`` (written by ``pool.prepare_folder``), runs the candidate's flow with
``jobflow.run_locally`` inside ``FOLDER`` (GPAW's logs land there) and writes ``FOLDER/worker-result.json``;
the pool publishes it as ``result.json``. Start it with ``OPENBLAS_NUM_THREADS`` set
(``pool.worker_environment`` does): it has to be in the environment before numpy loads OpenBLAS.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from atomate2.ase.schemas import AseStructureTaskDoc
from emmet.core.types.enums import TaskState
from jobflow import Flow, JobStore, run_locally
from maggma.stores import MemoryStore
from pymatgen.core import Structure

from vasp_inputs.gpaw.calculator import physics_for
from vasp_inputs.gpaw.flows import GpawRelaxBandGapMaker
from vasp_inputs.gpaw.jobs import FALLBACK_NOTE, GpawBandGapDoc, GpawBandGapMaker, GpawFailure, GpawRelaxMaker
from vasp_inputs.gpaw.pool import INPUT_FILE, WORKER_LOG, WORKER_RESULT_FILE, result_to_json
from vasp_inputs.gpaw.settings import GpawSettings
from vasp_inputs.results import DftCode, DftResult

logger = logging.getLogger(__name__)


def _plain(structure: Structure) -> Structure:
    """Lattice, species (with any oxidation states) and positions; no per-site leftovers of a run."""
    return Structure(structure.lattice, structure.species, structure.frac_coords)


def collect_result(
    candidate: str,
    functional: str,
    directory: Path,
    relax: AseStructureTaskDoc | GpawFailure | None,
    gap: GpawBandGapDoc | GpawFailure | None,
    relaxed: bool,
) -> DftResult:
    """One DftResult from the jobs' outputs (None: the job did not run or crashed outside GPAW)."""
    base = {"candidate": candidate, "code": DftCode.GPAW, "functional": functional, "directory": str(directory)}
    if relaxed and relax is None:
        return DftResult(**base, status="failed", message=f"relax job did not finish (see {WORKER_LOG})")
    if isinstance(relax, GpawFailure):
        return DftResult(**base, status="failed", message=relax.message)
    relaxed_part: dict = {}
    notes = []
    if isinstance(relax, AseStructureTaskDoc):
        relaxed_part = {"structure": _plain(relax.structure),
                        "energy_per_atom": relax.output.energy_per_atom}
        notes.extend(tag for tag in relax.tags or [] if tag.startswith(FALLBACK_NOTE))
        if relax.state != TaskState.SUCCESS:
            notes.append(f"relaxation not converged: forces above fmax at the step limit ({relax.input.steps})")
    if isinstance(gap, GpawBandGapDoc):
        return DftResult(**base, status="completed", structure=_plain(gap.structure),
                         energy_per_atom=gap.energy_per_atom, band_gap=gap.edges.band_gap,
                         is_gap_direct=gap.edges.is_direct, message="; ".join([*notes, *gap.notes]))
    if isinstance(gap, GpawFailure):
        notes.append(gap.message)
    elif not notes:
        notes.append(f"band-gap job did not finish (see {WORKER_LOG})")
    return DftResult(**base, status="failed", message="; ".join(notes), **relaxed_part)


def run_flow(candidate: str, structure: Structure, settings: GpawSettings, directory: Path) -> DftResult:
    """Build the candidate's flow, run it with jobflow in ``directory``, collect its result."""
    flow: Flow = GpawRelaxBandGapMaker(settings=settings).make(structure)
    responses = run_locally(flow, root_dir=directory, store=JobStore(MemoryStore()), log=True)
    outputs: dict[type, object] = {}
    for job in flow.jobs:
        response = responses.get(job.uuid, {}).get(job.index)
        outputs[type(job.maker)] = response.output if response is not None else None
    return collect_result(candidate, physics_for(structure, settings).functional, directory,
                          outputs.get(GpawRelaxMaker), outputs.get(GpawBandGapMaker),
                          relaxed=GpawRelaxMaker in outputs)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    directory = Path(args[0]).resolve()
    if "OPENBLAS_NUM_THREADS" not in os.environ:
        logger.warning("OPENBLAS_NUM_THREADS is not set: OpenBLAS threads may oversubscribe the cores")
    data = json.loads((directory / INPUT_FILE).read_text())
    request = data["request"]
    settings = GpawSettings(**data["run"])
    result = run_flow(request["candidate"], Structure.from_dict(request["structure"]), settings, directory)
    (directory / WORKER_RESULT_FILE).write_text(json.dumps(result_to_json(result), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
