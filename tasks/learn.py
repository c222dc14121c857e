"""Stage 'learn' as Prefect tasks: import label files, and train (or find) the DFT correction of a set of labels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prefect import get_run_logger, task

from smoacs_core.correction.training import CorrectionConfig
from smoacs_core.labels.importing import read_labels
from smoacs_core.predictors.registry import load_predictor
from smoacs_core.steps.learn import LearnInput, LearnOutput, learn
from tasks.common import open_store


@task(name="import-labels", persist_result=False)
def import_labels(store_url: str, files: Sequence[Path]) -> list[str]:
    """Add the labels of ``files`` to the store (idempotent); returns their sources (file names)."""
    store = open_store(store_url)
    sources = []
    for file in files:
        labels = read_labels(Path(file))
        new = store.save_labels(labels)
        get_run_logger().info("%d labels from %s (%d new)", len(labels), file, new)
        sources.append(Path(file).name)
    return sources


@task(name="learn", persist_result=False)
def learn_correction(
    store_url: str, sources: Sequence[str], groups: Sequence[str], correction: CorrectionConfig
) -> LearnOutput:
    """Train the correction on the stored labels from ``sources`` (imported files) or ``groups`` (runs): only
    the labels a round may see, never its own. Reuses the version when it was trained before."""
    labels = [label for label in open_store(store_url).labels()
              if label.source in set(sources) or label.group in set(groups)]
    trained = learn(LearnInput(labels=labels, config=correction), load_predictor)
    metrics = trained.record.metrics
    get_run_logger().info("%s %s on %d labels: leave-one-group-out MAE %s eV (committee %s eV)",
                          "reused" if trained.reused else "trained", trained.predictor_name, metrics.labels,
                          metrics.cv_mae, metrics.cv_committee_mae)
    return trained
