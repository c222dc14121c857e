"""Stage 'learn': train the DFT correction on the labels the store holds, or find the version already trained.

A correction is named by what decides it (labels, configuration, members), so asking again with the same labels
reuses the folder: a resumed run or a second command does not train twice. `smoacs correction train` and the
closed loop's learn task call this step.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from smoacs_core.correction.training import CorrectionConfig, train_correction, usable_labels
from smoacs_core.correction.versions import (
    PREFIX,
    CorrectionRecord,
    correction_record,
    save_correction,
    trained_model_dir,
    version_of,
)
from smoacs_core.labels import DftLabel
from smoacs_core.predictors.base import PropertyPredictor
from smoacs_core.predictors.committee import common_elements
from smoacs_core.settings import SmoacsSettings


class LearnInput(BaseModel):
    """The labels to learn from (all the store holds; the configuration chooses among them) and how."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    labels: list[DftLabel]
    config: CorrectionConfig = CorrectionConfig()
    validate_groups: bool = True
    """also measure leave-one-group-out errors (trains one extra ensemble per group)"""


class LearnOutput(BaseModel):
    """The trained version's provenance and errors; ``reused`` when it was trained before."""

    record: CorrectionRecord
    reused: bool

    @property
    def predictor_name(self) -> str:
        return self.record.predictor_name


def learn(
    request: LearnInput, load: Callable[[str], PropertyPredictor], settings: SmoacsSettings | None = None
) -> LearnOutput:
    """Train (or find) the correction of ``request.labels``; ``load`` gives a member predictor by name."""
    members = {name: load(name) for name in request.config.members}
    chosen = usable_labels(request.labels, request.config, common_elements(members))
    version = version_of(chosen, request.config, {name: member.identity for name, member in members.items()})
    if (trained_model_dir(settings) / version).is_dir():
        try:
            return LearnOutput(record=correction_record(version, settings), reused=True)
        except FileNotFoundError:  # a training that stopped before meta.json: train again
            pass
    predictor, chosen, metrics = train_correction(chosen, members, request.config, PREFIX + version,
                                                  request.validate_groups)
    return LearnOutput(record=save_correction(predictor, chosen, request.config, metrics, settings), reused=False)
