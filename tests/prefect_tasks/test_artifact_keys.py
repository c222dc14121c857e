"""Artifact keys from run ids: Prefect rejects keys with anything but lowercase letters, digits and dashes."""

from __future__ import annotations

import pytest
from prefect.artifacts import ProgressArtifact

from tasks.common import artifact_key


@pytest.mark.parametrize("run_id", ["closed-loop-1.5-round0-17b74a1228", "My_Run.v2-abc", "perovskite-demo-2ae995fde2"])
def test_artifact_keys_of_any_run_name_are_accepted_by_prefect(run_id):
    key = artifact_key(run_id, "batch-0000")
    ProgressArtifact(key=key, progress=0.0)  # raises on a key Prefect would refuse
    assert key.endswith("-batch-0000")


def test_a_plain_run_id_keeps_its_key():
    assert artifact_key("perovskite-demo-2ae995fde2", "report") == "perovskite-demo-2ae995fde2-report"
