"""What 'DFT-confirmed' means: the DFT band gap lies in the target window and, where the candidate's DFT energy
stands on the footing of the run's hull reference, its energy above hull is within the run's limit.

A VASP energy with MP2020 corrections placed against MP2020 entries (the Materials Project API, or an entries
file of MP2020 entries) has an energy above hull that means what it says; a GPAW energy, or any energy against
a reference on another footing (the local data sets carry legacy corrections), does not, and is never part of
the criterion.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from smoacs_core.stages import StructureStage

HULL_CRITERION = "e_above_hull_ok"
HULL_COLUMN = f"{StructureStage.DFT}.{HULL_CRITERION}"


def hull_criteria(e_above_hull: Mapping[str, float | None], limit: float) -> dict[str, dict[str, bool]]:
    """The hull criterion of each candidate with a DFT energy above hull (eV/atom); unplaced ones get none."""
    return {candidate: {HULL_CRITERION: bool(energy <= limit)} for candidate, energy in e_above_hull.items()
            if energy is not None and np.isfinite(energy)}


def dft_confirmed(gap_in_window: pd.Series, table: pd.DataFrame) -> pd.Series:
    """``gap_in_window`` (indexed like ``table``) and, for candidates that have the DFT hull criterion, that
    criterion too; a candidate without one is judged by its gap alone."""
    confirmed = gap_in_window.fillna(False).astype(bool)
    if HULL_COLUMN in table.columns:
        confirmed &= table[HULL_COLUMN].astype("boolean").fillna(True).astype(bool)
    return confirmed
