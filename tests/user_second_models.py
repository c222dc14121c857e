"""Second models as a user supplies them to the cross-check (``cross_check.user_models``): importable factories.

The returned object is deliberately not a PropertyPredictor: a second opinion needs only ``predict``,
``property_name``, ``unit`` and ``identity``, which is what a user wrapping ALIGNN or a retrained model writes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pymatgen.core import Structure

from smoacs_core.predictors.registry import load_predictor


class WrappedBandGap:
    """A real band-gap model (MEGNet at its HSE fidelity) behind the minimal interface."""

    property_name = "band_gap"
    unit = "eV"

    def __init__(self) -> None:
        self._model = load_predictor("megnet-bandgap-hse")
        self.identity = f"user:{self._model.identity}"

    def predict(self, structures: Sequence[Structure]) -> np.ndarray:
        return self._model.predict(structures)


def hse_band_gap() -> WrappedBandGap:
    return WrappedBandGap()


def formation_energy_model():
    """A real model of another property than its configuration says (a user's mistake to report)."""
    return load_predictor("m3gnet-eform")
