"""Lattice construction, neighbour graphs and schedules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice

from smoacs_core.graph import build_neighbor_graph
from smoacs_core.lattice import lattice_matrix
from smoacs_core.schedules import rebuild_steps, temperature


@pytest.mark.parametrize("params", [(3.0, 4.0, 5.0, 90, 90, 90), (4.1, 5.2, 6.3, 70, 100, 115), (2, 10, 7, 60, 120, 95)])
def test_lattice_matrix_has_the_requested_parameters(params):
    matrix = lattice_matrix(torch.tensor(params[:3], dtype=torch.float64), torch.tensor(params[3:], dtype=torch.float64))
    np.testing.assert_allclose(Lattice(matrix.numpy()).parameters, params, atol=1e-8)


def test_impossible_angles_stay_finite_and_are_flagged():
    """alpha = beta = 30, gamma = 150 admits no cell: the paper's NaN case. We stay finite (and flat)."""
    lengths = torch.tensor([[5.0, 5.0, 5.0]], requires_grad=True)
    angles = torch.tensor([[30.0, 30.0, 150.0]], requires_grad=True)
    matrix = lattice_matrix(lengths, angles)
    matrix.sum().backward()
    assert torch.isfinite(matrix).all() and torch.isfinite(lengths.grad).all() and torch.isfinite(angles.grad).all()
    assert abs(float(torch.linalg.det(matrix[0]))) < 1e-2 * 125  # flat, so its atoms fail the distance check


def test_neighbor_graph_matches_pymatgen(srtio3):
    lattices = torch.tensor(srtio3.lattice.matrix[None])
    frac = torch.tensor(srtio3.frac_coords)
    graph = build_neighbor_graph(lattices, frac, torch.zeros(5, dtype=torch.long), 4.0)
    expected = sum(len(n) for n in srtio3.get_all_neighbors(4.0))
    assert len(graph.src) == expected
    bonds = (frac[graph.dst] + graph.images - frac[graph.src]) @ lattices[0]
    assert float(bonds.norm(dim=1).max()) <= 4.0


def test_cell_without_neighbours_gives_empty_graph():
    lattices = torch.tensor(Lattice.cubic(9.5).matrix[None])
    graph = build_neighbor_graph(lattices, torch.zeros((1, 3), dtype=torch.float64), torch.zeros(1, dtype=torch.long), 4.0)
    assert len(graph.src) == 0


def test_sine_rebuild_schedule_matches_paper_shape():
    steps = rebuild_steps(200, 32)
    assert len(steps) == 32
    assert steps[:3] == [4, 8, 12]  # paper A.6: 4, 8, 12, 16, 20, ... (every ~4 steps at first)
    assert steps[-1] == 169  # paper A.6 ends at 169
    assert all(b > a for a, b in zip(steps, steps[1:]))
    gaps = np.diff(steps)
    assert gaps[-1] > gaps[0]  # sparser as the learning rate decays


def test_temperature_decays_linearly():
    assert temperature(0, 200, 0.01, 0.0001) == pytest.approx(0.01)
    assert temperature(199, 200, 0.01, 0.0001) == pytest.approx(0.0001)
    assert temperature(100, 201, 0.01, 0.0001) == pytest.approx(0.00505)
