"""Trained corrections on disk: one folder per version under the trained-model directory, never in the repository.

A version is named by what decides it: ``band_gap-<hash>`` of the label ids it learned from, its configuration
and the members' identities. Training the same labels the same way again finds the folder and reuses it; a new
DFT result makes a new version, and the old one stays loadable (a closed loop's earlier rounds keep theirs).

``<version>/meta.json`` says what it learned from (how many labels of which code, functional and source, their
ids), its configuration and its errors; ``<version>/ensemble.pt`` holds the trained weights and scaling (the
members' weights stay in their own checkpoints and are loaded by name).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import torch
from pydantic import BaseModel

from smoacs_core import __version__
from smoacs_core.correction.predictor import DftCorrectedPredictor
from smoacs_core.correction.training import CorrectionConfig, CorrectionMetrics
from smoacs_core.labels import DftLabel
from smoacs_core.predictors.registry import CORRECTION_PREFIX as PREFIX
from smoacs_core.settings import SmoacsSettings

META, WEIGHTS = "meta.json", "ensemble.pt"


class CorrectionRecord(BaseModel):
    """What ``meta.json`` holds: the provenance and errors of one trained version."""

    version: str
    property_name: str = "band_gap"
    config: CorrectionConfig
    member_identities: dict[str, str]
    labels: int
    label_kinds: dict[str, int]
    """'GPAW-PBE' -> count"""
    sources: dict[str, int]
    label_ids: list[str]
    metrics: CorrectionMetrics
    created_at: str
    smoacs_version: str = __version__

    @property
    def predictor_name(self) -> str:
        return PREFIX + self.version


def trained_model_dir(settings: SmoacsSettings | None = None) -> Path:
    """Where trained corrections live (``trained_model_dir``, by default ``<cache_dir>/trained-models``)."""
    settings = settings or SmoacsSettings()
    return Path(settings.trained_model_dir or settings.cache_dir / "trained-models").expanduser()


def version_of(labels: Sequence[DftLabel], config: CorrectionConfig, member_identities: dict[str, str]) -> str:
    """The version a training of ``labels`` with ``config`` produces."""
    key = json.dumps([sorted(label.label_id for label in labels), config.model_dump(mode="json"), member_identities,
                      __version__], sort_keys=True)
    return f"band_gap-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def save_correction(
    predictor: DftCorrectedPredictor, labels: Sequence[DftLabel], config: CorrectionConfig,
    metrics: CorrectionMetrics, settings: SmoacsSettings | None = None,
) -> CorrectionRecord:
    """Write a trained version (weights first, then meta.json, each atomically: a folder with meta.json is whole)."""
    identities = {name: member.identity for name, member in predictor.members.items()}
    record = CorrectionRecord(
        version=version_of(labels, config, identities), config=config, member_identities=identities,
        labels=len(labels), label_kinds=dict(Counter(label.label for label in labels)),
        sources=dict(Counter(label.source for label in labels)), label_ids=[label.label_id for label in labels],
        metrics=metrics, created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    folder = trained_model_dir(settings) / record.version
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_write(folder / WEIGHTS, lambda path: torch.save(predictor.trained_state(), path))
    _atomic_write(folder / META, lambda path: path.write_text(record.model_dump_json(indent=1)))
    return record


def _atomic_write(target: Path, write) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)


def correction_record(version: str, settings: SmoacsSettings | None = None) -> CorrectionRecord:
    """The provenance of a trained version; FileNotFoundError names the folder looked in."""
    path = trained_model_dir(settings) / version / META
    if not path.is_file():
        raise FileNotFoundError(f"no trained correction '{version}' ({path} missing; train one with "
                                "`smoacs correction train`, or set SMOACS_TRAINED_MODEL_DIR)")
    return CorrectionRecord.model_validate_json(path.read_text())


def load_correction(version: str, members: dict, settings: SmoacsSettings | None = None) -> DftCorrectedPredictor:
    """A trained version with its ``members`` (loaded predictors by name), frozen, in eval mode.

    Raises:
        ValueError: a member is not the model the version was trained with (its identity changed).
    """
    record = correction_record(version, settings)
    changed = {name: (record.member_identities[name], member.identity) for name, member in members.items()
               if record.member_identities.get(name) != member.identity}
    if changed or set(members) != set(record.member_identities):
        raise ValueError(f"correction {version} was trained with members {record.member_identities}; got "
                         f"{ {name: m.identity for name, m in members.items()} }")
    predictor = DftCorrectedPredictor(members, record.config.ensemble_size, record.config.hidden, PREFIX + version)
    state = torch.load(trained_model_dir(settings) / version / WEIGHTS, map_location="cpu", weights_only=True)
    predictor.load_state_dict(state, strict=False)
    missing = set(predictor.trained_state()) - set(state)
    if missing:
        raise ValueError(f"correction {version}: {WEIGHTS} lacks {sorted(missing)[:3]}")
    predictor.requires_grad_(False)
    return predictor.eval()


def stored_corrections(settings: SmoacsSettings | None = None) -> list[CorrectionRecord]:
    """Every trained version, oldest first."""
    root = trained_model_dir(settings)
    records = [CorrectionRecord.model_validate_json(p.read_text()) for p in root.glob(f"*/{META}")]
    return sorted(records, key=lambda record: record.created_at)
