"""Named pretrained predictors: model ID, what they predict, how to load them."""

from __future__ import annotations

from dataclasses import dataclass

from smoacs_core.predictors.legacy_matgl import load_legacy_checkpoint
from smoacs_core.predictors.matgl_property import MatglPropertyPredictor
from smoacs_core.predictors.model_store import checkpoint_dir
from smoacs_core.settings import SmoacsSettings

BAND_GAP_FIDELITIES = {"pbe": 0, "gllb-sc": 1, "hse": 2, "scan": 3}


@dataclass(frozen=True)
class PredictorSpec:
    """How to build one named predictor."""

    checkpoint: str
    property_name: str
    unit: str
    state: int | None = None


PREDICTORS: dict[str, PredictorSpec] = {
    "megnet-eform": PredictorSpec("MEGNet-MP-2018.6.1-Eform", "formation_energy", "eV/atom"),
    "m3gnet-eform": PredictorSpec("M3GNet-MP-2018.6.1-Eform", "formation_energy", "eV/atom"),
    **{
        f"megnet-bandgap-{fidelity}": PredictorSpec("MEGNet-MP-2019.4.1-BandGap-mfi", "band_gap", "eV", state)
        for fidelity, state in BAND_GAP_FIDELITIES.items()
    },
}
"""Built-in predictors. The band-gap model is multi-fidelity; ``-pbe`` matches Materials Project gaps."""


def load_predictor(name: str, settings: SmoacsSettings | None = None) -> MatglPropertyPredictor:
    """Load a built-in predictor by name (see ``PREDICTORS``)."""
    if name not in PREDICTORS:
        raise KeyError(f"unknown predictor '{name}'; choose from {', '.join(PREDICTORS)}")
    spec = PREDICTORS[name]
    model = load_legacy_checkpoint(checkpoint_dir(spec.checkpoint, settings))
    identity = spec.checkpoint if spec.state is None else f"{spec.checkpoint}[state={spec.state}]"
    return MatglPropertyPredictor(model, spec.property_name, spec.unit, identity, spec.state)
