"""Stages whose code has not landed yet: they fail clearly instead of pretending to succeed."""

from __future__ import annotations

from prefect import task

from tasks.common import open_store

PLANNED = {
    "dft_submit": "DFT submission through atomate2 (issue 6)",
    "dft_harvest": "DFT harvesting (issue 6)",
}


class StageNotAvailableError(RuntimeError):
    """A configured stage is not built yet."""


@task(name="stage-not-available", persist_result=False, retries=0)
def stage_not_available(stage: str, run_id: str, store_url: str) -> None:
    """Record the stage as not available and stop the run with a message saying what is missing."""
    message = f"stage '{stage}' is not available yet: {PLANNED[stage]} has not landed; remove it from 'stages'"
    open_store(store_url).set_stage(run_id, stage, "not_available", message)
    raise StageNotAvailableError(message)
