"""Regression: the legacy matgl checkpoints reproduce their published numbers (fails loudly on an upgrade)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from smoacs_core.predictors import load_predictor
from smoacs_core.predictors.legacy_matgl import load_legacy_checkpoint
from smoacs_core.predictors.model_store import checkpoint_dir
from smoacs_core.settings import SmoacsSettings


def _rock_salt(a, cation, anion):
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [cation, anion], [[0, 0, 0], [0.5] * 3])


def test_srtio3_reference_numbers(srtio3, predictors):
    """ENVIRONMENT.md: MEGNet Eform -3.548 eV/atom, MEGNet PBE gap 1.769 eV for cubic SrTiO3 (a = 3.905 A)."""
    assert predictors["megnet-eform"].predict([srtio3])[0] == pytest.approx(-3.548, abs=5e-4)
    assert predictors["megnet-bandgap-pbe"].predict([srtio3])[0] == pytest.approx(1.769, abs=5e-4)


def test_other_fidelities_and_m3gnet(srtio3, model_dir):
    assert load_predictor("megnet-bandgap-gllb-sc").predict([srtio3])[0] == pytest.approx(3.450, abs=5e-4)
    assert load_predictor("m3gnet-eform").predict([srtio3])[0] == pytest.approx(-3.516, abs=5e-4)


def test_more_compounds(predictors):
    """Multi-element checks that the pre-3.0 destination aggregation is in effect (source aggregation is off by ~0.5 eV)."""
    structures = [
        _rock_salt(4.212, "Mg", "O"),
        _rock_salt(5.64, "Na", "Cl"),
        Structure.from_spacegroup("F-43m", Lattice.cubic(5.653), ["Ga", "As"], [[0, 0, 0], [0.25] * 3]),
        Structure(Lattice.cubic(4.123), ["Cs", "Cl"], [[0, 0, 0], [0.5] * 3]),
    ]
    energies = predictors["megnet-eform"].predict(structures)
    np.testing.assert_allclose(energies, [-3.06, -2.02, -0.26, -2.27], atol=0.01)


def test_soft_type_path_equals_matgl_predict_structure(predictors, mp20_rows, model_dir):
    """Our batched forward with one-hot types equals matgl's own predict_structure on real MP structures."""
    structures = [Structure.from_str(cif, fmt="cif") for cif in mp20_rows["cif"].head(12)]
    for name, state in (("megnet-eform", None), ("megnet-bandgap-pbe", torch.tensor([0]))):
        ours = predictors[name].predict(structures)
        matgl_model = predictors[name].model
        reference = [float(matgl_model.predict_structure(s, state_attr=state)) for s in structures]
        np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_mp20_formation_energy_accuracy(predictors, mp20_rows):
    """On real MP rows the legacy MEGNet formation-energy model is accurate (ENVIRONMENT.md: MAE 0.057 eV/atom)."""
    rows = mp20_rows.head(60)
    structures = [Structure.from_str(cif, fmt="cif") for cif in rows["cif"]]
    predicted = predictors["megnet-eform"].predict(structures)
    assert np.abs(predicted - rows["formation_energy_per_atom"].to_numpy()).mean() < 0.1


def test_missing_model_directory_names_the_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="MEGNet-MP-2018.6.1-Eform"):
        checkpoint_dir("MEGNet-MP-2018.6.1-Eform", SmoacsSettings(model_dir=tmp_path))


def test_cached_download_is_reused(tmp_path, model_dir):
    """Without a model directory, a checkpoint already in the cache is used as is (no download)."""
    cached = tmp_path / "models" / "MEGNet-MP-2018.6.1-Eform"
    cached.parent.mkdir(parents=True)
    cached.symlink_to(model_dir / "MEGNet-MP-2018.6.1-Eform", target_is_directory=True)
    settings = SmoacsSettings(model_dir=None, cache_dir=tmp_path)
    assert checkpoint_dir("MEGNet-MP-2018.6.1-Eform", settings) == cached


def test_download_failure_is_explained(tmp_path):
    """Offline, the published-location download fails with a message telling the user what to set."""
    settings = SmoacsSettings(model_dir=None, cache_dir=tmp_path)
    with pytest.raises(ConnectionError, match="SMOACS_MODEL_DIR"):
        checkpoint_dir("MEGNet-MP-2018.6.1-Eform", settings)
    assert not (tmp_path / "models" / "MEGNet-MP-2018.6.1-Eform").exists()


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.json"):
        load_legacy_checkpoint(tmp_path)
