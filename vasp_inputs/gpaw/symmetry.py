"""Snap structures onto their symmetry before GPAW sees them.

GPAW checks that the symmetry operations it finds form a group, with translations compared to 1e-10. An ML
relaxation leaves atoms a float-noise away from their symmetric sites (1e-10 in fractional coordinates on an
M3GNet-relaxed cubic CsNiCl3), and GPAW then stops at set-up with ``SymmetryAnalysisBug: Sorry! Try using
spglib.standardize_cell(...)``. Symmetrizing at a tolerance of 1e-5 A moves atoms only by that noise: a real
distortion larger than 1e-5 A is kept, as is the cell's orientation and the order of sites.
"""

from __future__ import annotations

from ase.spacegroup.symmetrize import refine_symmetry
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

NOISE_TOLERANCE = 1e-5
"""A (spglib's symprec): symmetry broken by less than this is float noise, not physics."""


def snap_to_symmetry(structure: Structure, symprec: float = NOISE_TOLERANCE) -> Structure:
    """``structure`` with lattice and sites exactly on the symmetry spglib finds at ``symprec`` (species and
    site order kept; site properties of earlier runs dropped, as GPAW input takes none)."""
    atoms = AseAtomsAdaptor.get_atoms(Structure(structure.lattice, structure.species, structure.frac_coords))
    refine_symmetry(atoms, symprec=symprec)
    return Structure(Lattice(atoms.cell[:]), structure.species, atoms.get_scaled_positions(wrap=False))
