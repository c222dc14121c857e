"""Central differences of a scalar function of crystal parameters, to check autograd against."""

from __future__ import annotations

from collections.abc import Callable

import torch


def central_difference(function: Callable[[], torch.Tensor], parameter: torch.Tensor, index, step: float) -> float:
    """(f(p + step) - f(p - step)) / (2 step) for one entry of ``parameter``, which is left as it was."""
    with torch.no_grad():
        old = parameter[index].item()
        parameter[index] = old + step
        plus = float(function().sum())
        parameter[index] = old - step
        minus = float(function().sum())
        parameter[index] = old
    return (plus - minus) / (2 * step)


def cubic_perovskite(a: str, b: str, x: str, length: float):
    """The ideal cubic ABX3 perovskite (A at the corner, B at the body centre)."""
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice.cubic(length), [a, b, x, x, x],
                     [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


def check_soft_crystal_gradients(predictor) -> None:
    """Autograd of ``predictor`` (float64) through soft types, lattice and coordinates of a perturbed KZnF3, on a
    fixed graph, equals central differences."""
    import pytest

    from smoacs_core.config import GeometryConstraints, OptimizationConfig
    from smoacs_core.crystal import DifferentiableCrystals
    from smoacs_core.optimizer import build_vocabulary
    from smoacs_core.templates import structure_templates

    structure = cubic_perovskite("K", "Zn", "F", 4.05)
    structure.perturb(0.05)  # off the symmetric sites: no two neighbours at exactly the same distance
    vocabulary = build_vocabulary({"gap": predictor}, OptimizationConfig.preset("free"))
    template = structure_templates([structure], ["KZnF3"], vocabulary).templates[0]
    crystals = DifferentiableCrystals([template], vocabulary, GeometryConstraints(), dtype=torch.float64)
    with torch.no_grad():
        crystals.type_logits.normal_(0, 0.01)

    def prediction() -> torch.Tensor:
        batch, _, _ = crystals.soft_batch(0.01)
        return predictor(batch, graph).sum()

    batch, _, _ = crystals.soft_batch(0.01)
    graph = predictor.graph_for(batch)
    prediction().backward()
    for parameter, index in ((crystals.scaled_lengths, (0, 0)), (crystals.frac_coords, (1, 2)),
                             (crystals.type_logits, (4, vocabulary.symbols.index("Cl")))):
        numeric = central_difference(prediction, parameter, index, 1e-6)
        assert float(parameter.grad[index]) == pytest.approx(numeric, rel=1e-4, abs=1e-7)
