"""Stage: de-duplicate the run's candidates and mark which are already known (StructureMatcher).

Judges the candidates of one stage (``prerelaxed`` when the run relaxed them: relaxation often makes
different optimized cells the same crystal; ``optimized`` otherwise). Successes are considered first, so
the kept member of a set of duplicates is a successful one when there is one. Records criteria ``unique``,
``novel_composition`` and ``novel_structure`` at that stage and writes ``<run_dir>/uniqueness/<stage>.csv``.
"""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from pydantic import BaseModel

from smoacs_core.files import FileRef
from smoacs_core.reference import ReferenceSet
from smoacs_core.settings import SmoacsSettings
from smoacs_core.uniqueness import NoveltyConfig, uniqueness_table
from tasks.common import open_store, stored_candidates


class UniquenessReport(BaseModel):
    run_id: str
    stage: str
    reference: str | None
    candidates: int
    unique: int
    novel_composition: int | None
    novel_structure: int | None
    successes_unique_novel: int | None
    """successful candidates that are unique and whose structure is not in the reference"""
    table: FileRef


@task(name="deduplicate", persist_result=True)
def deduplicate_candidates(
    run_id: str, run_dir: str, store_url: str, novelty: NoveltyConfig, stage: str = "optimized"
) -> UniquenessReport:
    """Mark duplicates within the run and candidates the reference already holds."""
    logger = get_run_logger()
    store = open_store(store_url)
    table = stored_candidates(store, run_id, "de-duplicate")
    table = table.sort_values(["success", "id"], ascending=[False, True])
    found = store.structures(table["id"], stage)
    for candidate_id in table["id"]:
        if candidate_id not in found:
            logger.warning("candidate %s has no %s structure: left out of de-duplication", candidate_id, stage)
    candidates = list(found.items())
    reference = None
    if novelty.reference is not None:
        reference = ReferenceSet.from_source(novelty.reference, SmoacsSettings())
        logger.info("novelty against %s: %d known crystals", reference.name, len(reference))
    judged = uniqueness_table(candidates, reference)
    success = dict(zip(table["id"], table["success"], strict=True))
    judged.insert(2, "success", [bool(success[i]) for i in judged["id"]])
    out = Path(run_dir) / "uniqueness"
    out.mkdir(parents=True, exist_ok=True)
    judged.to_csv(out / f"{stage}.csv", index=False)
    criteria = {
        row.id: {"unique": row.unique}
        | ({} if reference is None else {"novel_composition": not row.known_composition,
                                         "novel_structure": row.novel_structure})
        for row in judged.itertuples(index=False)
    }
    store.save_criteria(run_id, stage, criteria)
    unique = judged["unique"]
    report = UniquenessReport(
        run_id=run_id,
        stage=stage,
        reference=None if reference is None else reference.name,
        candidates=len(judged),
        unique=int(unique.sum()),
        novel_composition=None if reference is None else int((~judged["known_composition"].astype(bool)).sum()),
        novel_structure=None if reference is None else int(judged["novel_structure"].astype(bool).sum()),
        successes_unique_novel=None if reference is None else int(
            (judged["success"] & unique & judged["novel_structure"].astype(bool)).sum()
        ),
        table=FileRef.of(out / f"{stage}.csv"),
    )
    message = f"{report.unique} of {report.candidates} {stage} candidates unique"
    if reference is not None:
        message += (f"; {report.novel_structure} structures and {report.novel_composition} compositions not in "
                    f"{reference.name}; {report.successes_unique_novel} successes unique and novel")
    store.set_stage(run_id, "deduplicate", "completed", message)
    logger.info(message)
    return report
