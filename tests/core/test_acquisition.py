"""Choosing DFT picks with a trained correction: window probabilities, exploit and explore picks with their
reasons, and never a structure DFT already labelled."""

from __future__ import annotations

import numpy as np
import pytest

from smoacs_core.acquisition import acquire, already_labelled, chosen, window_probability
from smoacs_core.correction.training import CorrectionConfig, train_correction
from smoacs_core.labels.importing import read_labels
from smoacs_core.predictors import load_predictor
from smoacs_core.targets import PropertyTarget

SMALL = CorrectionConfig(members=("megnet-bandgap-pbe", "cgcnn-bandgap"), ensemble_size=5, steps=200)


@pytest.fixture(scope="module")
def labels(gpaw_labels_file):
    return read_labels(gpaw_labels_file)


@pytest.fixture(scope="module")
def correction(labels, model_dir):
    members = {name: load_predictor(name) for name in SMALL.members}
    predictor, _, _ = train_correction(labels[:60], members, SMALL, "test", validate=False)
    return predictor


def test_window_probability_of_a_normal_gap():
    probability = window_probability(np.array([1.5, 1.5, 3.0, 1.5]), np.array([0.2, 1e-9, 0.2, 10.0]), 1.3, 1.7)
    assert probability[0] == pytest.approx(0.6827, abs=1e-4)  # +-1 sigma
    assert probability[1] == pytest.approx(1.0) and probability[2] == pytest.approx(0.0, abs=1e-9)
    assert probability[3] == pytest.approx(0.4 / (10 * np.sqrt(2 * np.pi)), rel=1e-3)


def test_picks_exploit_the_window_probability_then_explore_the_uncertain(labels, correction):
    target = PropertyTarget.band_gap(1.5, 0.2)
    structures = {label.name: label.structure for label in labels[60:100]}
    picks = acquire(structures, correction, target, count=4, exploration_share=0.25)
    assert [p.candidate for p in picks] == list(structures)
    exploit = [p for p in picks if p.reason.startswith("exploit")]
    explore = [p for p in picks if p.reason.startswith("explore")]
    assert len(exploit) == 3 and len(explore) == 1
    others = [p for p in picks if not p.reason]
    assert min(p.probability for p in exploit) >= max(p.probability for p in others + explore)
    assert all(p.sigma > 0 and 0 <= p.probability <= 1 for p in picks)
    assert explore[0].mean - 2 * explore[0].sigma <= 1.7 and explore[0].mean + 2 * explore[0].sigma >= 1.3
    assert chosen(picks) == [p.candidate for p in sorted(exploit, key=lambda p: -p.probability)] + [explore[0].candidate]


def test_structures_dft_already_labelled_or_picked_twice_are_never_picked(labels, correction):
    target = PropertyTarget.band_gap(1.5, 0.2)
    structures = {label.name: label.structure for label in labels[60:66]}
    structures["copy"] = labels[61].structure.copy()  # one crystal twice in a run: one DFT calculation
    known = labels[60].structure.copy()
    known.perturb(0.01)  # the same crystal, as DFT relaxed it a little
    assert already_labelled(structures, [known]) == {labels[60].name}
    picks = acquire(structures, correction, target, count=7, exploration_share=0.0, labelled=[known])
    picked = {p.candidate for p in picks if p.reason.startswith("exploit")}
    assert len(picked) == 5 and picked | {"copy", labels[61].name} == set(structures) - {labels[60].name}
    assert len(picked & {"copy", labels[61].name}) == 1
    assert next(p for p in picks if p.candidate == labels[60].name).reason.startswith("not picked: matches")


def test_a_predictor_without_uncertainty_or_a_target_without_window_is_refused(labels, correction, model_dir):
    structures = {labels[0].name: labels[0].structure}
    with pytest.raises(ValueError, match="no uncertainty; acquisition needs a trained dft-correction"):
        acquire(structures, load_predictor("cgcnn-bandgap"), PropertyTarget.band_gap(1.5, 0.2), 1, 0.0)
    with pytest.raises(ValueError, match="needs a range target"):
        acquire(structures, correction, PropertyTarget.formation_energy(), 1, 0.0)
