"""DFT confirmation: the gap in the window, and the hull limit only where the DFT energy was judged on it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smoacs_core.confirmation import HULL_COLUMN, dft_confirmed, hull_criteria
from smoacs_core.hull.config import HullConfig


def test_hull_criteria_cover_the_placed_candidates_only():
    criteria = hull_criteria({"a": 0.05, "b": 0.1, "c": 0.25, "d": None, "e": float("nan")}, limit=0.1)
    assert criteria == {"a": {"e_above_hull_ok": True}, "b": {"e_above_hull_ok": True},
                        "c": {"e_above_hull_ok": False}}


def test_confirmed_needs_the_gap_and_where_judged_the_hull():
    table = pd.DataFrame({HULL_COLUMN: [True, False, np.nan, False]}, index=list("abcd"))
    gap = pd.Series([True, True, True, False], index=list("abcd"))
    assert list(dft_confirmed(gap, table)) == [True, False, True, False]
    assert list(dft_confirmed(gap, table.drop(columns=[HULL_COLUMN]))) == [True, True, True, False]


def test_only_mp2020_references_judge_vasp_energies(tmp_path):
    entries = tmp_path / "entries.json"
    assert HullConfig(reference="mp_api").mp2020_footing
    assert HullConfig(reference="entries_file", entries_file=entries).mp2020_footing
    assert not HullConfig(reference="entries_file", entries_file=entries, corrections="none").mp2020_footing
    assert not HullConfig().mp2020_footing  # the local data sets carry legacy corrections
