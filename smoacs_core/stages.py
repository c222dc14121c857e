"""The pipeline's vocabulary of stages, shared by configuration, store, tasks and report.

``Stage`` names what a run does (the ``stages`` list of a configuration, the store's stage statuses);
``StructureStage`` names the state a candidate's structure and properties are recorded at (store columns such
as ``prerelaxed.band_gap``): 'optimize' records 'optimized', 'prerelax' 'prerelaxed', the DFT stages 'dft'.
"""

from __future__ import annotations

from enum import StrEnum


class StructureStage(StrEnum):
    """Where in the pipeline a structure, its properties and criteria were recorded."""

    INITIAL = "initial"
    OPTIMIZED = "optimized"
    PRERELAXED = "prerelaxed"
    DFT = "dft"


class Stage(StrEnum):
    """A pipeline stage, in pipeline order."""

    SAMPLE = "sample"
    OPTIMIZE = "optimize"
    PRERELAX = "prerelax"
    CROSS_CHECK = "cross_check"
    DEDUPLICATE = "deduplicate"
    HULL = "hull"
    DFT_SUBMIT = "dft_submit"
    DFT_HARVEST = "dft_harvest"
    REPORT = "report"


def judged_stage(stages: list[Stage] | list[str]) -> StructureStage:
    """The structures later stages judge (de-duplication, hull, DFT): relaxed ones when the run relaxes."""
    return StructureStage.PRERELAXED if Stage.PRERELAX in stages else StructureStage.OPTIMIZED
