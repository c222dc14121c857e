"""ABX3 perovskite templates and their geometry (paper section 3.3, A.7, A.8).

The ideal B-centred setting: A at (1/2, 1/2, 1/2), B at the origin, X at the three face centres of the
B-B edges. Supercells repeat it n x n x n (n = 3 gives the paper's 135-site cells).
"""

from __future__ import annotations

import numpy as np
from pymatgen.core import Lattice, Structure

IDEAL_FRAC_COORDS = np.array(
    [[0.5, 0.5, 0.5], [0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.5]]
)
SITE_ROLES = ("A", "B", "X", "X", "X")

PEROVSKITE_PATTERNS: tuple[tuple[int, int, int], ...] = ((2, 4, -2), (1, 2, -1))
"""Oxidation numbers at (A, B, X): SrTiO3-like and (CH3NH3)PbI3-like (paper section 3.3)."""

TEMPLATE_PLACEHOLDER = ("Sr", "Ti", "O")
"""Species written on freshly generated templates; the optimizer starts from uniform atom distributions."""


def ideal_sites(repeat: int = 1) -> tuple[np.ndarray, tuple[str, ...]]:
    """Ideal fractional coordinates (N, 3) and site roles of an n x n x n perovskite supercell."""
    shifts = np.array([[i, j, k] for i in range(repeat) for j in range(repeat) for k in range(repeat)])
    coords = (IDEAL_FRAC_COORDS[None, :, :] + shifts[:, None, :]).reshape(-1, 3) / repeat
    roles = SITE_ROLES * len(shifts)
    return coords, roles


def site_patterns(roles: tuple[str, ...]) -> list[tuple[int, ...]]:
    """The two perovskite oxidation patterns expanded to every site of a (super)cell."""
    return [tuple(dict(zip("ABX", pattern))[role] for role in roles) for pattern in PEROVSKITE_PATTERNS]


def random_templates(
    count: int, repeat: int = 1, length_range: tuple[float, float] = (2.0, 10.0), seed: int = 0
) -> list[Structure]:
    """Cubic-angled perovskite templates with lengths a, b, c drawn uniformly from ``length_range`` (A.7).

    For supercells the range applies to the whole cell (the paper uses 6-30 A for 3 x 3 x 3).
    """
    low, high = length_range
    if not 0 < low <= high:
        raise ValueError(f"length_range {length_range}: need 0 < low <= high")
    rng = np.random.default_rng(seed)
    coords, roles = ideal_sites(repeat)
    species = [dict(zip("ABX", TEMPLATE_PLACEHOLDER))[r] for r in roles]
    structures = []
    for a, b, c in rng.uniform(low, high, size=(count, 3)):
        structures.append(Structure(Lattice.orthorhombic(a, b, c), species, coords))
    return structures
