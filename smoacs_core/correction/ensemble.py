"""An ensemble of small networks trained side by side, each on its own bootstrap sample of the labels.

The members differ in their data and initialisation, so where the labels say little (a chemistry no label
covers) they disagree: their spread is the correction's uncertainty. All members are one set of batched
weights, so the whole ensemble costs one forward pass.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional


class EnsembleMlp(nn.Module):
    """``members`` two-hidden-layer networks from F inputs to one non-negative output each: (B, F) -> (M, B)."""

    def __init__(self, members: int, inputs: int, hidden: int):
        super().__init__()
        shapes = ((inputs, hidden), (hidden, hidden), (hidden, 1))
        self.weights = nn.ParameterList(nn.Parameter(torch.empty(members, i, o)) for i, o in shapes)
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(members, 1, o)) for _, o in shapes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weights uniform in +-1/sqrt(fan in) (as ``nn.Linear``), biases zero, from torch's global generator."""
        with torch.no_grad():
            for weight, bias in zip(self.weights, self.biases, strict=True):
                nn.init.uniform_(weight, -1 / math.sqrt(weight.shape[1]), 1 / math.sqrt(weight.shape[1]))
                bias.zero_()

    @property
    def members(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        hidden = inputs.unsqueeze(0).expand(self.members, -1, -1)
        for layer, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            hidden = torch.baddbmm(bias, hidden, weight)
            if layer < len(self.weights) - 1:
                hidden = functional.silu(hidden)
        return functional.softplus(hidden.squeeze(-1))  # band gaps are never negative


def fit_ensemble(
    network: EnsembleMlp, inputs: torch.Tensor, targets: torch.Tensor, sample_weights: torch.Tensor, steps: int,
    learning_rate: float, weight_decay: float,
) -> float:
    """Full-batch AdamW on a Huber loss (0.1 eV), member m weighting label n by ``sample_weights[m, n]`` (its
    bootstrap counts); returns the final loss.

    Runs on one thread: matrices this small only lose time to thread hand-offs (measured 3x slower on two).
    """
    optimizer = torch.optim.AdamW(network.parameters(), lr=learning_rate, weight_decay=weight_decay)
    normaliser = sample_weights.sum(dim=1).clamp(min=1.0)
    loss = torch.tensor(float("nan"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(steps):
            optimizer.zero_grad()
            errors = functional.huber_loss(network(inputs), targets.expand(network.members, -1), reduction="none",
                                           delta=0.1)
            loss = ((errors * sample_weights).sum(dim=1) / normaliser).sum()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return float(loss.detach()) / network.members
