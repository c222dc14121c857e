"""Which candidates deserve DFT: a handful, chosen from everything the cheaper stages learned.

DFT costs minutes to hours per candidate, so only the best few go. Candidates are ranked by what the
earlier stages recorded at the judged stage (``prerelaxed`` when the run relaxed them): successes first, then
unique ones (stage 'deduplicate'), converged relaxations, plausible hull energies, predictions a second model
agrees with (stage 'cross_check'), then the smallest error on the run's first range target (e.g. |band gap -
1.5 eV|), then the lowest energy above hull. Criteria a stage did not record do not reorder anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from smoacs_core.cross_check import AGREE
from smoacs_core.targets import PropertyTarget, range_target_errors


def target_errors(table: pd.DataFrame, targets: Sequence[PropertyTarget], stage: str) -> pd.Series:
    """|prediction - centre of the range| of the first range target at ``stage`` (NaN without one)."""
    errors, _ = range_target_errors(targets, table, column_prefix=f"{stage}.")
    if errors is None:
        return pd.Series(np.nan, index=table.index)
    return table["id"].astype(str).map(errors).abs()


def _flag(table: pd.DataFrame, column: str) -> pd.Series:
    """A recorded criterion as 0 (passed, or not recorded) / 1 (failed): sorts passing candidates first."""
    if column not in table.columns:
        return pd.Series(0, index=table.index)
    return (~table[column].fillna(False).astype(bool)).astype(int)


def rank_for_dft(table: pd.DataFrame, targets: Sequence[PropertyTarget], stage: str) -> pd.DataFrame:
    """The store's candidate table ordered by DFT priority, with the ranking columns added."""
    ranked = table.assign(
        _failed=(~table["success"].astype(bool)).astype(int),
        _duplicate=_flag(table, f"{stage}.unique"),
        _unrelaxed=_flag(table, f"{stage}.relax_converged"),
        _implausible=_flag(table, f"{stage}.plausible_hull_energy"),
        _uncertain=_flag(table, f"{stage}.{AGREE}"),
        target_error=target_errors(table, targets, stage),
        _hull=table.get(f"{stage}.e_above_hull", pd.Series(np.nan, index=table.index)).astype(float).clip(lower=0),
    )
    keys = ["_failed", "_duplicate", "_unrelaxed", "_implausible", "_uncertain", "target_error", "_hull", "id"]
    ranked = ranked.sort_values(keys, na_position="last", kind="stable")
    return ranked.drop(columns=[k for k in keys if k.startswith("_")]).reset_index(drop=True)


def select_for_dft(
    table: pd.DataFrame,
    targets: Sequence[PropertyTarget],
    stage: str,
    count: int,
    only_successes: bool,
    sites: Mapping[str, int],
    max_sites: int | None,
) -> pd.DataFrame:
    """The ``count`` best-ranked candidates that have a structure at ``stage`` (``sites``: id -> number of
    sites) and at most ``max_sites`` sites; only successes if asked."""
    ranked = rank_for_dft(table[table["id"].isin(sites)], targets, stage)
    if only_successes:
        ranked = ranked[ranked["success"].astype(bool)]
    if max_sites is not None:
        ranked = ranked[ranked["id"].map(sites) <= max_sites]
    return ranked.head(count).reset_index(drop=True)
