"""Real SMOACS runs on the pretrained MEGNet predictors (short ones; the full-size runs live in benchmarks/)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Structure

from smoacs_core.batch import CrystalBatch
from smoacs_core.config import OptimizationConfig
from smoacs_core.graph import NeighborGraph
from smoacs_core.optimizer import build_vocabulary, optimize
from smoacs_core.oxidation import is_charge_neutral
from smoacs_core.predictors import PropertyPredictor
from smoacs_core.run import run_optimization
from smoacs_core.targets import PropertyTarget
from smoacs_core.templates import perovskite_templates, structure_templates


@pytest.mark.slow
def test_perovskite_run_improves_targets_and_keeps_constraints(predictors):
    config = OptimizationConfig.preset("perovskite", steps=60)
    outcome = run_optimization(perovskite_templates(32, seed=3), config, predictors)
    history = outcome.result.history
    assert history[-1].loss < history[0].loss - 0.3
    assert history[-1].soft_success["band_gap"] > history[0].soft_success["band_gap"]
    table = outcome.table
    assert table["neutral"].all() and table["coords_ok"].all() and table["angles_ok"].all()
    assert outcome.summary["success_rate"] > 0.1  # a short run already finds successes (200 steps: see benchmarks)
    for crystal in outcome.result.crystals:
        assert all(2.0 - 1e-5 <= x <= 10.0 + 1e-5 for x in crystal.structure.lattice.abc)


@pytest.mark.slow
def test_charge_neutral_over_many_random_runs(predictors, mp20_rows):
    """Neutrality by construction, checked independently of the masks over many seeds and both modes."""
    rows = mp20_rows.sample(40, random_state=0)
    structures = [Structure.from_str(c, fmt="cif") for c in rows["cif"]]
    structures = [s for s in structures if len(s) <= 12]
    candidates = 0
    for seed in range(6):
        config = OptimizationConfig.preset("perovskite", steps=8, seed=seed)
        result = optimize(perovskite_templates(16, seed=seed), predictors, config)
        free = OptimizationConfig.preset("free", steps=8, seed=seed)
        vocabulary = build_vocabulary(predictors, free)
        usable = structure_templates(structures, [s.formula for s in structures], vocabulary).templates
        assert len(usable) >= 8
        free_result = optimize(usable, predictors, free, vocabulary=vocabulary)
        for crystal in result.crystals + free_result.crystals:
            assert is_charge_neutral(crystal.structure), crystal.structure.composition
            candidates += 1
    assert candidates >= 6 * (16 + 8)


def test_straight_through_run_predicts_what_its_crystals_are(predictors):
    """With the straight-through estimator the step's loss is computed on the one-hot crystals the run
    returns (nothing moves here: every rate is 0). Without it the predictors judge the uniform mixture of
    elements the type logits start from, and the two disagree."""
    frozen = {"lattice": 0.0, "coords": 0.0, "types": 0.0, "pattern": 0.0}
    gaps = {}
    for straight_through in (True, False):
        config = OptimizationConfig.preset("perovskite", steps=1, seed=4, learning_rates=frozen,
                                           straight_through=straight_through)
        result = optimize(perovskite_templates(6, seed=4), predictors, config)
        returned = predictors["megnet-bandgap-pbe"].predict([c.structure for c in result.crystals])
        gaps[straight_through] = (result.history[-1].mean_predictions["band_gap"], float(np.mean(returned)))
    assert gaps[True][0] == pytest.approx(gaps[True][1], abs=1e-4)
    assert abs(gaps[False][0] - gaps[False][1]) > 0.1


def test_single_anion_run_returns_one_anion_per_crystal(predictors):
    """A real straight-through run with random starts: the X sites move together and every returned
    crystal (the best of its starts) has a single anion. The free mode has no X sites to share."""
    config = OptimizationConfig.preset("perovskite", steps=6, seed=2, single_anion=True, straight_through=True,
                                       temperature_start=1.0, temperature_end=0.1, restarts=2,
                                       initial_logit_std=0.5, learning_rates={"types": 0.2, "pattern": 0.2})
    templates = perovskite_templates(6, seed=2)
    result = optimize(templates, predictors, config)
    for crystal in result.crystals:
        anions = {site.specie.symbol for site in crystal.structure if site.specie.oxi_state < 0}
        assert len(anions) == 1, crystal.structure.composition
        assert is_charge_neutral(crystal.structure)
    with pytest.raises(ValueError, match="single_anion: X sites exist only in the perovskite modes"):
        OptimizationConfig.preset("free", single_anion=True)


def test_runs_are_reproducible_with_a_seed(predictors):
    config = OptimizationConfig.preset("perovskite", steps=10, seed=7)
    first = optimize(perovskite_templates(6, seed=7), predictors, config)
    second = optimize(perovskite_templates(6, seed=7), predictors, config)
    for a, b in zip(first.crystals, second.crystals):
        assert a.structure.composition == b.structure.composition
        np.testing.assert_allclose(a.structure.lattice.matrix, b.structure.lattice.matrix)
    other = optimize(perovskite_templates(6, seed=8), predictors, config.model_copy(update={"seed": 8}))
    assert [c.structure.formula for c in other.crystals] != [c.structure.formula for c in first.crystals]


class NaNForFirstCrystal(PropertyPredictor):
    """Wraps a real predictor and returns NaN for crystal 0, as a model does on a geometry it cannot handle."""

    def __init__(self, inner: PropertyPredictor):
        super().__init__()
        self.inner = inner
        self.property_name, self.unit, self.cutoff = inner.property_name, inner.unit, inner.cutoff
        self.supported_elements, self.identity = inner.supported_elements, "nan-for-first"

    def forward(self, crystals: CrystalBatch, graph: NeighborGraph) -> torch.Tensor:
        values = self.inner(crystals, graph)
        return torch.cat([values[:1] * float("nan"), values[1:]])


def test_non_finite_prediction_does_not_poison_the_batch(predictors):
    """One crystal's NaN loss is masked: its parameters stay finite and the others still optimize."""
    config = OptimizationConfig.preset(
        "perovskite", steps=20, targets=[PropertyTarget.formation_energy(predictor="poisoned")]
    )
    poisoned = NaNForFirstCrystal(predictors["megnet-eform"])
    outcome = run_optimization(perovskite_templates(4, seed=0), config, {"poisoned": poisoned})
    history = outcome.result.history
    assert all(record.finite_fraction == 0.75 for record in history)
    assert history[-1].loss < history[0].loss
    assert np.isnan(outcome.table.loc[0, "formation_energy"]) and not outcome.table.loc[0, "success"]
    assert np.isfinite(outcome.table.loc[1:, "formation_energy"]).all()
    for crystal in outcome.result.crystals:
        assert np.isfinite(crystal.structure.lattice.matrix).all()
        assert np.isfinite(crystal.structure.frac_coords).all()


