"""Which stored run a configuration continues, across versions of the pipeline.

A run's id is a hash of its configuration, defaults included, so that re-running a configuration resumes it.
A new version that adds a configuration field (with a default) changes the hash of every configuration: a
user who upgrades and re-runs would start over beside the old run. Before a run starts, runs of the same name
in the store are read back through today's ``DiscoveryConfig`` (missing fields take their defaults); one with
the same science is the run to continue, under its stored id.
"""

from __future__ import annotations

from pydantic import ValidationError

from flows.config import DiscoveryConfig
from smoacs_core.store import ResultsStore


def continue_stored_run(config: DiscoveryConfig, store: ResultsStore) -> DiscoveryConfig:
    """``config`` under the id of the stored run it continues, if an earlier version stored it under another."""
    if config.stored_run_id or store.has_run(config.run_id):
        return config
    science = config.science()
    for run_id, stored in store.run_configurations(config.name):
        try:
            earlier = DiscoveryConfig.model_validate(stored)
        except ValidationError:  # a field this version no longer has: not the same science
            continue
        if earlier.science() == science:
            return config.model_copy(update={"stored_run_id": run_id})
    return config
