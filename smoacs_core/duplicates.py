"""Which structures are the same crystal: one de-duplication for sampled data and for a run's candidates."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure


def bare_structure(structure: Structure) -> Structure:
    """The structure without oxidation states (matching and formulas ignore them)."""
    bare = structure.copy()
    bare.remove_oxidation_states()
    return bare


def find_duplicates(
    candidates: Sequence[tuple[str, Structure]], matcher: StructureMatcher | None = None
) -> dict[str, str | None]:
    """Candidate id -> id of an earlier candidate it matches (None if it is the first of its kind).

    pymatgen's ``StructureMatcher.group_structures`` (oxidation states ignored), run only on candidates that
    share a reduced formula: it reduces every structure it is given, which costs where no match can exist.
    """
    matcher = matcher or StructureMatcher()
    by_formula: dict[str, list[tuple[str, Structure]]] = defaultdict(list)
    duplicate_of: dict[str, str | None] = {}
    for candidate_id, structure in candidates:
        if candidate_id in duplicate_of:
            raise ValueError(f"candidate ids must be unique; repeated: {candidate_id}")
        duplicate_of[candidate_id] = None
        bare = bare_structure(structure)
        by_formula[bare.composition.reduced_formula].append((candidate_id, bare))
    for group in (g for g in by_formula.values() if len(g) > 1):
        ids = {id(structure): candidate_id for candidate_id, structure in group}
        for matched in matcher.group_structures([structure for _, structure in group]):
            first = ids[id(matched[0])]
            duplicate_of.update({ids[id(structure)]: first for structure in matched[1:]})
    return duplicate_of
