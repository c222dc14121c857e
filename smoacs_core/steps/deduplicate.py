"""Stage 'deduplicate': duplicates within a run, and which candidates a reference of known crystals holds.

Candidates come in priority order (successes first), so the kept member of a set of duplicates is a successful
one when there is one. The table goes to ``out``; the criteria ``unique``, ``novel_composition`` and
``novel_structure`` are what the store records per candidate.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict
from pymatgen.core import Structure

from smoacs_core.files import FileRef
from smoacs_core.reference import ReferenceSet
from smoacs_core.settings import SmoacsSettings
from smoacs_core.uniqueness import NoveltyConfig, uniqueness_table


class DeduplicateInput(BaseModel):
    """Candidates (id, structure, success) in priority order, the reference to judge novelty by, the table file."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    candidates: list[tuple[str, Structure, bool]]
    novelty: NoveltyConfig
    out: Path


class DeduplicateOutput(BaseModel):
    """Counts, the per-candidate criteria and the table file."""

    reference: str | None
    candidates: int
    unique: int
    novel_composition: int | None
    novel_structure: int | None
    successes_unique_novel: int | None
    """successful candidates that are unique and whose structure is not in the reference"""
    criteria: dict[str, dict[str, bool]]
    table: FileRef

    def describe(self, stage: str) -> str:
        message = f"{self.unique} of {self.candidates} {stage} candidates unique"
        if self.reference is not None:
            message += (f"; {self.novel_structure} structures and {self.novel_composition} compositions not in "
                        f"{self.reference}; {self.successes_unique_novel} successes unique and novel")
        return message


def deduplicate(request: DeduplicateInput, settings: SmoacsSettings | None = None) -> DeduplicateOutput:
    """Judge uniqueness (StructureMatcher) and, with a reference, novelty of composition and structure."""
    reference = None
    if request.novelty.reference is not None:
        reference = ReferenceSet.from_source(request.novelty.reference, settings or SmoacsSettings())
    judged = uniqueness_table([(i, s) for i, s, _ in request.candidates], reference)
    judged.insert(2, "success", [success for _, _, success in request.candidates])
    request.out.parent.mkdir(parents=True, exist_ok=True)
    judged.to_csv(request.out, index=False)
    criteria = {
        row.id: {"unique": bool(row.unique)}
        | ({} if reference is None else {"novel_composition": not row.known_composition,
                                         "novel_structure": bool(row.novel_structure)})
        for row in judged.itertuples(index=False)
    }
    unique = judged["unique"]
    novel = judged["novel_structure"].astype(bool) if reference is not None else pd.Series(dtype=bool)
    return DeduplicateOutput(
        reference=None if reference is None else reference.name,
        candidates=len(judged),
        unique=int(unique.sum()),
        novel_composition=None if reference is None else int((~judged["known_composition"].astype(bool)).sum()),
        novel_structure=None if reference is None else int(novel.sum()),
        successes_unique_novel=None if reference is None else int((judged["success"] & unique & novel).sum()),
        criteria=criteria,
        table=FileRef.of(request.out),
    )
