"""Pulay stress: why GPAW's stress needs a correction at 600 eV, and the cell filter that applies it.

GPAW's plane-wave stress is the derivative at a fixed set of plane waves, while the energy is computed at a
fixed cutoff; the difference is the Pulay stress, (2/3) ecut (dE/decut) / V. GPAW's total energies converge
slowly with the cutoff (oxygen's setup above all), so at 600 eV it is large: for SrTiO3 dE/decut = -0.005
and the stress is off by +5.2 GPa. Relaxing on the raw stress gave a = 3.909 A, while the 600 eV energy is
lowest at a = 3.945 A (VASP-PBE in MP: 3.945 A) and the raw stress at 800 eV is near zero there. The old
GPAW's built-in estimate ('dedecut': 'estimate', from atomic kinetic energies) gives only 1.5 GPa, and GPAW
26's default code path ignores it; so dE/decut is measured: two Gamma-point energies at ecut +- delta (the
derivative is a property of the atoms' cores: Gamma-only and a 6x6x6 mesh agree to 3%).
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import numpy as np
from ase.filters import FrechetCellFilter
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from vasp_inputs.gpaw.calculator import gpaw_calculator, gpaw_parameters
from vasp_inputs.gpaw.settings import GpawSettings


def measure_dedecut(structure: Structure, settings: GpawSettings, log: Path | None) -> float:
    """dE/decut (eV per eV of cutoff) at ``settings.ecut``: central difference of two Gamma-point energies.

    Both GPAW runs write to ``log`` (None: no log).
    """
    energies = []
    with ExitStack() as stack:
        txt = stack.enter_context(open(log, "w")) if log is not None else None
        for ecut in (settings.ecut - settings.pulay_delta, settings.ecut + settings.pulay_delta):
            shifted = settings.model_copy(update={"ecut": ecut})
            parameters = gpaw_parameters(structure, shifted, reciprocal_density=settings.reciprocal_density,
                                         txt=None)
            parameters["kpts"] = {"size": [1, 1, 1], "gamma": True}
            parameters["txt"] = txt
            atoms = AseAtomsAdaptor.get_atoms(structure)
            atoms.calc = gpaw_calculator(parameters)
            energies.append(float(atoms.get_potential_energy()))
    return (energies[1] - energies[0]) / (2 * settings.pulay_delta)


def pulay_energy(dedecut: float, ecut: float) -> float:
    """C in the Pulay stress C / V (eV): (2/3) ecut dE/decut."""
    return 2.0 / 3.0 * ecut * dedecut


class PulayCorrectedCellFilter(FrechetCellFilter):
    """Frechet cell filter on the stress plus the Pulay correction C / V (isotropic, at the current volume).

    The energy the filter reports gains C ln(V / V0), whose volume derivative is that correction, so energy
    and forces stay consistent for the optimizer.
    """

    def __init__(self, atoms, pulay_energy: float = 0.0, **kwargs) -> None:
        super().__init__(atoms, **kwargs)
        self.pulay_energy = pulay_energy
        self.initial_volume = atoms.get_volume()

    def get_forces(self, **kwargs) -> np.ndarray:
        self.scalar_pressure = self.pulay_energy / self.atoms.get_volume()
        return super().get_forces(**kwargs)

    def get_potential_energy(self, force_consistent: bool = True) -> float:
        energy = self.atoms.get_potential_energy(force_consistent=force_consistent)
        return energy + self.pulay_energy * np.log(self.atoms.get_volume() / self.initial_volume)
