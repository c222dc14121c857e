"""Which candidates of a run are the same crystal, and which are already known.

Gradient optimization from many templates often lands on the same crystal more than once, and sometimes on a
crystal that is already in the Materials Project. Both are judged with pymatgen's ``StructureMatcher`` on
structures without oxidation states (the optimizer decorates its species; reference structures are bare).
Of a set of matching candidates the first in the given order is kept, so callers order by preference (e.g.
successes first) and the kept one is the best of its set.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from smoacs_core.data.sampling import Source
from smoacs_core.data.sources import Mp20CsvSource
from smoacs_core.duplicates import bare_structure, find_duplicates
from smoacs_core.reference import ReferenceSet


class NoveltyConfig(BaseModel):
    """What candidates are compared with (stage 'deduplicate')."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reference: Source | None = Field(
        default_factory=Mp20CsvSource,
        description="Known crystals for novelty: a data source as in 'sampling' (default: MP-20 in "
        "SMOACS_DATA_DIR; Perov-5 suits perovskite runs; MEGNet is the paper's). null: only de-duplicate "
        "within the run.",
    )


def uniqueness_table(
    candidates: Sequence[tuple[str, Structure]],
    reference: ReferenceSet | None,
    matcher: StructureMatcher | None = None,
) -> pd.DataFrame:
    """One row per candidate: formula, duplicate_of, and (with a reference) known composition / structure.

    Columns: ``id``, ``formula``, ``duplicate_of`` (None for kept), ``unique`` (bool), ``known_composition``,
    ``known_structure_id`` (reference id or None), ``novel_structure``; the last three are None without a
    reference. A composition can be known while the structure is new (a new polymorph), which the table keeps
    apart.
    """
    duplicate_of = find_duplicates(candidates, matcher)
    rows = []
    for candidate_id, structure in candidates:
        bare = bare_structure(structure)
        known_composition = known_id = None
        if reference is not None:
            known_composition = reference.is_known_composition(bare)
            known_id = reference.known_structure_id(bare) if known_composition else None
        rows.append(
            {
                "id": candidate_id,
                "formula": bare.composition.reduced_formula,
                "duplicate_of": duplicate_of[candidate_id],
                "unique": duplicate_of[candidate_id] is None,
                "known_composition": known_composition,
                "known_structure_id": known_id,
                "novel_structure": None if reference is None else known_id is None,
            }
        )
    return pd.DataFrame(rows)
