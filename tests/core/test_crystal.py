"""The learnable crystal: gradients, masks, discretization and charge neutrality by construction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from finite_differences import central_difference
from pymatgen.core import Structure

from smoacs_core.config import GeometryConstraints
from smoacs_core.crystal import DifferentiableCrystals
from smoacs_core.oxidation import is_charge_neutral
from smoacs_core.predictors import load_predictor
from smoacs_core.templates import perovskite_templates, structure_templates
from smoacs_core.vocabulary import ElementVocabulary


@pytest.fixture(scope="module")
def vocabulary(predictors):
    return ElementVocabulary.build([p.supported_elements for p in predictors.values()])


@pytest.fixture(scope="module")
def mp_templates(mp20_rows, vocabulary):
    rows = mp20_rows[mp20_rows["cif"].str.len() < 2500].head(150)
    structures = [Structure.from_str(c, fmt="cif") for c in rows["cif"]]
    structures = [s for s in structures if len(s) <= 20]
    selection = structure_templates(structures, [s.formula for s in structures], vocabulary)
    assert len(selection.templates) > 50
    assert all("no charge-neutral" in reason for _, reason in selection.rejected)
    return selection.templates


def test_every_discretized_crystal_is_neutral_for_random_logits(mp_templates, vocabulary):
    """Whatever the logits, discretization obeys one pattern's masks: neutral by construction (checked independently)."""
    generator = torch.Generator().manual_seed(0)
    checked = 0
    for trial in range(5):
        crystals = DifferentiableCrystals(mp_templates, vocabulary, GeometryConstraints())
        with torch.no_grad():
            crystals.type_logits.copy_(torch.randn(crystals.type_logits.shape, generator=generator) * 3)
            crystals.pattern_logits.copy_(torch.randn(crystals.pattern_logits.shape, generator=generator) * 3)
        for temperature in (1.0, 0.01, 0.0001):
            for crystal in crystals.discretize(temperature):
                assert is_charge_neutral(crystal.structure), crystal.structure.composition
                assert sum(crystal.oxidation_states) == 0
                checked += 1
    assert checked > 5 * 3 * 50


def test_supercell_discretization_is_neutral(vocabulary):
    radius_vocabulary = ElementVocabulary(vocabulary.symbols, require_ionic_radius=True)
    templates = perovskite_templates(3, repeat=3, length_range=(6, 30), seed=1)
    crystals = DifferentiableCrystals(templates, radius_vocabulary, GeometryConstraints(length_range=(6, 30)))
    with torch.no_grad():
        crystals.type_logits.normal_(0, 3)
    for crystal in crystals.discretize(0.01):
        assert len(crystal.structure) == 135
        assert is_charge_neutral(crystal.structure)


def test_atom_distribution_respects_masks(vocabulary):
    templates = perovskite_templates(4, seed=0)
    crystals = DifferentiableCrystals(templates, ElementVocabulary(vocabulary.symbols, True), GeometryConstraints())
    types, per_pattern, weights = crystals.atom_distribution(0.01)
    torch.testing.assert_close(types.sum(-1), torch.ones(20))
    assert (per_pattern[~crystals.masks] < 1e-12).all()
    allowed_any = crystals.masks.any(dim=1)
    assert (types[~allowed_any] < 1e-12).all()
    symbols = vocabulary.symbols
    x_site = 2  # an X site: only anions (-2 or -1) may appear
    assert types[x_site, symbols.index("O")] > 0 and types[x_site, symbols.index("Sr")] < 1e-12


def test_gradients_match_finite_differences(srtio3, model_dir, vocabulary):
    """Autograd through soft types, lattice and coordinates equals central differences (float64, fixed graph)."""
    predictor = load_predictor("megnet-eform").double()
    template = structure_templates([srtio3], ["SrTiO3"], vocabulary).templates[0]
    crystals = DifferentiableCrystals([template], vocabulary, GeometryConstraints(), dtype=torch.float64)
    with torch.no_grad():
        crystals.frac_coords.add_(torch.randn(crystals.frac_coords.shape, dtype=torch.float64) * 0.01)
        crystals.type_logits.normal_(0, 0.01)
    temperature = 0.01

    def energy() -> torch.Tensor:
        batch, _, _ = crystals.soft_batch(temperature)
        return predictor(batch, graph).sum()

    batch, _, _ = crystals.soft_batch(temperature)
    graph = predictor.graph_for(batch)
    energy().backward()
    for parameter, index in (
        (crystals.scaled_lengths, (0, 0)),
        (crystals.frac_coords, (1, 2)),
        (crystals.type_logits, (4, vocabulary.symbols.index("S"))),
    ):
        numeric = central_difference(energy, parameter, index, 1e-6)
        assert float(parameter.grad[index]) == pytest.approx(numeric, rel=1e-4, abs=1e-7)


