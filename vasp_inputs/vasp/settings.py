"""What a VASP calculation of the DFT stage runs, where it runs, and how a cluster job script looks.

Only choices live here; the Materials Project defaults themselves stay in pymatgen's input sets
(``MPRelaxSet``, ``MPStaticSet``, ``MPNonSCFSet``) and atomate2's makers, so an update of those packages
updates our defaults. Every override is applied on top of them, in the same way to every step of the chain
(atomate2's powerups do the same), so the static and the non-SCF run keep the relaxation's cut-off, POTCARs
and U values.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

VaspWorkflow = Literal["double_relax", "relax_band_gap"]
VaspBackendKind = Literal["local", "fireworks", "write"]
JobStoreKind = Literal["montydb", "json"]
PotcarFunctional = Literal["PBE", "PBE_52", "PBE_54", "PBE_64"]

_WALLTIME = re.compile(r"^\d+:[0-5]\d:[0-5]\d$")


def custodian_handler_names() -> list[str]:
    """Names accepted in ``VaspSettings.custodian_handlers``: custodian's VASP error handlers."""
    from custodian.custodian import ErrorHandler
    from custodian.vasp import handlers

    return sorted(
        name
        for name, obj in vars(handlers).items()
        if isinstance(obj, type) and issubclass(obj, ErrorHandler) and obj is not ErrorHandler
    )


class JobScriptSettings(BaseModel):
    """The batch script written next to each candidate's inputs (write backend)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scheduler: Literal["slurm", "pbs"] = Field(
        default="slurm", description="Batch system: Slurm (sbatch) or PBS Pro/OpenPBS (qsub, select syntax)."
    )
    nodes: int = Field(default=1, ge=1, description="Nodes per candidate job.")
    ntasks_per_node: int = Field(
        default=32, ge=1, description="MPI ranks per node (Slurm ntasks-per-node, PBS mpiprocs)."
    )
    walltime: str = Field(default="24:00:00", description="Wall-time limit as H:MM:SS (hours may exceed 24).")
    account: str | None = Field(
        default=None, description="Account/project charged (Slurm --account, PBS -A)."
    )
    queue: str | None = Field(
        default=None, description="Slurm partition or PBS queue; the site default when unset."
    )
    job_name_prefix: str = Field(default="smoacs-", description="Job name = prefix + candidate id.")
    extra_directives: list[str] = Field(
        default_factory=list,
        description="Further scheduler lines written verbatim after the generated ones, "
        "e.g. '#SBATCH --qos=long'.",
    )
    preamble: list[str] = Field(
        default_factory=list,
        description="Shell lines run in the candidate folder before the calculation, e.g. "
        "'module load vasp/6.4', 'source ~/venv/bin/activate'.",
    )
    python: str = Field(
        default="python",
        description="Python on the compute node that has this package installed "
        "(runs vasp_inputs.vasp.run_flow).",
    )

    @field_validator("walltime")
    @classmethod
    def _walltime_format(cls, value: str) -> str:
        if not _WALLTIME.match(value):
            raise ValueError(f"walltime '{value}' is not H:MM:SS")
        return value

    @field_validator("extra_directives")
    @classmethod
    def _directives_are_comments(cls, value: list[str]) -> list[str]:
        bad = [line for line in value if not line.startswith("#")]
        if bad:
            raise ValueError(f"scheduler directives must start with '#': {bad}")
        return value


class VaspSettings(BaseModel):
    """How candidates are calculated with VASP through atomate2."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workflow: VaspWorkflow = Field(
        default="relax_band_gap",
        description="'relax_band_gap': MP GGA double relaxation, MP static, then a uniform non-SCF run on "
        "the static charge density for the band gap. 'double_relax': the MP GGA double relaxation only "
        "(energy and a band gap from the second relaxation's k-mesh).",
    )
    incar_updates: dict[str, Any] = Field(
        default_factory=dict,
        description="INCAR tags set in every step (user_incar_settings), e.g. {'EDIFFG': -0.05, 'NCORE': 4}. "
        "A value of None removes the tag.",
    )
    reciprocal_density: float | None = Field(
        default=None,
        gt=0,
        description="k-points per reciprocal atom volume (A^-3) for the relaxations and the static run; MP's "
        "own (64 relax, 100 static) when unset.",
    )
    band_gap_reciprocal_density: float | None = Field(
        default=None,
        gt=0,
        description="Density of the uniform non-SCF mesh the band gap is taken from; MPNonSCFSet's 100 when "
        "unset.",
    )
    potcar_updates: dict[str, str] = Field(
        default_factory=dict, description="POTCAR per element overriding MP's choice, e.g. {'Ti': 'Ti_sv'}."
    )
    potcar_functional: PotcarFunctional | None = Field(
        default=None,
        description="POTCAR library; MP's 'PBE' (legacy 2001-2012 set) when unset. MP2020 corrections "
        "assume it.",
    )
    custodian_handlers: list[str] | None = Field(
        default=None,
        description="custodian VASP error handlers by class name, e.g. ['VaspErrorHandler', "
        "'UnconvergedErrorHandler']; atomate2's default set when unset, none at all for [].",
    )
    vasp_cmd: str | None = Field(
        default_factory=lambda: os.environ.get("VASP_CMD") or None,
        description="Command that runs VASP, e.g. 'srun vasp_std'. Default: $VASP_CMD where the settings "
        "are built; when that is unset too, atomate2's ATOMATE2_VASP_CMD (default 'vasp_std') where the job "
        "runs.",
    )
    backend: VaspBackendKind = Field(
        default="write",
        description="'local': run the chain now with jobflow run_locally (custodian + vasp_cmd); "
        "'fireworks': add workflows to a LaunchPad for qlaunch/rlaunch on the cluster; 'write': write inputs "
        "and job scripts only.",
    )
    job_script: JobScriptSettings = Field(default_factory=JobScriptSettings)
    launchpad_file: Path | None = Field(
        default=None,
        description="FireWorks LaunchPad YAML (my_launchpad.yaml); FireWorks' own lookup (FW_CONFIG_FILE, "
        "~/.fireworks) when unset.",
    )
    job_store: JobStoreKind = Field(
        default="montydb",
        description="On-disk jobflow JobStore kept in each candidate folder (<candidate>/jobstore): "
        "'montydb' (SQLite via maggma MontyStore) or 'json' (maggma JSONStore files). The folder must be "
        "reachable from the compute nodes (shared file system) for the fireworks and write backends.",
    )

    @field_validator("custodian_handlers")
    @classmethod
    def _known_handlers(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        known = set(custodian_handler_names())
        unknown = [name for name in value if name not in known]
        if unknown:
            raise ValueError(f"unknown custodian handler(s) {unknown}; known: {sorted(known)}")
        return value

    @field_validator("incar_updates")
    @classmethod
    def _incar_keys_upper(cls, value: dict[str, Any]) -> dict[str, Any]:
        return {key.upper(): item for key, item in value.items()}
