"""A batch of crystals as tensors: what every predictor receives.

Atom types are probability distributions over a vocabulary of element symbols, so the same object carries
soft crystals during optimization and one-hot crystals when judging a result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pymatgen.core import Structure


@dataclass(frozen=True)
class CrystalBatch:
    """B crystals with N sites in total.

    Attributes:
        lattices: (B, 3, 3) lattice row vectors in Angstrom.
        frac_coords: (N, 3) fractional coordinates, wrapped into [0, 1).
        site_crystal: (N,) index of the crystal each site belongs to; sites of a crystal are contiguous.
        type_probs: (N, K) probability of each vocabulary element at each site.
        vocabulary: the K element symbols indexing ``type_probs``.
    """

    lattices: torch.Tensor
    frac_coords: torch.Tensor
    site_crystal: torch.Tensor
    type_probs: torch.Tensor
    vocabulary: tuple[str, ...]

    @property
    def num_crystals(self) -> int:
        return self.lattices.shape[0]

    @classmethod
    def from_structures(
        cls,
        structures: Sequence[Structure],
        vocabulary: Sequence[str],
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> CrystalBatch:
        """One-hot batch of ordered structures; raises naming the structure if an element is not in ``vocabulary``."""
        index = {symbol: k for k, symbol in enumerate(vocabulary)}
        type_rows, crystal_of_site = [], []
        for number, structure in enumerate(structures):
            if not structure.is_ordered:
                raise ValueError(f"structure {number} ({structure.formula}): partial occupancies are not supported")
            for site in structure:
                symbol = site.specie.symbol
                if symbol not in index:
                    raise ValueError(
                        f"structure {number} ({structure.composition.reduced_formula}): element {symbol} "
                        "is not supported by the property models"
                    )
                type_rows.append(index[symbol])
                crystal_of_site.append(number)
        frac = np.concatenate([s.frac_coords for s in structures]) if structures else np.zeros((0, 3))
        lattices = np.stack([s.lattice.matrix for s in structures]) if structures else np.zeros((0, 3, 3))
        frac_t = torch.as_tensor(frac, dtype=dtype, device=device)
        types = torch.zeros((len(type_rows), len(vocabulary)), dtype=dtype, device=device)
        types[torch.arange(len(type_rows)), torch.as_tensor(type_rows, dtype=torch.long)] = 1.0
        return cls(
            lattices=torch.as_tensor(lattices, dtype=dtype, device=device),
            frac_coords=frac_t - torch.floor(frac_t),
            site_crystal=torch.as_tensor(crystal_of_site, dtype=torch.long, device=device),
            type_probs=types,
            vocabulary=tuple(vocabulary),
        )
