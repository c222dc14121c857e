"""Which candidates go to DFT: ranking from what the earlier stages recorded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smoacs_core.dft_selection import rank_for_dft, select_for_dft
from smoacs_core.targets import PropertyTarget, range_target, range_target_errors

TARGETS = [PropertyTarget.band_gap(1.5, 0.2), PropertyTarget.formation_energy()]


def _table() -> pd.DataFrame:
    return pd.DataFrame({
        "id": ["a", "b", "c", "d", "e", "f"],
        "success": [False, True, True, True, True, False],
        "prerelaxed.band_gap": [1.5, 1.6, 1.45, 1.5, 1.5, np.nan],
        "prerelaxed.unique": [True, True, True, False, True, True],
        "prerelaxed.relax_converged": [True, True, True, True, False, True],
        "prerelaxed.e_above_hull": [0.0, 0.3, 0.1, 0.0, 0.0, 0.0],
    })


def test_successes_then_unique_converged_then_closest_to_target():
    ranked = rank_for_dft(_table(), TARGETS, "prerelaxed")
    # b, c: successes, unique, converged; c is closer to 1.5 eV. e: relaxation did not converge;
    # d: a duplicate; a, f: not successes (f without a gap prediction last)
    assert list(ranked["id"]) == ["c", "b", "e", "d", "a", "f"]
    assert ranked.loc[0, "target_error"] == 0.050000000000000044


def test_criteria_a_stage_did_not_record_change_nothing():
    table = _table().drop(columns=["prerelaxed.unique", "prerelaxed.relax_converged"])
    assert list(rank_for_dft(table, TARGETS, "prerelaxed")["id"])[:4] == ["d", "e", "c", "b"]


def test_selection_respects_count_successes_and_size():
    sites = {"a": 5, "b": 5, "c": 40, "d": 5, "e": 5, "f": 5}
    chosen = select_for_dft(_table(), TARGETS, "prerelaxed", 3, False, sites, max_sites=20)
    assert list(chosen["id"]) == ["b", "e", "d"]  # c is too large for DFT here
    only = select_for_dft(_table(), TARGETS, "prerelaxed", 10, True, sites, max_sites=None)
    assert list(only["id"]) == ["c", "b", "e", "d"]
    no_structure = select_for_dft(_table(), TARGETS, "prerelaxed", 10, False, {"a": 5}, max_sites=None)
    assert list(no_structure["id"]) == ["a"]


def test_range_target_lookup_and_errors_from_its_centre():
    assert range_target(TARGETS, "band_gap").low == 1.3
    assert range_target(TARGETS, "formation_energy") is None
    errors, description = range_target_errors(TARGETS, _table(), column_prefix="prerelaxed.")
    assert errors["b"] == pytest.approx(0.1) and np.isnan(errors["f"])
    assert description == "band_gap - 1.5 (centre of the target range [1.3, 1.7])"
    assert range_target_errors(TARGETS, _table(), column_prefix="optimized.") == (None, None)
    with pytest.raises(ValueError, match="only a range target"):
        TARGETS[1].error([0.0])


def test_nothing_left_to_select_is_an_empty_selection():
    chosen = select_for_dft(_table().iloc[0:0], TARGETS, "prerelaxed", 3, False, {"a": 5}, max_sites=20)
    assert chosen.empty and "id" in chosen.columns


def test_candidates_the_second_model_doubts_go_after_agreeing_ones():
    """c is closest to the target, but M3GNet disagrees with MEGNet on its formation energy."""
    table = _table().assign(**{"prerelaxed.models_agree": [True, True, False, True, True, True]})
    assert list(rank_for_dft(table, TARGETS, "prerelaxed")["id"])[:3] == ["b", "c", "e"]
