"""One candidate's calculation folder: what is in it and how to read it back.

Every backend gives a candidate its own folder under the calculation root:

    <root>/<candidate>/
        smoacs_vasp.json   manifest: candidate, workflow, backend, job uuid per role, job-store kind
        flow.json          the serialized jobflow Flow (what run_flow executes)
        jobstore/          on-disk jobflow JobStore: one TaskDoc per finished step
        run_state.json     written by run_flow (local and write backends): running / completed / failed
        job_*/             one folder per VASP step (local and write backends; FireWorks uses launcher dirs)

A store per candidate means no two cluster jobs ever write the same database, and a candidate whose folder is
gone is plainly lost. Harvesting reads only these files (and, for FireWorks, the LaunchPad).
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from jobflow import JobStore
from pydantic import BaseModel, ConfigDict, Field

from vasp_inputs.vasp.settings import JobStoreKind, VaspBackendKind, VaspWorkflow

MANIFEST = "smoacs_vasp.json"
FLOW_FILE = "flow.json"
RUN_STATE = "run_state.json"
STORE_DIR = "jobstore"

RunState = Literal["running", "completed", "failed"]


class VaspManifest(BaseModel):
    """What was submitted for one candidate; written before anything runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    candidate: str
    workflow: VaspWorkflow
    backend: VaspBackendKind
    roles: dict[str, str] = Field(description="Job uuid per role (relax_1, relax_2, static, band_gap).")
    job_store: JobStoreKind
    flow_uuid: str


class RunRecord(BaseModel):
    """What run_flow (or a failed submission) last recorded in the folder."""

    model_config = ConfigDict(extra="forbid")

    state: RunState
    started: str
    finished: str | None = None
    host: str = Field(default_factory=socket.gethostname)
    message: str = ""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_atomic(path: Path, text: str) -> None:
    """Readers (a harvest running while the job works) never see a half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_manifest(directory: Path, manifest: VaspManifest) -> None:
    _write_atomic(directory / MANIFEST, manifest.model_dump_json(indent=2))


def read_manifest(directory: Path) -> VaspManifest | None:
    path = directory / MANIFEST
    return VaspManifest.model_validate_json(path.read_text()) if path.is_file() else None


def write_run_record(directory: Path, record: RunRecord) -> None:
    _write_atomic(directory / RUN_STATE, record.model_dump_json(indent=2))


def read_run_record(directory: Path) -> RunRecord | None:
    path = directory / RUN_STATE
    if not path.is_file():
        return None
    try:
        return RunRecord.model_validate(json.loads(path.read_text()))
    except (ValueError, OSError):
        return None


def check_store_readable(directory: Path, kind: JobStoreKind) -> None:
    """Raise if a JSON job store file is incomplete (written while we read it).

    maggma's JSONStore skips a file it cannot parse and reads as empty, which would make a finished calculation
    look lost; a harvest must see the error instead and try again later.
    """
    if kind != "json":
        return
    for path in sorted((directory / STORE_DIR).glob("*.json")):
        try:
            json.loads(path.read_text() or "[]")
        except ValueError as error:
            raise ValueError(f"job store file {path} is not complete JSON ({error})") from error


def candidate_store(directory: Path, kind: JobStoreKind) -> JobStore:
    """The candidate's on-disk JobStore (absolute paths: it is serialized into FireWorks specs)."""
    from maggma.stores import JSONStore, MontyStore

    path = (directory / STORE_DIR).resolve()
    path.mkdir(parents=True, exist_ok=True)
    if kind == "montydb":
        docs = MontyStore("outputs", database_path=str(path), database_name="jobflow")
        data = MontyStore("data", database_path=str(path), database_name="jobflow")
    else:
        docs = JSONStore(str(path / "outputs.json"), read_only=False)
        data = JSONStore(str(path / "data.json"), read_only=False)
    # atomate2 sends large objects (band structures, DOS) to a "data" store when there is one
    return JobStore(docs, additional_stores={"data": data})
