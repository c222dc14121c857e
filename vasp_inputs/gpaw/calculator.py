"""GPAW calculators for one structure: plane-wave PBE(+U) with MP's k-point densities, U and moments.

``gpaw_parameters`` returns plain keyword arguments (JSON-serializable, so they can be recorded and compared);
``gpaw_calculator`` turns them into a calculator. GPAW is imported only there: building parameters, and
everything that only reads settings, works without the compiled GPAW extension.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymatgen.core import Structure
from pymatgen.io.vasp import Kpoints

from vasp_inputs.gpaw.mp import MpPhysics, mp_physics
from vasp_inputs.gpaw.settings import GpawSettings

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator


def kpoint_mesh(structure: Structure, reciprocal_density: float) -> tuple[int, int, int]:
    """Mesh pymatgen's MP input sets would use at this density (points per A^-3 of reciprocal volume)."""
    kpoints = Kpoints.automatic_density_by_vol(structure, round(reciprocal_density), force_gamma=True)
    n1, n2, n3 = (int(n) for n in kpoints.kpts[0])
    return n1, n2, n3


def physics_for(structure: Structure, settings: GpawSettings) -> MpPhysics:
    """MP's U and moments for this structure, under the settings' U and spin switches."""
    return mp_physics(structure, hubbard_u=settings.hubbard_u, spin=settings.spin)


def gpaw_parameters(
    structure: Structure, settings: GpawSettings, *, reciprocal_density: float, txt: str | Path | None
) -> dict[str, Any]:
    """Keyword arguments of ``gpaw.GPAW`` for this structure: PW, PBE, Gamma-centred mesh, MP U/moments."""
    physics = physics_for(structure, settings)
    parameters: dict[str, Any] = {
        "mode": {"name": "pw", "ecut": settings.ecut},
        "xc": "PBE",
        "kpts": {"size": list(kpoint_mesh(structure, reciprocal_density)), "gamma": True},
        "occupations": {"name": "fermi-dirac", "width": settings.smearing_width},
        "eigensolver": settings.eigensolver,
        "convergence": {"energy": settings.scf_energy_tolerance, "density": settings.scf_density_tolerance,
                        "eigenstates": settings.scf_eigenstates_tolerance},
        "maxiter": settings.scf_maxiter,
        "txt": None if txt is None else str(txt),
    }
    if physics.hubbard_u:
        parameters["setups"] = physics.gpaw_setups()
    if physics.magmoms is not None:
        parameters["spinpol"] = True
        parameters["magmoms"] = physics.magmoms
        if settings.spin_mixer is not None:
            parameters["mixer"] = dict(settings.spin_mixer)
    else:
        parameters["spinpol"] = False
    return parameters


def gpaw_calculator(parameters: dict[str, Any]) -> Calculator:
    """A GPAW calculator from ``gpaw_parameters`` output."""
    from gpaw import GPAW

    return GPAW(**parameters)
