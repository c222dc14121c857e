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


def round_picks(table: pd.DataFrame, target: PropertyTarget, judged: StructureStage) -> pd.DataFrame:
    """The DFT picks of ``table`` (a run's ``ResultsStore.candidates``) with a DFT gap: id, formula, ``predicted``
    (what chose them: the acquisition's mean at selection, or without one the run's gap at the judged stage; NaN
    if neither), ``dft_band_gap``, ``confirmed`` (for the band-gap ``target``) and ``dft_seconds``."""
    gap_column = f"{StructureStage.DFT}.band_gap"
    if gap_column not in table.columns:
        table = table.assign(**{gap_column: np.nan})
    done = table[table[gap_column].notna()]
    gaps = done[gap_column].astype(float)
    predicted = pd.Series(np.nan, index=done.index)
    for predicted_column in (f"{judged}.acquisition_mean", f"{judged}.band_gap"):  # what chose the picks
        if predicted_column in done.columns and done[predicted_column].notna().any():
            predicted = done[predicted_column].astype(float)
            break
    seconds_column = f"{StructureStage.DFT}.seconds"
    seconds = done[seconds_column].fillna(0.0) if seconds_column in done.columns else pd.Series(0.0, index=done.index)
    return pd.DataFrame({
        "id": done["id"], "formula": done["formula"], "predicted": predicted, "dft_band_gap": gaps,
        "confirmed": dft_confirmed(pd.Series(target.satisfied(gaps.to_numpy()), index=done.index), done),
        "dft_seconds": seconds.astype(float),
    })


def round_outcome(table: pd.DataFrame, target: PropertyTarget, judged: StructureStage) -> RoundOutcome:
    """The outcome of the DFT picks in ``table`` (a run's ``ResultsStore.candidates``) for the band-gap ``target``."""
    picks = round_picks(table, target, judged)
    errors = (picks["predicted"] - picks["dft_band_gap"]).abs().dropna()
    return RoundOutcome(
        picks=len(picks), confirmed=int(picks["confirmed"].sum()),
        confirmed_formulas=sorted(set(picks["formula"][picks["confirmed"]])),
        metals=int((picks["dft_band_gap"] <= METAL_GAP).sum()),
        prospective_mae=float(errors.mean()) if len(errors) else None,
        dft_seconds=float(picks["dft_seconds"].sum()),
    )
