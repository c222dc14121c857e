"""The DFT backend interface with real GPAW: submit returns at once, harvest collects, a killed pool is lost
and handed over again, a time limit fails its candidate; one folder rule and one code vocabulary for all."""

from __future__ import annotations

import os
import signal
import time

import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure

from smoacs_core.stages import StructureStage
from smoacs_core.targets import PropertyTarget
from vasp_inputs.backend import candidate_folder, harvest_until_done
from vasp_inputs.config import DftConfig
from vasp_inputs.gpaw import GpawSettings
from vasp_inputs.gpaw.pool import GpawBackend
from vasp_inputs.results import DftCode
from vasp_inputs.steps import DftSubmitInput, submit
from vasp_inputs.vasp.backends import VaspBackend

CHEAP = GpawSettings(ecut=250, max_steps=0, spin="off", reciprocal_density=20, static_reciprocal_density=20,
                     bandpath_npoints=10, pulay_correction=False)


def silicon() -> Structure:
    a = 5.43
    return Structure(Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]]), ["Si", "Si"],
                     [[0, 0, 0], [0.25, 0.25, 0.25]])


def test_one_code_vocabulary_and_one_folder_rule(tmp_path):
    assert DftCode("GPAW") is DftCode("gpaw") is DftCode.GPAW and DftCode.VASP.label == "VASP"
    assert DftConfig.model_validate({"code": "GPAW"}).code is DftCode.GPAW
    assert DftConfig().model_dump(mode="json")["code"] == "vasp"  # as configurations (and run ids) had it
    assert isinstance(DftConfig(code="gpaw").backend(), GpawBackend)
    assert isinstance(DftConfig().backend("GPAW"), GpawBackend)
    assert isinstance(DftConfig().backend(), VaspBackend) and not DftConfig().backend().finishes_here
    assert candidate_folder(tmp_path, "run-b0000-c00001") == tmp_path / "run-b0000-c00001"
    assert candidate_folder(tmp_path, "Si b/1") == tmp_path / "Si_b_1"
    with pytest.raises(ValueError, match="no usable folder name"):
        candidate_folder(tmp_path, "..")


def test_gpaw_submit_returns_at_once_and_harvest_collects(tmp_path):
    backend = GpawBackend(CHEAP)
    start = time.perf_counter()
    (submission,) = backend.submit({"Si": silicon()}, tmp_path)
    assert time.perf_counter() - start < 10 and submission.status == "submitted" and submission.reference
    (running,) = backend.harvest([submission])
    assert running.status == "submitted" and "pool process" in running.message
    (result,) = harvest_until_done(backend, [submission], poll_seconds=0.5)
    assert result.status == "completed", result.message
    assert result.code is DftCode.GPAW and 0.3 < result.band_gap < 1.3
    assert result.seconds > 0  # published only once complete: a harvest never sees a result without its time
    assert backend.harvest([submission]) == [result]  # harvesting again changes nothing


def test_killed_pool_is_lost_and_its_candidate_handed_over_again(tmp_path):
    backend = GpawBackend(CHEAP)
    (submission,) = backend.submit({"Si": silicon()}, tmp_path)
    os.killpg(int(submission.reference), signal.SIGKILL)  # the machine went down mid-calculation
    deadline = time.time() + 30
    while (lost := backend.harvest([submission])[0]).status == "submitted" and time.time() < deadline:
        time.sleep(0.2)
    assert lost.status == "lost" and "stopped before this candidate finished" in lost.message
    request = DftSubmitInput(
        candidates=pd.DataFrame({"id": ["Si"], "success": [True]}), structures={"Si": silicon()},
        handed=[submission], dft=DftConfig(code="gpaw", gpaw=CHEAP), targets=[PropertyTarget.band_gap(0.6, 0.3)],
        judged_stage=StructureStage.OPTIMIZED, root=tmp_path,
    )
    (again,) = submit(request).submissions
    assert again.candidate == "Si" and again.reference != submission.reference
    (result,) = harvest_until_done(GpawBackend(CHEAP), [again], poll_seconds=0.5)
    assert result.status == "completed", result.message


def test_time_limit_stops_the_candidate_as_a_timeout(tmp_path):
    slow = CHEAP.model_copy(update={"timeout_seconds": 1.0})
    results = harvest_until_done(GpawBackend(slow), GpawBackend(slow).submit({"Si": silicon()}, tmp_path), 0.5)
    assert results[0].status == "timeout" and "time limit of 1.0 s exceeded" in results[0].message
    assert GpawSettings().timeout_seconds == 1800  # a loop cannot afford an SCF that crawls for half an hour


def test_pool_runs_candidates_side_by_side(tmp_path):
    """Two candidates, two at a time: both start before the first one ends (serial GPAW, one BLAS thread each)."""
    backend = GpawBackend(CHEAP.model_copy(update={"parallel_candidates": 2}))
    strained = silicon()
    strained.apply_strain(0.01)
    results = harvest_until_done(backend, backend.submit({"Si": silicon(), "Si-strained": strained}, tmp_path), 0.5)
    assert [r.status for r in results] == ["completed", "completed"]
    lines = (tmp_path / "gpaw-pool.log").read_text().splitlines()
    assert lines[:2] == ["start Si", "start Si-strained"] or lines[:2] == ["start Si-strained", "start Si"]
