"""The VASP chain of one candidate, composed from atomate2 makers with Materials Project GGA settings.

Three layers, as atomate2 has them: pymatgen's MP input sets hold the DFT settings (plus the user's overrides
from ``VaspSettings``), atomate2 makers run one step each (write inputs, run VASP under custodian, parse a
``TaskDoc``), and ``vasp_flow`` composes them:

    MP GGA relax 1 -> MP GGA relax 2 [-> MP GGA static -> MP GGA non-scf uniform]

The relaxations and the static are atomate2's ``MPGGADoubleRelaxMaker`` and ``MPGGAStaticMaker`` (what
atomate2's ``MPGGADoubleRelaxStaticMaker`` chains). The band gap comes from a non-SCF run on the static charge
density with pymatgen's ``MPNonSCFSet`` in uniform mode: it inherits the static INCAR, so the cut-off, POTCARs
and U values match the charge density it reads (atomate2's own ``NonSCFSetGenerator`` starts from atomate2's
PBEsol-based defaults instead, which would not).

The flow's output maps a role to that step's ``TaskDoc``; ``flow_roles`` turns it into job uuids, which is how
the harvest finds the documents in the job store without rebuilding the flow.
"""

from __future__ import annotations

from typing import Any

from atomate2.vasp.flows.mp import MPGGADoubleRelaxMaker
from atomate2.vasp.jobs.core import NonSCFMaker
from atomate2.vasp.jobs.mp import MPGGARelaxMaker, MPGGAStaticMaker
from jobflow import Flow
from jobflow.core.reference import OutputReference
from pymatgen.core import Structure
from pymatgen.io.vasp.sets import MPNonSCFSet, MPRelaxSet, MPStaticSet, VaspInputSet

from vasp_inputs.vasp.settings import VaspSettings

# Job names are atomate2's for the MP steps; reference-output tests map them to folders.
RELAX_1, RELAX_2, STATIC = "MP GGA relax 1", "MP GGA relax 2", "MP GGA static"
BAND_GAP = "MP GGA non-scf uniform"
# Roles in the flow output, in the order the steps run.
ROLES = ("relax_1", "relax_2", "static", "band_gap")
# Files the next step starts from (VASP writes empty WAVECAR/CHGCAR even when LWAVE/LCHARG are off).
_CARRY_OVER = {"additional_vasp_files": ("WAVECAR", "CHGCAR")}


def _overrides(settings: VaspSettings, kpoints: bool = True) -> dict[str, Any]:
    """The user's choices as input-set keyword arguments (absent keys keep pymatgen's MP defaults)."""
    kwargs: dict[str, Any] = {
        "user_incar_settings": dict(settings.incar_updates),
        "user_potcar_settings": dict(settings.potcar_updates),
    }
    if settings.potcar_functional is not None:
        kwargs["user_potcar_functional"] = settings.potcar_functional
    if kpoints and settings.reciprocal_density is not None:
        kwargs["user_kpoints_settings"] = {"reciprocal_density": settings.reciprocal_density}
    return kwargs


def _run_vasp_kwargs(settings: VaspSettings) -> dict[str, Any]:
    """How atomate2's run_vasp starts VASP: command and custodian handlers, when the user chose them."""
    kwargs: dict[str, Any] = {}
    if settings.vasp_cmd is not None:
        kwargs["vasp_cmd"] = settings.vasp_cmd
    if settings.custodian_handlers is not None:
        from custodian.vasp import handlers

        kwargs["handlers"] = tuple(getattr(handlers, name)() for name in settings.custodian_handlers)
    return kwargs


def relax_input_set(settings: VaspSettings) -> VaspInputSet:
    """MP GGA relaxation inputs (what atomate2's MPGGARelaxMaker uses, plus the overrides)."""
    return MPRelaxSet(force_gamma=True, auto_metal_kpoints=True, inherit_incar=False, **_overrides(settings))


def double_relax_maker(settings: VaspSettings) -> MPGGADoubleRelaxMaker:
    """atomate2's MP GGA double relaxation; the second run starts from the first one's outputs."""
    run = _run_vasp_kwargs(settings)
    return MPGGADoubleRelaxMaker(
        relax_maker1=MPGGARelaxMaker(
            input_set_generator=relax_input_set(settings), run_vasp_kwargs=dict(run)
        ),
        relax_maker2=MPGGARelaxMaker(
            input_set_generator=relax_input_set(settings), copy_vasp_kwargs=dict(_CARRY_OVER),
            run_vasp_kwargs=dict(run),
        ),
    )


def static_maker(settings: VaspSettings) -> MPGGAStaticMaker:
    """MP GGA static on the relaxed structure: the energy MP2020 corrects, and the charge density."""
    return MPGGAStaticMaker(
        input_set_generator=MPStaticSet(
            force_gamma=True, auto_metal_kpoints=True, inherit_incar=False, **_overrides(settings)
        ),
        copy_vasp_kwargs=dict(_CARRY_OVER),
        run_vasp_kwargs=_run_vasp_kwargs(settings),
    )


def band_gap_maker(settings: VaspSettings) -> NonSCFMaker:
    """Uniform non-SCF run on the static charge density (tetrahedron method, denser mesh) for the band gap."""
    extra = {} if settings.band_gap_reciprocal_density is None else {
        "reciprocal_density": settings.band_gap_reciprocal_density
    }
    return NonSCFMaker(
        name=BAND_GAP,
        input_set_generator=MPNonSCFSet(mode="uniform", **extra, **_overrides(settings, kpoints=False)),
        run_vasp_kwargs=_run_vasp_kwargs(settings),
    )


def vasp_flow(structure: Structure, settings: VaspSettings, name: str) -> Flow:
    """The jobflow Flow for one candidate; its output maps each role (``ROLES``) to that step's TaskDoc."""
    relax = double_relax_maker(settings).make(structure)
    output: dict[str, OutputReference] = {"relax_1": relax.jobs[0].output, "relax_2": relax.jobs[1].output}
    jobs: list = [relax]
    if settings.workflow == "relax_band_gap":
        static = static_maker(settings).make(relax.output.structure, prev_dir=relax.output.dir_name)
        band_gap = band_gap_maker(settings).make(
            static.output.structure, prev_dir=static.output.dir_name, mode="uniform"
        )
        jobs += [static, band_gap]
        output |= {"static": static.output, "band_gap": band_gap.output}
    return Flow(jobs, output=output, name=f"{name} VASP {settings.workflow}")


def flow_roles(flow: Flow) -> dict[str, str]:
    """Job uuid per role, in the order the steps run."""
    return {role: flow.output[role].uuid for role in ROLES if role in flow.output}