class MeanAtomicMass(PropertyPredictor):
    """A user's own differentiable model: mean atomic mass of a crystal from its type probabilities."""

    property_name = "mean_atomic_mass"
    unit = "amu"
    cutoff = 3.0
    identity = "test-mean-atomic-mass"

    def __init__(self, elements):
        super().__init__()
        from pymatgen.core import Element

        self.supported_elements = tuple(elements)
        self.register_buffer("masses", torch.tensor([float(Element(e).atomic_mass) for e in elements]))

    def forward(self, crystals: CrystalBatch, graph: NeighborGraph) -> torch.Tensor:
        index = torch.tensor([self.supported_elements.index(s) for s in crystals.vocabulary])
        per_site = crystals.type_probs @ self.masses[index].to(crystals.type_probs.dtype)
        total = torch.zeros(crystals.num_crystals, dtype=per_site.dtype).index_add(0, crystals.site_crystal, per_site)
        return total / torch.bincount(crystals.site_crystal, minlength=crystals.num_crystals)


def test_any_differentiable_model_plugs_in(predictors):
    """The predictor interface is open: a custom model steers composition both ways."""
    mass = MeanAtomicMass(predictors["megnet-eform"].supported_elements)
    means = {}
    for goal in ("maximize", "minimize"):
        config = OptimizationConfig.preset(
            "perovskite", steps=15, targets=[PropertyTarget(name="mass", predictor="mass", goal=goal)]
        )
        outcome = run_optimization(perovskite_templates(8, seed=0), config, {"mass": mass})
        means[goal] = outcome.table["mass"].mean()
        assert outcome.table["neutral"].all()
    assert means["maximize"] > means["minimize"] + 50
