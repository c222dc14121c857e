"""From atomate2/emmet task documents to the pipeline's ``DftResult``.

Which step gives which number:
- energy and relaxed structure: the MP GGA static when the chain has one, else the second relaxation;
- band gap and whether it is direct: the uniform non-SCF run (tetrahedron method on a denser mesh) when the
  chain has one, else the second relaxation's own k-mesh (said so in the message);
- corrected energy: pymatgen's ``MaterialsProject2020Compatibility`` applied to the energy step's computed
  entry, so it sits on the same footing as Materials Project GGA/GGA+U energies. Runs the scheme does not
  cover (other functionals, U values or POTCARs than MP's) get none, and the message says why;
- functional: from the run itself (emmet's run type: GGA -> 'PBE', GGA+U -> 'PBE+U', others by their name).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from functools import cache

from emmet.core.tasks import TaskDoc
from jobflow import JobStore

from vasp_inputs.results import DftCode, DftResult

_FUNCTIONAL = {"GGA": "PBE", "GGA+U": "PBE+U"}


def read_task_docs(store: JobStore, roles: Mapping[str, str]) -> dict[str, TaskDoc]:
    """The TaskDoc of every role whose job finished (its output is in the store); others are left out."""
    docs: dict[str, TaskDoc] = {}
    for role, uuid in roles.items():
        if store.query_one({"uuid": uuid}, properties=["uuid"]) is None:
            continue
        output = store.get_output(uuid, which="last", load=True)
        docs[role] = output if isinstance(output, TaskDoc) else TaskDoc.model_validate(output)
    return docs


def functional_of(task: TaskDoc) -> str:
    """'PBE', 'PBE+U', or emmet's run-type name (e.g. 'PBEsol', 'r2SCAN') for anything else."""
    run_type = getattr(task.run_type, "value", task.run_type)
    return _FUNCTIONAL.get(str(run_type), str(run_type))


@cache
def _mp2020():
    from pymatgen.entries.compatibility import MaterialsProject2020Compatibility

    return MaterialsProject2020Compatibility(check_potcar=True)


def mp2020_energy_per_atom(task: TaskDoc) -> tuple[float | None, str]:
    """MP2020-corrected energy per atom of the task's computed entry, or None and the reason."""
    from pymatgen.entries.compatibility import CompatibilityError

    entry = task.entry if task.entry is not None else TaskDoc.get_entry(task.calcs_reversed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # oxidation-state guesses of the anion correction
            corrected = _mp2020().process_entry(entry.copy(), clean=True, on_error="raise")
    except CompatibilityError as error:
        return None, f"no MP2020 correction: {error}"
    return float(corrected.energy_per_atom), ""


def _elapsed_seconds(docs: Mapping[str, TaskDoc]) -> float | None:
    """VASP wall time summed over the steps (custodian's OUTCAR timing), when every step reports it."""
    times = []
    for task in docs.values():
        stats = (task.run_stats or {}).get("overall")
        if stats is None or stats.elapsed_time is None:
            return None
        times.append(stats.elapsed_time)
    return float(sum(times))


def calculation_folder(task: TaskDoc) -> str:
    """Where a step ran (emmet records 'host:/path')."""
    return str(task.dir_name).split(":", 1)[-1] if task.dir_name else ""


def result_from_task_docs(candidate: str, docs: Mapping[str, TaskDoc]) -> DftResult:
    """A completed candidate's DftResult from its steps' TaskDocs (relax_2, and static + band_gap if run).

    ``directory`` is the folder of the step the energy comes from (its vasprun.xml holds the numbers).
    """
    energy_task = docs.get("static") or docs["relax_2"]
    gap_task = docs.get("band_gap") or docs["relax_2"]
    notes = [] if "band_gap" in docs else ["band gap from the second relaxation's k-mesh (no non-SCF run)"]
    corrected, why = mp2020_energy_per_atom(energy_task)
    if why:
        notes.append(why)
    gap_output = gap_task.calcs_reversed[0].output
    return DftResult(
        candidate=candidate,
        code=DftCode.VASP,
        functional=functional_of(energy_task),
        status="completed",
        structure=energy_task.output.structure,
        energy_per_atom=energy_task.output.energy_per_atom,
        corrected_energy_per_atom=corrected,
        band_gap=gap_output.bandgap,
        is_gap_direct=gap_output.is_gap_direct,
        seconds=_elapsed_seconds(docs),
        directory=calculation_folder(energy_task),
        message="; ".join(notes),
    )
