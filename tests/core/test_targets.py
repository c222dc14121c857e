"""Target losses: the paper's directions, and the hinge that stops pulling past the success threshold."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from smoacs_core.targets import PropertyTarget


def test_plain_minimize_keeps_pulling_and_the_hinge_stops_at_the_threshold():
    energies = torch.tensor([-3.5, -0.6, -0.4, 1.0], requires_grad=True)
    plain = PropertyTarget.formation_energy()
    hinged = PropertyTarget.formation_energy(hinge=True)
    torch.testing.assert_close(plain.loss(energies), energies)
    torch.testing.assert_close(hinged.loss(energies), torch.tensor([0.0, 0.0, 0.1, 1.5]))
    hinged.loss(energies).sum().backward()
    torch.testing.assert_close(energies.grad, torch.tensor([0.0, 0.0, 1.0, 1.0]))  # no push below -0.5
    assert list(hinged.satisfied(energies.detach().numpy())) == [True, True, False, False]


def test_maximize_hinge_and_its_validation():
    target = PropertyTarget(name="bulk_modulus", predictor="x", goal="maximize", threshold=100.0, hinge=True)
    torch.testing.assert_close(target.loss(torch.tensor([50.0, 150.0])), torch.tensor([50.0, 0.0]))
    with pytest.raises(ValidationError, match="hinge needs goal 'minimize' or 'maximize' and a threshold"):
        PropertyTarget(name="formation_energy", predictor="megnet-eform", goal="minimize", hinge=True)
    with pytest.raises(ValidationError, match="hinge needs"):
        PropertyTarget(name="band_gap", predictor="megnet-bandgap-pbe", goal="range", low=1, high=2, hinge=True)


def test_a_spread_weight_asks_for_the_whole_uncertainty_inside_the_window():
    target = PropertyTarget.model_validate({**PropertyTarget.band_gap(1.5, 0.2).model_dump(), "spread_weight": 1.0})
    mean, spread = torch.tensor([1.5, 1.5, 1.6]), torch.tensor([0.1, 0.3, 0.0])
    assert target.loss(mean, spread).tolist() == pytest.approx([0.0, 0.1, 0.0])
    assert target.loss(mean).tolist() == pytest.approx([0.0, 0.0, 0.0])  # judged without a spread: the mean
    with pytest.raises(ValidationError, match="spread_weight needs goal 'range'"):
        PropertyTarget.model_validate({**PropertyTarget.formation_energy().model_dump(), "spread_weight": 1.0})
