"""The targets of a stored run: its configuration's ``PropertyTarget`` dicts, read back by later stages.

The hull ranking, the DFT selection, the band-gap check of DFT results and the report all ask the same two
questions of a run's targets, answered here once: which range target is on a property, and how far each
candidate's prediction lies from the centre of the run's range target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd


def range_target(targets: Sequence[Mapping], name: str) -> Mapping | None:
    """The run's range target on property ``name`` (targets as stored: PropertyTarget dicts), if any."""
    return next((t for t in targets if t.get("name") == name and t.get("goal") == "range"), None)


def range_target_errors(
    targets: Sequence[Mapping], table: pd.DataFrame, column_prefix: str = ""
) -> tuple[dict[str, float] | None, str | None]:
    """Signed error of each candidate (row ``id``) for the first range target of a run's configuration (a
    ``PropertyTarget`` as dict): prediction minus the centre of the range, e.g. band_gap - 1.5 eV; and what
    it measures. (None, None) when the run has no range target or the table lacks its column."""
    for target in targets:
        column = f"{column_prefix}{target.get('name')}"
        if target.get("goal") == "range" and column in table.columns:
            centre = (target["low"] + target["high"]) / 2
            errors = dict(zip(table["id"].astype(str), table[column].astype(float) - centre, strict=True))
            bounds = f"[{target['low']:g}, {target['high']:g}]"
            description = f"{target['name']} - {centre:g} (centre of the target range {bounds})"
            return errors, description
    return None, None
