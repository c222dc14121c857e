"""Relaxing candidates with an ML potential: positions and cell, with every failure flagged, never dropped.

Optimized SMOACS candidates are often strongly distorted; a relaxation tells how much of a candidate survives.
A candidate that blows up (volume off by more than ``max_volume_ratio``), does not converge within the step
limit, ends with atoms closer than ``min_distance``, or makes the potential fail, keeps its record with a status
saying so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
from ase.calculators.calculator import Calculator
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS, FIRE
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from smoacs_core.evaluation import min_interatomic_distance
from smoacs_core.relax.potentials import PotentialName

RelaxStatus = Literal["converged", "not_converged", "exploded", "atoms_too_close", "failed"]
_OPTIMIZERS = {"FIRE": FIRE, "BFGS": BFGS}


class RelaxConfig(BaseModel):
    """How candidates are pre-relaxed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    potential: PotentialName = Field(default="m3gnet", description="M3GNet-MP-2021.2.8-PES or CHGNet.")
    optimizer: Literal["FIRE", "BFGS"] = Field(default="FIRE", description="ASE optimizer.")
    fmax: float = Field(default=0.1, gt=0, description="Force convergence criterion (eV/A).")
    max_steps: int = Field(default=300, ge=1, description="Optimizer step limit per structure.")
    relax_cell: bool = Field(default=True, description="Relax the cell too (Frechet cell filter).")
    max_volume_ratio: float = Field(
        default=3.0, gt=1, description="A volume change beyond this factor (either way) counts as exploded."
    )
    min_distance: float = Field(default=0.5, gt=0, description="Closer atoms after relaxation are flagged (A).")


class RelaxResult(BaseModel):
    """One structure after relaxation, whatever happened to it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    label: str
    status: RelaxStatus
    structure: Structure | None
    energy_per_atom: float | None
    steps: int
    volume_ratio: float | None
    seconds: float
    message: str = ""

    @property
    def converged(self) -> bool:
        return self.status == "converged"


def _with_original_species(relaxed: Structure, original: Structure) -> Structure:
    """Relaxation keeps site order; put back the species (with oxidation states) the candidate had."""
    return Structure(relaxed.lattice, original.species, relaxed.frac_coords)


def relax_structure(structure: Structure, calculator: Calculator, config: RelaxConfig, label: str) -> RelaxResult:
    """Relax one structure; the status says whether to trust the result."""
    start = time.perf_counter()
    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = calculator
    target = FrechetCellFilter(atoms) if config.relax_cell else atoms
    optimizer = _OPTIMIZERS[config.optimizer](target, logfile=None)
    try:
        converged = bool(optimizer.run(fmax=config.fmax, steps=config.max_steps))
        energy = float(atoms.get_potential_energy()) / len(atoms)
    except Exception as error:  # a potential can fail anywhere in its stack on a pathological geometry
        return RelaxResult(label=label, status="failed", structure=None, energy_per_atom=None,
                           steps=optimizer.nsteps, volume_ratio=None, seconds=time.perf_counter() - start,
                           message=f"{type(error).__name__}: {error}")
    volume_ratio = float(atoms.get_volume() / structure.volume)
    finite = math.isfinite(energy) and np.isfinite(atoms.positions).all() and np.isfinite(atoms.cell[:]).all()
    relaxed = _with_original_species(AseAtomsAdaptor.get_structure(atoms), structure) if finite else None
    if relaxed is None or not 1 / config.max_volume_ratio <= volume_ratio <= config.max_volume_ratio:
        status, message = "exploded", f"volume changed by a factor {volume_ratio:.2f}"
    elif min_interatomic_distance(relaxed) < config.min_distance:
        status, message = "atoms_too_close", f"shortest distance {min_interatomic_distance(relaxed):.2f} A"
    elif not converged:
        status, message = "not_converged", f"forces above {config.fmax} eV/A after {optimizer.nsteps} steps"
    else:
        status, message = "converged", ""
    return RelaxResult(label=label, status=status, structure=relaxed, energy_per_atom=energy if finite else None,
                       steps=optimizer.nsteps, volume_ratio=volume_ratio, seconds=time.perf_counter() - start,
                       message=message)


def relax_structures(
    structures: Sequence[Structure],
    labels: Sequence[str],
    calculator: Calculator,
    config: RelaxConfig,
    on_done: Callable[[RelaxResult], None] | None = None,
) -> list[RelaxResult]:
    """Relax a batch one structure at a time (ASE optimizers are per structure)."""
    results = []
    for structure, label in zip(structures, labels, strict=True):
        result = relax_structure(structure, calculator, config, label)
        results.append(result)
        if on_done is not None:
            on_done(result)
    return results
