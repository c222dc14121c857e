"""Band gaps from eigenvalues: which bands are occupied is decided on the self-consistent mesh, then
applied to every k-point (mesh, band path or dense mesh).

Classifying by band index rather than by the Fermi level matters: a self-consistent mesh that misses the
band edges puts the Fermi level somewhere in a too-wide gap, and a conduction-band minimum found later on the
path can lie below it. The rule is the one GPAW itself uses for its 'CBM+x' convergence criterion: per spin,
the number of eigenvalues below the Fermi level, the same at every mesh k-point for an insulator.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class BandEdges(BaseModel):
    """Valence-band maximum, conduction-band minimum and the gap between them."""

    model_config = ConfigDict(frozen=True)

    band_gap: float = Field(description="eV; 0 for a metal or semimetal.")
    is_direct: bool | None = Field(description="VBM and CBM at the same k-point; None for a metal.")
    vbm: float | None = Field(default=None, description="eV (same zero as the eigenvalues).")
    cbm: float | None = Field(default=None, description="eV.")
    vbm_kpoint: tuple[float, float, float] | None = Field(default=None, description="Fractional coordinates.")
    cbm_kpoint: tuple[float, float, float] | None = None
    occupied_bands: tuple[int, ...] = Field(description="Occupied bands per spin.")


def occupied_bands(scf_eigenvalues: np.ndarray, fermi_level: float) -> tuple[int, ...] | None:
    """Occupied bands per spin from self-consistent eigenvalues ``[spin, k, band]``; None for a metal."""
    counts = (np.asarray(scf_eigenvalues) < fermi_level).sum(axis=2)
    if (counts != counts[:, :1]).any():
        return None
    return tuple(int(n) for n in counts[:, 0])


def _same_kpoint(k1: np.ndarray, k2: np.ndarray, tolerance: float = 1e-6) -> bool:
    delta = np.asarray(k1) - np.asarray(k2)
    return bool(np.allclose(delta - np.round(delta), 0.0, atol=tolerance))


def band_edges(
    scf_eigenvalues: np.ndarray,
    fermi_level: float,
    eigenvalues: np.ndarray,
    kpoints: np.ndarray,
) -> BandEdges:
    """Gap over all k-points of ``eigenvalues`` ``[spin, k, band]`` (fractional ``kpoints`` ``[k, 3]``).

    ``scf_eigenvalues`` (``[spin, k, band]`` on the self-consistent mesh) and ``fermi_level`` decide how
    many bands are occupied; pass the mesh points inside ``eigenvalues`` too when they should count.
    """
    eigenvalues = np.asarray(eigenvalues)
    kpoints = np.asarray(kpoints)
    occupied = occupied_bands(scf_eigenvalues, fermi_level)
    if occupied is None:
        counts = (np.asarray(scf_eigenvalues) < fermi_level).sum(axis=2).max(axis=1)
        return BandEdges(band_gap=0.0, is_direct=None, occupied_bands=tuple(int(n) for n in counts))
    if min(occupied) < 1 or max(occupied) >= eigenvalues.shape[2]:
        raise ValueError(f"need at least one occupied and one empty band per spin; occupied {occupied}, "
                         f"bands {eigenvalues.shape[2]}")
    best_vbm = (-np.inf, 0)
    best_cbm = (np.inf, 0)
    for spin, n_occupied in enumerate(occupied):
        valence = eigenvalues[spin, :, n_occupied - 1]
        conduction = eigenvalues[spin, :, n_occupied]
        k_v, k_c = int(np.argmax(valence)), int(np.argmin(conduction))
        if valence[k_v] > best_vbm[0]:
            best_vbm = (float(valence[k_v]), k_v)
        if conduction[k_c] < best_cbm[0]:
            best_cbm = (float(conduction[k_c]), k_c)
    (vbm, k_vbm), (cbm, k_cbm) = best_vbm, best_cbm
    if cbm <= vbm:  # bands overlap across k-points: a semimetal
        return BandEdges(band_gap=0.0, is_direct=None, vbm=vbm, cbm=cbm, occupied_bands=occupied)
    return BandEdges(
        band_gap=cbm - vbm,
        is_direct=_same_kpoint(kpoints[k_vbm], kpoints[k_cbm]),
        vbm=vbm,
        cbm=cbm,
        vbm_kpoint=tuple(float(x) for x in kpoints[k_vbm]),
        cbm_kpoint=tuple(float(x) for x in kpoints[k_cbm]),
        occupied_bands=occupied,
    )
