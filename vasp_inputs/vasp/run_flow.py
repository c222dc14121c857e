"""Run one candidate's serialized VASP chain where it lies: the command inside each job script.

    python -m vasp_inputs.vasp.run_flow <root>/<candidate>/flow.json     (or the candidate folder)

jobflow's ``run_locally`` executes the steps in order, each in its own ``job_*`` folder next to flow.json,
with custodian around VASP; TaskDocs go to the candidate's on-disk job store. ``run_state.json`` records the
outcome, so a harvest can tell a running chain from a failed one without asking the scheduler. A chain already
recorded as completed is not run again (a resubmitted job script does not redo hours of DFT); a failed one
starts over.

Exit codes: 0 completed, 1 failed, 2 no calculation folder at that path.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from vasp_inputs.vasp.calculation import (
    FLOW_FILE,
    RunRecord,
    candidate_store,
    now,
    read_manifest,
    read_run_record,
    write_run_record,
)

_MESSAGE_CHARS = 2000


def _first_unfinished_step(directory: Path) -> str:
    """The role whose TaskDoc is missing first: the step that failed."""
    manifest = read_manifest(directory)
    store = candidate_store(directory, manifest.job_store)
    store.connect()
    try:
        for role, uuid in manifest.roles.items():
            if store.query_one({"uuid": uuid}, properties=["uuid"]) is None:
                return role
    finally:
        store.close()
    return "flow"


def run_calculation(directory: Path, log: bool = True) -> RunRecord:
    """Run the chain in ``directory`` (unless it already completed) and record the outcome."""
    from jobflow import run_locally
    from monty.serialization import loadfn

    directory = directory.resolve()
    manifest = read_manifest(directory)
    if manifest is None:
        raise FileNotFoundError(f"{directory} holds no VASP calculation (no manifest)")
    previous = read_run_record(directory)
    if previous is not None and previous.state == "completed":
        return previous
    flow = loadfn(directory / FLOW_FILE)
    record = RunRecord(state="running", started=now())
    write_run_record(directory, record)
    store = candidate_store(directory, manifest.job_store)
    try:
        run_locally(flow, log=log, store=store, create_folders=True, root_dir=directory,
                    ensure_success=True, raise_immediately=True)
    except Exception as error:  # VASP, custodian, parsing or file errors: all end this candidate's chain
        step = _first_unfinished_step(directory)
        record = record.model_copy(update={
            "state": "failed", "finished": now(),
            "message": f"{step}: {type(error).__name__}: {error}"[:_MESSAGE_CHARS],
        })
    else:
        record = record.model_copy(update={"state": "completed", "finished": now()})
    finally:
        store.close()
    write_run_record(directory, record)
    return record


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vasp_inputs.vasp.run_flow", description=__doc__.split("\n")[0]
    )
    parser.add_argument("path", type=Path, help="the candidate's flow.json or its folder")
    args = parser.parse_args(argv)
    directory = args.path.parent if args.path.name == FLOW_FILE else args.path
    try:
        record = run_calculation(directory)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"{directory}: {record.state}{' - ' + record.message if record.message else ''}")
    return 0 if record.state == "completed" else 1


if __name__ == "__main__":
    raise SystemExit(main())
