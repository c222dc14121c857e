"""What one round of the closed loop achieved, from the store's candidate table: how many of its DFT picks DFT
confirmed, and the prospective error, the round's model judged on its own picks before it learns from them."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel

from smoacs_core.confirmation import dft_confirmed
from smoacs_core.stages import StructureStage
from smoacs_core.targets import PropertyTarget

METAL_GAP = 0.05
"""DFT gaps at or below this (eV) count as metals."""


class RoundOutcome(BaseModel):
    picks: int
    """candidates whose DFT finished with a gap"""
    confirmed: int
    """picks with the DFT gap in the window (and within the hull limit, where their energy was judged on it)"""
    confirmed_formulas: list[str]
    metals: int
    prospective_mae: float | None
    """mean |the gap that chose the picks - DFT gap| over the picks: the acquisition's model at selection, or
    without one the run's band-gap prediction at the judged stage"""
    dft_seconds: float


def round_outcome(table: pd.DataFrame, target: PropertyTarget, judged: StructureStage) -> RoundOutcome:
    """The outcome of the DFT picks in ``table`` (a run's ``ResultsStore.candidates``) for the band-gap ``target``."""
    gap_column = f"{StructureStage.DFT}.band_gap"
    done = table[table[gap_column].notna()] if gap_column in table.columns else table.iloc[0:0]
    gaps = done[gap_column].to_numpy(dtype=float) if len(done) else np.zeros(0)
    confirmed = dft_confirmed(pd.Series(target.satisfied(gaps), index=done.index), done).to_numpy()
    prospective = None
    for predicted_column in (f"{judged}.acquisition_mean", f"{judged}.band_gap"):  # what chose the picks
        if predicted_column in done.columns and done[predicted_column].notna().any():
            predicted = done[predicted_column].to_numpy(dtype=float)
            prospective = float(np.nanmean(np.abs(predicted - gaps)))
            break
    seconds_column = f"{StructureStage.DFT}.seconds"
    return RoundOutcome(
        picks=len(done), confirmed=int(confirmed.sum()),
        confirmed_formulas=sorted(set(done["formula"][confirmed])), metals=int((gaps <= METAL_GAP).sum()),
        prospective_mae=prospective,
        dft_seconds=float(done[seconds_column].fillna(0).sum()) if seconds_column in done.columns else 0.0,
    )
