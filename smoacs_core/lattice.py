"""Lattice matrices from lattice parameters, differentiable and NaN-safe.

For some combinations of angles no parallelepiped exists (e.g. alpha = beta = 30, gamma = 150): the term
under the square root of the third lattice vector becomes negative and a naive construction returns NaN,
which then poisons every gradient in the batch (the paper reports exactly this in A.6). We clamp that term
to a small positive floor: such a cell comes out flat, its atoms collapse onto each other and it fails the
0.5 A distance criterion when judged.
"""

from __future__ import annotations

import torch

_MIN_VOLUME_TERM = 1e-6


def _volume_term(cos_a: torch.Tensor, cos_b: torch.Tensor, cos_g: torch.Tensor) -> torch.Tensor:
    return 1.0 - cos_a**2 - cos_b**2 - cos_g**2 + 2.0 * cos_a * cos_b * cos_g


def lattice_matrix(lengths: torch.Tensor, angles_deg: torch.Tensor) -> torch.Tensor:
    """(B, 3) lengths in Angstrom and (B, 3) angles (alpha, beta, gamma) in degrees -> (B, 3, 3) row vectors.

    Convention: a along x, b in the xy plane (as in most crystallographic software).
    """
    alpha, beta, gamma = torch.deg2rad(angles_deg).unbind(-1)
    cos_a, cos_b, cos_g = torch.cos(alpha), torch.cos(beta), torch.cos(gamma)
    sin_g = torch.sin(gamma)
    a, b, c = lengths.unbind(-1)
    zero = torch.zeros_like(a)
    volume_term = _volume_term(cos_a, cos_b, cos_g).clamp(min=_MIN_VOLUME_TERM)
    vec_a = torch.stack([a, zero, zero], dim=-1)
    vec_b = torch.stack([b * cos_g, b * sin_g, zero], dim=-1)
    vec_c = torch.stack(
        [c * cos_b, c * (cos_a - cos_b * cos_g) / sin_g, c * torch.sqrt(volume_term) / sin_g], dim=-1
    )
    return torch.stack([vec_a, vec_b, vec_c], dim=-2)