def test_one_hot_soft_prediction_equals_discrete_prediction(srtio3, predictors, vocabulary):
    """At low temperature the soft crystal is one-hot and predicts what the discrete structure predicts."""
    template = structure_templates([srtio3], ["SrTiO3"], vocabulary).templates[0]
    crystals = DifferentiableCrystals([template], vocabulary, GeometryConstraints())
    with torch.no_grad():
        for site, symbol in enumerate(["Sr", "Ti", "O", "O", "O"]):
            crystals.type_logits[site, vocabulary.symbols.index(symbol)] = 1.0
    batch, _, _ = crystals.soft_batch(0.0001)
    predictor = predictors["megnet-eform"]
    soft = float(predictor(batch, predictor.graph_for(batch)))
    discrete = crystals.discretize(0.0001)[0].structure
    assert discrete.composition.reduced_formula == "SrTiO3"
    assert soft == pytest.approx(float(predictor.predict([discrete])[0]), abs=1e-4)
    assert soft == pytest.approx(-3.548, abs=1e-3)


def test_straight_through_batch_is_the_discrete_crystal_with_the_soft_gradient(vocabulary):
    """Forward: exactly the one-hot types ``discretize`` returns, at a temperature where the soft crystal is
    still a mixture. Backward: the softmax's gradient, unchanged."""
    crystals = DifferentiableCrystals(perovskite_templates(4, seed=1), vocabulary, GeometryConstraints())
    with torch.no_grad():
        crystals.type_logits.normal_(0, 0.3)
        crystals.pattern_logits.normal_(0, 0.3)
    temperature = 1.0
    soft, _, _ = crystals.soft_batch(temperature)
    hard, _, _ = crystals.soft_batch(temperature, straight_through=True)
    assert float(soft.type_probs.detach().max(dim=-1).values.min()) < 0.5  # a mixture, far from one-hot
    discrete = crystals.discretize(temperature)
    chosen = [vocabulary.symbols[k] for k in hard.type_probs.argmax(dim=-1)]
    assert chosen == [site.specie.symbol for crystal in discrete for site in crystal.structure]
    one_hot = torch.nn.functional.one_hot(hard.type_probs.argmax(dim=-1), len(vocabulary.symbols)).float()
    torch.testing.assert_close(hard.type_probs.detach(), one_hot)
    weights = torch.randn(soft.type_probs.shape)
    gradients = []
    for straight_through in (False, True):
        crystals.zero_grad()
        batch, _, _ = crystals.soft_batch(temperature, straight_through=straight_through)
        (batch.type_probs * weights).sum().backward()
        gradients.append(crystals.type_logits.grad.clone())
    assert float(gradients[0].abs().max()) > 0
    torch.testing.assert_close(gradients[1], gradients[0])


def test_projection_keeps_perovskite_geometry(vocabulary):
    templates = perovskite_templates(6, seed=2)
    constraints = GeometryConstraints(optimize_angles=False, coord_tolerance=0.15)
    crystals = DifferentiableCrystals(templates, ElementVocabulary(vocabulary.symbols, True), constraints)
    with torch.no_grad():
        crystals.frac_coords.add_(torch.randn(crystals.frac_coords.shape))
        crystals.scaled_lengths.mul_(5)
    crystals.project_()
    deviation = crystals.frac_coords - crystals.ideal_frac_coords
    deviation -= torch.round(deviation)
    assert float(deviation.abs().max()) <= 0.15 + 1e-6
    assert float(crystals.lengths().max()) <= 10.0 + 1e-5
    np.testing.assert_allclose(crystals.angles_deg().detach().numpy(), 90.0, atol=1e-4)
    assert not crystals.angles.requires_grad


