"""The closed loop's report as a Prefect task: each round's picks read from the store, the report written beside
the rounds' runs and shown as an artifact in the Prefect UI."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact

from smoacs_core.stages import StructureStage
from smoacs_core.steps.loop_report import LoopReportInput, LoopReportOutput, LoopRound, loop_report
from smoacs_core.steps.round_outcome import RoundOutcome, round_picks
from smoacs_core.targets import PropertyTarget
from tasks.common import artifact_key, open_store


@task(name="loop-report", persist_result=False)
def write_loop_report(
    store_url: str, loop_id: str, rounds: list[dict], target: PropertyTarget, judged: StructureStage, out: str
) -> LoopReportOutput:
    """``rounds``: the loop's round records (round, predictor, trained_on, cv_mae, run_id, outcome)."""
    store = open_store(store_url)
    written = loop_report(LoopReportInput(loop_id=loop_id, target=target, out=Path(out), rounds=[
        LoopRound(number=r["round"], predictor=r["predictor"], trained_on=r["trained_on"], cv_mae=r["cv_mae"],
                  run_id=r["run_id"], outcome=RoundOutcome.model_validate(r["outcome"]),
                  picks=round_picks(store.candidates(r["run_id"]), target, judged))
        for r in rounds]))
    create_markdown_artifact(markdown=written.markdown, key=artifact_key(loop_id, "report"),
                             description="Closed-loop report")
    return written
