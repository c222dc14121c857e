"""The legacy Keras MEGNet models (megnet's mvl_models/) as SMOACS predictors: the original Keras implementation's
own predictions, soft types equal to integer types, gradients equal to finite differences, the metal probability's
direction, accuracy on real MP rows, where the files come from and the cache key.

matgl's MEGNet checkpoints share no weights with these files (retrained, with another Set2Set and readout), so the
reference is megnet itself: ``MEGNetModel.from_file(<file>).predict_structure(s)`` with megnet 1.3.2 on TensorFlow
2.15 (``s.state = [fidelity]`` for the multi-fidelity models), for the first six rows of MP-20's test split and for
corundum built from its experimental cell (not MP's mp-1143, so not the README's numbers).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from finite_differences import check_soft_crystal_gradients, cubic_perovskite
from pymatgen.core import Lattice, Structure

from smoacs_core.predictors import load_predictor, model_store
from smoacs_core.predictors.legacy_matgl import use_destination_aggregation
from smoacs_core.predictors.model_store import megnet_keras_files
from smoacs_core.settings import SmoacsSettings
from smoacs_core.targets import PropertyTarget
from tasks.common import checkpoint_fingerprint, model_weights_key

KERAS_ON_MP20 = {  # megnet's own predictions: mp-10009, mp-1218989, mp-1225695, mp-1220884, mp-1224266, mp-1002572
    "megnet2018-eform": [-0.360368, -0.828077, 0.065153, -1.548896, 0.049338, -2.101854],
    "megnet2018-bandgap": [0.880329, 0.114405, 0.022485, 0.096323, 0.050904, 0.920841],
    "megnet-mf2020-0-pbe": [0.503773, 0.001147, 0.000472, 0.017178, -0.027153, 0.810442],
    "megnet-mf2020-1-pbe": [0.933640, 0.001576, 0.001576, 0.001576, 0.001576, 0.722182],
    "megnet-mf2020-2-pbe": [0.673818, 0.011977, 0.008531, 0.032732, 0.007189, 0.695412],
    "megnet-mf2020-3-pbe": [0.622947, -0.000564, -0.000830, 0.006820, -0.000835, 0.642031],
    "megnet-mf2020-4-pbe": [0.565907, 0.008228, 0.006145, 0.167829, 0.006145, 0.977695],
    "megnet-mf2020-5-pbe": [0.548374, -0.001564, 0.001462, 0.023476, 0.010328, 0.668317],
}
KERAS_NON_METAL_PROBABILITY = [0.923038, 0.068223, 0.010384, 0.645522, 0.114251, 0.635613]
"""The classifier's own sigmoid output on the same rows: P(band gap > 0)."""
KERAS_CORUNDUM_EXPERIMENT = [7.623996, 7.138323, 6.498480, 7.243818, 5.495325, 4.842428]
"""The six multi-fidelity models at state 3 (experiment) on corundum, a = 4.7602 A, c = 12.9933 A."""


def _corundum() -> Structure:
    return Structure.from_spacegroup("R-3c", Lattice.hexagonal(4.7602, 12.9933), ["Al", "O"],
                                     [[0, 0, 0.35216], [0.30624, 0, 0.25]])


@pytest.fixture(scope="module")
def mp20_six(mp20_rows) -> list[Structure]:
    return [Structure.from_str(cif, fmt="cif") for cif in mp20_rows["cif"].head(6)]


def test_predictions_equal_megnets_own_keras_models(mp20_six):
    for name, expected in KERAS_ON_MP20.items():
        np.testing.assert_allclose(load_predictor(name).predict(mp20_six), expected, atol=1e-4, err_msg=name)
    metal = load_predictor("megnet2018-metal-probability")
    np.testing.assert_allclose(1.0 - metal.predict(mp20_six), KERAS_NON_METAL_PROBABILITY, atol=1e-4)
    experiment = [load_predictor(f"megnet-mf2020-{i}-exp").predict([_corundum()])[0] for i in range(6)]
    np.testing.assert_allclose(experiment, KERAS_CORUNDUM_EXPERIMENT, atol=1e-4)


def test_destination_aggregation_would_be_wrong_for_keras_weights(mp20_six):
    """The Keras edges read [v_i, v_j] and average onto i, as matgl >= 3 does onto the source (module point 5)."""
    predictor = load_predictor("megnet2018-eform")
    use_destination_aggregation(predictor.model.model)
    assert np.abs(predictor.predict(mp20_six) - KERAS_ON_MP20["megnet2018-eform"]).max() > 0.1


def test_one_hot_types_reproduce_integer_types(mp20_six):
    """Our batched forward with one-hot type probabilities equals matgl's predict_structure with integer types."""
    for name, state in (("megnet2018-eform", None), ("megnet-mf2020-3-hse", torch.tensor([2]))):
        predictor = load_predictor(name)
        reference = [float(predictor.model.model.predict_structure(s, state_attr=state)) for s in mp20_six]
        np.testing.assert_allclose(predictor.predict(mp20_six), reference, atol=1e-5, err_msg=name)


