"""Property predictors usable inside SMOACS optimization."""

from smoacs_core.predictors.base import PropertyPredictor
from smoacs_core.predictors.registry import PREDICTORS, load_predictor

__all__ = ["PREDICTORS", "PropertyPredictor", "load_predictor"]
