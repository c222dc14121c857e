"""Calculation folders on disk: the serialized chain for every backend, plus inputs and job scripts to write.

``prepare_calculation`` is what every backend does first (flow.json and the manifest). The write backend adds,
per candidate, the first step's complete VASP inputs (INCAR, KPOINTS, POSCAR and POTCAR, or POTCAR.spec when
no POTCAR library is configured through PMG_VASP_PSP_DIR) to look at or run by hand, and a Slurm or PBS script
that runs the whole chain on a compute node (``python -m vasp_inputs.vasp.run_flow``). ``submit_all.sh`` in
the root submits every script written there.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from jobflow import Flow
from monty.serialization import dumpfn
from pymatgen.core import Structure

from vasp_inputs.vasp.calculation import FLOW_FILE, VaspManifest, write_manifest
from vasp_inputs.vasp.makers import flow_roles, relax_input_set, vasp_flow
from vasp_inputs.vasp.settings import JobScriptSettings, VaspBackendKind, VaspSettings

JOB_SCRIPT = {"slurm": "job.slurm", "pbs": "job.pbs"}
SUBMIT_COMMAND = {"slurm": "sbatch", "pbs": "qsub"}


def potcar_library_configured() -> bool:
    """Whether pymatgen can write real POTCARs here (PMG_VASP_PSP_DIR in the environment or ~/.pmgrc.yaml)."""
    from pymatgen.core import SETTINGS

    return bool(os.environ.get("PMG_VASP_PSP_DIR") or SETTINGS.get("PMG_VASP_PSP_DIR"))


def prepare_calculation(
    structure: Structure, candidate: str, directory: Path, settings: VaspSettings, backend: VaspBackendKind
) -> tuple[Flow, VaspManifest]:
    """Build the candidate's flow and write flow.json and the manifest into ``directory``.

    The first step's inputs are generated once here (POTCAR names only), so a structure or setting VASP inputs
    cannot be made from fails now, for this candidate, not hours later in a queue.
    """
    relax_input_set(settings).get_input_set(structure, potcar_spec=True)
    directory.mkdir(parents=True, exist_ok=True)
    flow = vasp_flow(structure, settings, candidate)
    dumpfn(flow, directory / FLOW_FILE)
    manifest = VaspManifest(
        candidate=candidate, workflow=settings.workflow, backend=backend, roles=flow_roles(flow),
        job_store=settings.job_store, flow_uuid=flow.uuid,
    )
    write_manifest(directory, manifest)
    return flow, manifest


def write_first_step_inputs(structure: Structure, directory: Path, settings: VaspSettings) -> list[Path]:
    """INCAR, KPOINTS, POSCAR and POTCAR (or POTCAR.spec) of the first relaxation, as atomate2 writes them."""
    potcar_spec = not potcar_library_configured()
    input_set = relax_input_set(settings).get_input_set(structure, potcar_spec=potcar_spec)
    input_set.write_input(directory)
    names = ["INCAR", "KPOINTS", "POSCAR", "POTCAR.spec" if potcar_spec else "POTCAR"]
    return [directory / name for name in names if (directory / name).exists()]


def job_script(candidate: str, directory: Path, options: JobScriptSettings) -> str:
    """A batch script that runs the candidate's whole chain from its folder."""
    directory = directory.resolve()
    name = f"{options.job_name_prefix}{candidate}"
    if options.scheduler == "slurm":
        lines = [
            f"#SBATCH --job-name={name}",
            f"#SBATCH --nodes={options.nodes}",
            f"#SBATCH --ntasks-per-node={options.ntasks_per_node}",
            f"#SBATCH --time={options.walltime}",
            f"#SBATCH --output={directory / 'scheduler-%j.out'}",
        ]
        if options.account:
            lines.append(f"#SBATCH --account={options.account}")
        if options.queue:
            lines.append(f"#SBATCH --partition={options.queue}")
    else:
        ranks = options.ntasks_per_node
        lines = [
            f"#PBS -N {name}",
            f"#PBS -l select={options.nodes}:ncpus={ranks}:mpiprocs={ranks}",
            f"#PBS -l walltime={options.walltime}",
            "#PBS -j oe",
            f"#PBS -o {directory / 'scheduler.out'}",
        ]
        if options.account:
            lines.append(f"#PBS -A {options.account}")
        if options.queue:
            lines.append(f"#PBS -q {options.queue}")
    run = f"{options.python} -m vasp_inputs.vasp.run_flow {shlex.quote(str(directory / FLOW_FILE))}"
    body = [*options.extra_directives, "", f"cd {shlex.quote(str(directory))}", *options.preamble, run]
    return "\n".join(["#!/bin/bash", *lines, *body]) + "\n"


def write_job_script(candidate: str, directory: Path, options: JobScriptSettings) -> Path:
    path = directory / JOB_SCRIPT[options.scheduler]
    path.write_text(job_script(candidate, directory, options))
    path.chmod(0o755)
    return path


def write_submit_all(root: Path, scripts: list[Path], options: JobScriptSettings) -> Path:
    """One script that submits every job script written under ``root`` (appends on later writes)."""
    path = root / "submit_all.sh"
    header = ["#!/bin/bash", f"# submit the VASP chains written by smoacs ({options.scheduler})"]
    lines = [] if path.exists() else header
    command = SUBMIT_COMMAND[options.scheduler]
    lines += [f"{command} {shlex.quote(str(script.resolve()))}" for script in scripts]
    with path.open("a") as handle:
        handle.write("\n".join(lines) + "\n")
    path.chmod(0o755)
    return path