def test_gradients_match_finite_differences():
    """Autograd through soft types, lattice and coordinates equals central differences (float64, fixed graph)."""
    check_soft_crystal_gradients(load_predictor("megnet-mf2020-0-pbe").double())


def test_metal_probability_is_high_for_copper_and_low_for_a_fluoride():
    classifier = load_predictor("megnet2018-metal-probability")
    copper = Structure(Lattice.cubic(3.61), ["Cu"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    metal, fluoride = classifier.predict([copper, cubic_perovskite("K", "Zn", "F", 4.05)])
    assert classifier.property_name == "metal_probability" and metal > 0.9 and fluoride < 0.1


def test_six_model_mean_is_accurate_on_mp_band_gaps(mp20_rows):
    """PBE gaps of real MP rows (many likely in the models' training data): the six models' mean within 0.25 eV."""
    rows = mp20_rows.head(40)
    structures = [Structure.from_str(cif, fmt="cif") for cif in rows["cif"]]
    six = np.stack([load_predictor(f"megnet-mf2020-{i}-pbe").predict(structures) for i in range(6)])
    assert np.abs(six.mean(axis=0) - rows["band_gap"].to_numpy()).mean() < 0.25


def test_identity_names_the_file_and_state():
    assert load_predictor("megnet-mf2020-0-pbe").identity == "MEGNet-keras mf_2020/pbe_gllb_hse_exp/0 [state=0]"
    assert load_predictor("megnet2018-eform").identity == "MEGNet-keras mp-2018.6.1/formation_energy"


def test_missing_file_in_the_keras_directory_names_its_path(tmp_path):
    (tmp_path / "mp-2018.6.1").mkdir()
    (tmp_path / "mp-2018.6.1" / "formation_energy.hdf5").write_bytes(b"")
    expected = tmp_path / "mp-2018.6.1" / "formation_energy.hdf5.json"
    with pytest.raises(FileNotFoundError, match=str(expected)):
        load_predictor("megnet2018-eform", SmoacsSettings(megnet_keras_dir=tmp_path))


def test_download_lands_in_the_cache_once(tmp_path, monkeypatch):
    """Without a Keras directory each file is fetched from its published URL (here a local copy) into the cache."""
    source = SmoacsSettings().megnet_keras_dir
    monkeypatch.setattr(model_store, "MEGNET_KERAS_URL", source.as_uri() + "/{path}")
    settings = SmoacsSettings(megnet_keras_dir=None, cache_dir=tmp_path)
    weights, config = megnet_keras_files("mp-2018.6.1/formation_energy.hdf5", settings)
    assert weights == tmp_path / "megnet_keras" / "mp-2018.6.1" / "formation_energy.hdf5"
    assert weights.read_bytes() == (source / "mp-2018.6.1" / "formation_energy.hdf5").read_bytes()
    assert config.read_bytes() == (source / "mp-2018.6.1" / "formation_energy.hdf5.json").read_bytes()
    monkeypatch.setattr(model_store, "MEGNET_KERAS_URL", "file:///nowhere/{path}")
    assert megnet_keras_files("mp-2018.6.1/formation_energy.hdf5", settings) == (weights, config)  # no download


def test_failed_download_says_what_to_set_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(model_store, "MEGNET_KERAS_URL", "file:///nowhere/{path}")
    with pytest.raises(ConnectionError, match="SMOACS_MEGNET_KERAS_DIR"):
        megnet_keras_files("mp-2018.6.1/formation_energy.hdf5", SmoacsSettings(megnet_keras_dir=None,
                                                                                cache_dir=tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_cache_key_follows_the_keras_file_content(tmp_path, monkeypatch):
    source = SmoacsSettings().megnet_keras_dir
    relative = "mf_2020/pbe_gllb_hse_exp/0/best_model.hdf5"
    for file in (relative, relative + ".json"):
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / file, tmp_path / file)
    monkeypatch.setenv("SMOACS_MEGNET_KERAS_DIR", str(tmp_path))
    targets = {"targets": [PropertyTarget.band_gap(1.5, 0.2, predictor="megnet-mf2020-0-pbe")]}
    checkpoint_fingerprint.cache_clear()
    before = model_weights_key(None, targets)
    other_state = [PropertyTarget.band_gap(1.5, 0.2, predictor="megnet-mf2020-0-hse")]
    assert model_weights_key(None, {"targets": other_state}) == before  # another state of the same file
    with open(tmp_path / relative, "ab") as weights:
        weights.write(b"\0")  # retrained model
    checkpoint_fingerprint.cache_clear()
    assert model_weights_key(None, targets) != before
    checkpoint_fingerprint.cache_clear()
