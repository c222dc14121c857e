"""Relaxation projection (issue 7b/c): optimized crystals continue from their M3GNet-relaxed geometry."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from smoacs_core.config import OptimizationConfig, RelaxationProjection
from smoacs_core.crystal import DifferentiableCrystals
from smoacs_core.optimizer import build_vocabulary, optimize
from smoacs_core.relax.potentials import ase_calculator
from smoacs_core.relax.relax import RelaxConfig, relax_structures
from smoacs_core.schedules import projection_steps
from smoacs_core.templates import perovskite_templates


@pytest.fixture(scope="module")
def m3gnet(model_dir):
    return ase_calculator("m3gnet")


def test_projections_are_spread_over_the_rebuilds_and_end_with_the_last():
    rebuilds = [4, 8, 12, 20, 30, 50, 80, 120, 169]
    assert projection_steps(rebuilds, 3) == [12, 50, 169]
    assert projection_steps(rebuilds, 1) == [169]
    assert projection_steps(rebuilds, 20) == rebuilds
    assert projection_steps([], 3) == []


def test_set_geometry_replaces_lattice_and_coordinates_within_the_constraints(predictors):
    config = OptimizationConfig.preset("perovskite")
    templates = perovskite_templates(2, seed=1)
    crystals = DifferentiableCrystals(templates, build_vocabulary(predictors, config), config.constraints)
    relaxed = templates[0].structure.copy()
    relaxed = Structure(Lattice.orthorhombic(4.0, 4.1, 4.2), relaxed.species, relaxed.frac_coords)
    relaxed.translate_sites([1], [0.3, 0.0, 0.0])  # beyond the +-0.15 coordinate box: projected back
    before = crystals.lengths()[1].detach().clone()
    assert crystals.set_geometry_([relaxed, None]) == 1
    assert crystals.lengths()[0].detach().numpy() == pytest.approx([4.0, 4.1, 4.2], abs=1e-5)
    assert (crystals.lengths()[1] == before).all()  # None: kept as it was
    offset = crystals.frac_coords[1].detach().numpy() - crystals.ideal_frac_coords[1].numpy()
    assert np.abs(offset - np.round(offset)).max() == pytest.approx(0.15, abs=1e-6)
    supercell = relaxed.copy()
    supercell.make_supercell([1, 1, 2])
    with pytest.raises(ValueError, match="perovskite-template-1: 10 sites, expected 5"):
        crystals.set_geometry_([None, supercell])


@pytest.mark.slow
def test_composition_only_optimization_on_relaxed_geometry_stays_relaxed(predictors, m3gnet):
    """Lattice and coordinate rates 0: geometry changes only by projection, so the final crystals are (close
    to) M3GNet minima of their own composition, not distorted cells the predictor misjudges."""
    config = OptimizationConfig.preset(
        "perovskite", steps=20, graph_rebuilds=6, seed=2,
        learning_rates={"lattice": 0.0, "coords": 0.0},
        relaxation=RelaxationProjection(projections=2, max_steps=80),
    )
    result = optimize(perovskite_templates(3, seed=2, length_range=(3.5, 5.0)), predictors, config, relax_calculator=m3gnet)
    projected = [r.step for r in result.history if r.relaxed]
    assert len(projected) == 2 and result.relax_seconds > 0
    assert all(r.relaxed >= 2 for r in result.history if r.relaxed)  # an explosion may keep one geometry
    final = [c.structure for c in result.crystals]
    again = relax_structures(final, [str(i) for i in range(3)], m3gnet, RelaxConfig(max_steps=150))
    ratios = [r.volume_ratio for r in again if r.volume_ratio is not None]
    assert np.median(np.abs(np.log(ratios))) < 0.05  # relaxing again changes the volume by < 5 %
