"""The closed loop's report: one row per round with its confirmed picks, prospective error and DFT cost."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smoacs_core.stages import StructureStage
from smoacs_core.steps.loop_report import LoopReportInput, LoopRound, loop_report
from smoacs_core.steps.round_outcome import round_outcome, round_picks
from smoacs_core.targets import PropertyTarget

TARGET = PropertyTarget.band_gap(1.5, 0.2)


def test_rounds_table_picks_and_parity(tmp_path):
    table = pd.DataFrame({"id": ["a", "b", "c"], "formula": ["KZnF3", "CsPbI3", "NaCuCl3"],
                          "dft.band_gap": [1.45, 0.0, np.nan], "dft.seconds": [1800.0, 1800.0, np.nan],
                          "prerelaxed.acquisition_mean": [1.5, 1.2, 1.6]})
    picks = round_picks(table, TARGET, StructureStage.PRERELAXED)
    outcome = round_outcome(table, TARGET, StructureStage.PRERELAXED)
    rounds = [LoopRound(number=0, predictor="dft-correction/band_gap-abc", trained_on=137, cv_mae=0.39,
                        run_id="loop-round0-x", outcome=outcome, picks=picks)]
    written = loop_report(LoopReportInput(loop_id="loop-1", target=TARGET, rounds=rounds, out=tmp_path))
    row = "| 0 | `dft-correction/band_gap-abc` | 137 | 0.390 | 2 | 1 | 1 | 0.625 | KZnF3 | 1.00 | 1.00 |"
    assert row in written.markdown
    assert "| a | KZnF3 | 1.500 | 1.450 | yes |" in written.markdown and "| c |" not in written.markdown
    assert written.parity is not None and (tmp_path / "prospective_parity.png").stat().st_size > 10_000
    assert (tmp_path / "loop_report.md").read_text() == written.markdown
