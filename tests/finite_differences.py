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
