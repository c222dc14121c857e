"""Universal ML potentials as ASE calculators: legacy M3GNet-MP-2021.2.8-PES (default) or CHGNet."""

from __future__ import annotations

from typing import Literal

from ase.calculators.calculator import Calculator

from smoacs_core.predictors.legacy_matgl import load_legacy_checkpoint
from smoacs_core.predictors.model_store import checkpoint_dir
from smoacs_core.settings import SmoacsSettings

PotentialName = Literal["m3gnet", "chgnet"]
M3GNET_PES = "M3GNet-MP-2021.2.8-PES"
CHGNET_MODEL = "0.3.0"
"""CHGNet weights (shipped with the chgnet package); pinned, so a chgnet upgrade cannot change them silently."""


def potential_identity(name: PotentialName) -> str:
    """The model ID recorded with every relaxed structure."""
    if name == "m3gnet":
        return M3GNET_PES
    from chgnet import __version__

    return f"CHGNet-{CHGNET_MODEL} (chgnet {__version__})"


def ase_calculator(name: PotentialName, settings: SmoacsSettings | None = None, device: str = "cpu") -> Calculator:
    """An ASE calculator for ``name``; M3GNet loads with the pre-3.0 convention its weights were trained with."""
    if name == "m3gnet":
        from matgl.ext.ase import PESCalculator

        potential = load_legacy_checkpoint(checkpoint_dir(M3GNET_PES, settings or SmoacsSettings()))
        return PESCalculator(potential.to(device), stress_unit="eV/A3")
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    return CHGNetCalculator(CHGNet.load(model_name=CHGNET_MODEL, verbose=False), use_device=device)
