"""Last stage as a Prefect task: the run's report (``smoacs_core.steps.report``) from the results store, its
summary stored with the run, and the report and top candidates as artifacts in the Prefect UI."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from smoacs_core.stages import StructureStage
from smoacs_core.steps.report import TOP_CANDIDATES, ReportInput, ReportOutput, report
from smoacs_core.targets import PropertyTarget
from tasks.common import artifact_key, open_store, stored_candidates
from vasp_inputs.results import DftCode


@task(name="report", persist_result=False)
def write_report(
    run_id: str,
    run_dir: str,
    store_url: str,
    targets: list[PropertyTarget],
    judged: StructureStage,
    batch_states: dict[str, str],
    novelty_reference: str | None = None,
    max_e_above_hull: float | None = None,
) -> ReportOutput:
    """Aggregate the run's candidates from the store into report files and UI artifacts; DFT results are
    compared with the predictions at the ``judged`` stage and the band-gap range of ``targets`` (and the hull
    limit ``max_e_above_hull`` where DFT energies were judged against it)."""
    logger = get_run_logger()
    store = open_store(store_url)
    calculations = store.dft_calculations(run_id)
    notes = [DftCode(code).footing_note for code in sorted(set(calculations["code"]))]
    written = report(ReportInput(
        run_id=run_id, candidates=stored_candidates(store, run_id, "report"), dft_calculations=calculations,
        stage_statuses=store.stage_statuses(run_id), batch_states=batch_states, targets=targets, judged=judged,
        novelty_reference=novelty_reference, dft_notes=[note for note in notes if note],
        max_e_above_hull=max_e_above_hull,
        out=Path(run_dir) / "report",
    ))
    create_markdown_artifact(markdown=written.markdown, key=artifact_key(run_id, "report"),
                             description="Discovery report")
    create_table_artifact(table=written.top.to_dict(orient="records"), key=artifact_key(run_id, "top-candidates"),
                          description=f"Top {TOP_CANDIDATES} candidates")
    store.save_summary(run_id, written.summary)
    summary = written.summary
    logger.info("report of %s: success rate %.3f over %d candidates", run_id, summary["success_rate"],
                summary["n_samples"])
    return written
