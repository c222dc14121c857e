"""The tasks' cache policy: new model weights re-run what used them, and nothing else."""

from __future__ import annotations

import shutil

from smoacs_core.config import OptimizationConfig
from smoacs_core.cross_check import CrossCheckConfig
from smoacs_core.relax.relax import RelaxConfig
from tasks.common import checkpoint_fingerprint, model_weights_key

CHECKPOINTS = ("MEGNet-MP-2018.6.1-Eform", "MEGNet-MP-2019.4.1-BandGap-mfi", "M3GNet-MP-2018.6.1-Eform")


def test_new_weights_change_the_key_of_the_tasks_that_use_them(tmp_path, model_dir, monkeypatch):
    for name in CHECKPOINTS:
        shutil.copytree(model_dir / name, tmp_path / name)
    monkeypatch.setenv("SMOACS_MODEL_DIR", str(tmp_path))
    checkpoint_fingerprint.cache_clear()
    optimization = OptimizationConfig.preset("perovskite")
    cross_check = CrossCheckConfig(models=["m3gnet-eform"])
    before = {"optimize": model_weights_key(None, {"optimization": optimization, "run_id": "r"}),
              "cross_check": model_weights_key(None, {"cross_check": cross_check, "targets": optimization.targets}),
              "nothing": model_weights_key(None, {"run_id": "r"})}
    assert model_weights_key(None, {"optimization": optimization, "run_id": "other"}) == before["optimize"]
    assert model_weights_key(None, {"optimization": optimization, "relax": RelaxConfig(potential="chgnet")}) \
        == before["optimize"]  # CHGNet's weights are pinned by version, not in the model directory

    with open(tmp_path / "M3GNet-MP-2018.6.1-Eform" / "state.pt", "ab") as weights:
        weights.write(b"\0")  # retrained second model
    checkpoint_fingerprint.cache_clear()
    assert model_weights_key(None, {"optimization": optimization, "run_id": "r"}) == before["optimize"]
    assert model_weights_key(None, {"cross_check": cross_check, "targets": optimization.targets}) \
        != before["cross_check"]
    assert model_weights_key(None, {"run_id": "r"}) == before["nothing"]
    checkpoint_fingerprint.cache_clear()