def test_nan_lattice_is_rejected_with_its_label(srtio3, vocabulary):
    template = structure_templates([srtio3], ["broken.cif"], vocabulary).templates[0]
    template.structure.lattice._matrix = np.full((3, 3), np.nan)  # a corrupted lattice from some upstream tool
    with pytest.raises(ValueError, match="broken.cif"):
        DifferentiableCrystals([template], vocabulary, GeometryConstraints())


def _x_anions(crystal, roles) -> set[str]:
    return {site.specie.symbol for site, role in zip(crystal.structure, roles, strict=True) if role == "X"}


@pytest.mark.parametrize("repeat", [1, 3])
def test_shared_x_sites_hold_one_anion(vocabulary, repeat):
    """With the X role shared, a crystal has one row of type logits for all its X sites (3 or 81 of them):
    every discretization has a single anion and stays neutral."""
    radius_vocabulary = ElementVocabulary(vocabulary.symbols, require_ionic_radius=True)
    templates = perovskite_templates(5, repeat=repeat, length_range=(3, 30), seed=2)
    constraints = GeometryConstraints(length_range=(3, 30))
    shared = DifferentiableCrystals(templates, radius_vocabulary, constraints, initial_logit_std=3.0,
                                    shared_roles=("X",))
    assert shared.type_logits.shape[0] == 5 * (2 * repeat**3 + 1)
    crystals = shared.discretize(1.0)
    for crystal, template in zip(crystals, templates, strict=True):
        assert len(_x_anions(crystal, template.site_roles)) == 1
        assert is_charge_neutral(crystal.structure)
    unshared = DifferentiableCrystals(templates, radius_vocabulary, constraints, initial_logit_std=3.0)
    assert max(len(_x_anions(c, t.site_roles)) for c, t in zip(unshared.discretize(1.0), templates)) > 1


def test_a_shared_row_gets_the_gradient_of_all_its_sites(vocabulary):
    """The shared row reads exactly what separate rows with equal logits would, and collects the sum of
    their gradients (X sites 2-4 of each 5-site cell)."""
    templates = perovskite_templates(3, seed=4)
    shared = DifferentiableCrystals(templates, vocabulary, GeometryConstraints(), shared_roles=("X",))
    separate = DifferentiableCrystals(templates, vocabulary, GeometryConstraints())
    with torch.no_grad():
        shared.type_logits.normal_(0, 0.5)
        separate.type_logits.copy_(shared.type_logits[shared.site_logit_row])
    weights = torch.randn(15, len(vocabulary.symbols))
    for crystals in (shared, separate):
        types, _, _ = crystals.atom_distribution(1.0)
        (types * weights).sum().backward()
    torch.testing.assert_close(shared.atom_distribution(1.0)[0], separate.atom_distribution(1.0)[0])
    x_rows = separate.type_logits.grad.reshape(3, 5, -1)[:, 2:].sum(dim=1)
    torch.testing.assert_close(shared.type_logits.grad.reshape(3, 3, -1)[:, 2], x_rows)
    torch.testing.assert_close(shared.type_logits.grad.reshape(3, 3, -1)[:, :2],
                               separate.type_logits.grad.reshape(3, 5, -1)[:, :2])


def test_sharing_needs_roles_and_equal_oxidation_numbers(srtio3, vocabulary):
    from smoacs_core.crystal import CrystalTemplate

    plain = structure_templates([srtio3], ["SrTiO3.cif"], vocabulary).templates[0]
    with pytest.raises(ValueError, match="SrTiO3.cif.*site roles"):
        DifferentiableCrystals([plain], vocabulary, GeometryConstraints(), shared_roles=("X",))
    mixed = CrystalTemplate(structure=srtio3, patterns=((2, 3, -2, -2, -1),), label="SrTiO2F",
                            site_roles=("A", "B", "X", "X", "X"))
    with pytest.raises(ValueError, match="SrTiO2F: its X sites take different oxidation numbers"):
        DifferentiableCrystals([mixed], vocabulary, GeometryConstraints(), shared_roles=("X",))
