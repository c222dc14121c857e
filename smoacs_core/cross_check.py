"""A second opinion on the predictions that chose the candidates: disagreement between models as uncertainty.

SMOACS searches for exactly those inputs where its predictors say what the user wants, so their predictions on
the candidates are the numbers least to be trusted. An independent model of the same property (M3GNet's
formation energy beside MEGNet's, or any second registered model) was not optimized against; where the two
disagree by more than they do on known materials, at least one of them is wrong about the candidate. The
disagreement is recorded per candidate, and candidates beyond the threshold fail the criterion
``models_agree``, which ranks them behind agreeing ones when DFT candidates are chosen
(smoacs_core/dft_selection.py).

Second models are registered predictors (``m3gnet-eform``, ...) or models the user supplies through an importable
factory (``user_models``): any object with ``predict(structures)``, ``property_name``, ``unit`` and ``identity``,
e.g. a band-gap model of the user's own (ALIGNN, a retrained MEGNet) wrapped in a few lines.

The default threshold is measured, not guessed: the 95th percentile of |MEGNet - M3GNet| formation energy on
1112 known materials of MP-20 (benchmarks/bench_cross_check.py, docs/benchmarks.md). On those materials
MEGNet's error against DFT is 0.05 eV/atom where the models agree and 0.15 where they do not.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pymatgen.core import Structure

from smoacs_core.predictors.base import PropertyPredictor
from smoacs_core.predictors.registry import PREDICTORS, load_predictor
from smoacs_core.settings import SmoacsSettings

DEFAULT_MAX_DISAGREEMENT = {"formation_energy": 0.16}
"""eV/atom: |MEGNet-MP-2018.6.1-Eform - M3GNet-MP-2018.6.1-Eform| stays below this on 95% of 1112 MP-20
materials (0.162; benchmarks/results/cross_check.json)."""

AGREE = "models_agree"
"""Criterion name: every second model agrees with the run's predictor within the property's threshold."""


_FACTORY = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
_MODEL_ATTRIBUTES = ("predict", "property_name", "unit", "identity")


class UserModel(BaseModel):
    """A second model the user supplies: an importable factory that builds it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    factory: str = Field(
        description="'package.module:function', called without arguments. It returns an object with "
        "predict(list[Structure]) -> one number per structure, property_name, unit and identity (the model ID "
        "stored with its predictions); a PropertyPredictor has them all.",
    )
    property: str = Field(description="The property it predicts, named as the run's targets name it (band_gap).")

    @field_validator("factory")
    @classmethod
    def _check_factory(cls, factory: str) -> str:
        if not _FACTORY.fullmatch(factory):
            raise ValueError(f"factory '{factory}': expected 'package.module:function'")
        return factory

    def _where(self, name: str) -> str:
        return f"cross_check.user_models.{name} ({self.factory})"

    def factory_function(self, name: str) -> Any:
        """The factory, imported but not called; the error names the model and the factory."""
        module_name, _, attribute = self.factory.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
            for part in attribute.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError) as error:
            raise ImportError(f"{self._where(name)}: cannot import the factory: {error}") from error
        return target

    def load(self, name: str) -> Any:
        """Build the model and check it has what a second opinion needs."""
        model = self.factory_function(name)()
        where = self._where(name)
        missing = [a for a in _MODEL_ATTRIBUTES if not hasattr(model, a)]
        if missing:
            raise TypeError(f"{where}: the model it returned has no {', '.join(missing)}")
        if model.property_name != self.property:
            raise ValueError(f"{where}: the model predicts '{model.property_name}', configured as '{self.property}'")
        return model

    def source_digest(self) -> str:
        """Hash of the factory's module file: a changed factory re-runs a cached cross-check."""
        spec = importlib.util.find_spec(self.factory.partition(":")[0])
        origin = spec.origin if spec is not None else None
        content = Path(origin).read_bytes() if origin and Path(origin).is_file() else b""
        return hashlib.sha256(self.factory.encode() + content).hexdigest()[:16]


