"""A closed-loop round's outcome from the store's table: confirmed picks, metals, and the prospective error of what
chose the picks (the acquisition's model, or the run's own band-gap prediction when candidates were ranked)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smoacs_core.stages import StructureStage
from smoacs_core.steps.round_outcome import round_outcome
from smoacs_core.targets import PropertyTarget

TARGET = PropertyTarget.band_gap(1.5, 0.2)


def table(**columns) -> pd.DataFrame:
    base = {"id": ["a", "b", "c", "d"], "formula": ["KZnF3", "CsPbI3", "CsPbI3", "NaCuCl3"],
            "dft.band_gap": [1.45, 1.6, 0.0, np.nan], "dft.seconds": [100.0, 200.0, 50.0, np.nan]}
    return pd.DataFrame({**base, **columns})


def test_picks_confirmed_metals_and_the_acquisitions_prospective_error():
    outcome = round_outcome(table(**{"prerelaxed.acquisition_mean": [1.5, 1.5, 1.0, 1.4],
                                     "prerelaxed.band_gap": [9.0, 9.0, 9.0, 9.0]}), TARGET, StructureStage.PRERELAXED)
    assert (outcome.picks, outcome.confirmed, outcome.metals) == (3, 2, 1)
    assert outcome.confirmed_formulas == ["CsPbI3", "KZnF3"]
    assert outcome.prospective_mae == pytest.approx((0.05 + 0.1 + 1.0) / 3)
    assert outcome.dft_seconds == 350.0


def test_ranked_picks_are_judged_by_the_runs_own_prediction():
    outcome = round_outcome(table(**{"prerelaxed.band_gap": [1.5, 1.5, 1.0, 1.4]}), TARGET, StructureStage.PRERELAXED)
    assert outcome.prospective_mae == pytest.approx((0.05 + 0.1 + 1.0) / 3)
    empty = round_outcome(table().drop(columns=["dft.band_gap"]), TARGET, StructureStage.PRERELAXED)
    assert (empty.picks, empty.confirmed, empty.prospective_mae) == (0, 0, None)


def test_a_pick_above_the_hull_limit_is_not_confirmed_where_its_energy_was_judged():
    """'dft.e_above_hull_ok' exists only where the DFT energy is on the hull reference's footing (VASP, MP2020):
    there it joins the gap; a pick without it (GPAW, another footing) is judged by its gap alone."""
    outcome = round_outcome(table(**{"dft.e_above_hull_ok": [False, np.nan, np.nan, np.nan]}), TARGET,
                            StructureStage.PRERELAXED)
    assert (outcome.picks, outcome.confirmed, outcome.confirmed_formulas) == (3, 1, ["CsPbI3"])