class CrossCheckConfig(BaseModel):
    """Second models for properties the run targets (stage 'cross_check')."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    models: list[str] = Field(
        default_factory=lambda: ["m3gnet-eform"],
        min_length=1,
        description="Second models of targeted properties, each compared with the run's predictor of its "
        "property: registered predictors (smoacs_core/predictors/registry.py) or names in user_models.",
    )
    user_models: dict[str, UserModel] = Field(
        default_factory=dict,
        description="Models the user supplies, by the name models refers to them with.",
    )
    max_disagreement: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_MAX_DISAGREEMENT),
        description="Largest |second model - run's predictor| per property that still counts as agreement "
        "(the property's unit). Needed for every property a second model predicts; the formation-energy "
        "default is the 95th percentile of the two models' disagreement on known materials.",
    )

    @model_validator(mode="after")
    def _check(self) -> CrossCheckConfig:
        shadowing = sorted(set(self.user_models) & set(PREDICTORS))
        if shadowing:
            raise ValueError(f"cross_check.user_models: {shadowing} already name registered predictors")
        unknown = [name for name in self.models if name not in PREDICTORS and name not in self.user_models]
        if unknown:
            raise ValueError(f"cross_check.models: unknown predictors {unknown}; choose from {sorted(PREDICTORS)} "
                             "or define them in cross_check.user_models")
        for name in self.models:
            prop = self.property_of(name)
            if prop not in self.max_disagreement:
                unit = PREDICTORS[name].unit if name in PREDICTORS else "the property's unit"
                raise ValueError(
                    f"cross_check.max_disagreement: no threshold for '{prop}' (predicted by '{name}'); set one "
                    f"in {unit}, e.g. the models' disagreement on known materials"
                )
        negative = {p: v for p, v in self.max_disagreement.items() if not v > 0}
        if negative:
            raise ValueError(f"cross_check.max_disagreement: thresholds must be positive, got {negative}")
        return self

    def property_of(self, name: str) -> str:
        """The property second model ``name`` predicts."""
        return self.user_models[name].property if name in self.user_models else PREDICTORS[name].property_name

    def properties(self) -> list[str]:
        """The properties the second models predict."""
        return sorted({self.property_of(name) for name in self.models})

    def load(self, settings: SmoacsSettings | None = None) -> dict[str, Any]:
        """Every second model by name: registered ones from their checkpoints, the user's from its factory."""
        return {
            name: self.user_models[name].load(name) if name in self.user_models else load_predictor(name, settings)
            for name in self.models
        }

    def check_user_factories(self) -> None:
        """Import every user factory without building a model: a run fails at its start, not after hours of
        optimization, when a factory is not importable where it runs."""
        for name in self.models:
            if name in self.user_models:
                self.user_models[name].factory_function(name)

    def registered(self) -> list[str]:
        """The second models that are registered predictors (their checkpoints key caches)."""
        return [name for name in self.models if name not in self.user_models]


def disagreement_table(
    ids: Sequence[str],
    structures: Sequence[Structure],
    primary: Mapping[str, Sequence[float]],
    checks: Mapping[str, PropertyPredictor | Any],
    max_disagreement: Mapping[str, float],
) -> pd.DataFrame:
    """One row per candidate: every second model's prediction, the largest disagreement per property with the
    run's own prediction, and whether all models agree.

    Args:
        ids, structures: the candidates and the structures to judge (same order).
        primary: property -> the run's predictions for these structures (same order).
        checks: name -> second model (anything with ``predict``, see ``UserModel``); each predicts a property
            in ``primary``.
        max_disagreement: property -> threshold.
    """
    table = pd.DataFrame({"id": list(ids)})
    agree = np.ones(len(table), dtype=bool)
    spread: dict[str, np.ndarray] = {}
    for name, model in checks.items():
        prop = model.property_name
        if prop not in primary:
            raise ValueError(f"second model '{name}' predicts '{prop}', which the run does not predict")
        values = np.asarray(model.predict(list(structures)), dtype=float).reshape(-1)
        if len(values) != len(structures):
            raise ValueError(f"second model '{name}' returned {len(values)} predictions for {len(structures)} structures")
        table[f"{prop}_{name}"] = values
        difference = np.abs(values - np.asarray(primary[prop], dtype=float))
        spread[prop] = difference if prop not in spread else np.fmax(spread[prop], difference)
    for prop, difference in spread.items():
        table[f"{prop}_disagreement"] = difference
        agree &= np.nan_to_num(difference, nan=np.inf) <= max_disagreement[prop]  # no number: no agreement
    table[AGREE] = agree
    return table
