"""The discovery flow: one sub-flow per stage, composed from the thin tasks in ``tasks/``.

Re-running a configuration resumes it: the run id derives from the configuration, every task is cached on
its inputs and source in the results directory, and every store write is an idempotent upsert.
"""

from __future__ import annotations

import platform
from importlib.metadata import version

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel

from flows.config import DEFAULT_CONFIG, DiscoveryConfig
from flows.harvest import place_dft_energies_on_hull
from flows.runs import continue_stored_run
from smoacs_core import __version__
from smoacs_core.stages import Stage, judged_stage
from smoacs_core.steps.sample import InitialStructureSet
from smoacs_core.store import default_store_url
from tasks.common import NETWORK_RETRIES, RETRY_DELAY_SECONDS, cache_policy, open_store
from tasks.cross_check import cross_check_candidates
from tasks.dft import harvest_dft, submit_dft
from tasks.hull import place_candidates_on_hull
from tasks.optimize import BatchResult, optimize_batch
from tasks.prerelax import PrerelaxBatchResult, prerelax_batch
from tasks.report import write_report
from tasks.sample import sample_initial_structures
from tasks.uniqueness import deduplicate_candidates


class BatchFailuresError(RuntimeError):
    """Some optimization batches failed; the others are kept in the store and the report."""


def store_url_of(config: DiscoveryConfig) -> str:
    return config.store_url or default_store_url(config.results_dir)


@flow(name="sample-stage")
def sample_stage(config: DiscoveryConfig, run_id: str, store_url: str) -> InitialStructureSet:
    task = sample_initial_structures.with_options(cache_policy=cache_policy(config.results_dir))
    return task(config.initial, config.optimization, str(config.run_dir), store_url, run_id)


class StageBatches(BaseModel):
    """What a batched stage produced: each batch's final state name (Completed/Cached/Failed) and result."""

    states: dict[str, str]
    results: list[BatchResult | PrerelaxBatchResult] = []


def _collect(futures: dict, stage: str, run_id: str, store_url: str) -> StageBatches:
    """Wait for every batch; failed batches are logged and recorded, the others kept."""
    logger = get_run_logger()
    states, results, failures = {}, [], {}
    for number, future in futures.items():
        future.wait()
        states[str(number)] = future.state.name
        if future.state.is_failed():
            failures[number] = str(future.state.message)
            logger.error("%s batch %d failed: %s", stage, number, future.state.message)
        else:
            results.append(future.result())
    reused = sum(state == "Cached" for state in states.values())
    message = f"{len(futures)} batches ({reused} from cache, {len(failures)} failed)"
    open_store(store_url).set_stage(run_id, stage, "failed" if failures else "completed", message)
    if failures and len(failures) == len(futures):
        raise BatchFailuresError(f"every {stage} batch failed: {failures}")
    return StageBatches(states=states, results=results)


@flow(name="optimize-stage")
def optimize_stage(config: DiscoveryConfig, run_id: str, store_url: str, initial: InitialStructureSet) -> StageBatches:
    """Optimize the initial structures in batches."""
    open_store(store_url).set_stage(run_id, Stage.OPTIMIZE, "running")
    task = optimize_batch.with_options(cache_policy=cache_policy(config.results_dir))
    structures = initial.structures
    size = config.batch_size
    futures = {
        number: task.submit(
            run_id, number, structures[start : start + size], config.optimization, str(config.run_dir), store_url,
            str(config.novelty_reference) if config.novelty_reference else None,
        )
        for number, start in enumerate(range(0, len(structures), size))
    }
    return _collect(futures, Stage.OPTIMIZE, run_id, store_url)


@flow(name="prerelax-stage")
def prerelax_stage(config: DiscoveryConfig, run_id: str, store_url: str, optimized: StageBatches) -> StageBatches:
    """Relax every optimized batch with the ML potential and judge it again."""
    open_store(store_url).set_stage(run_id, Stage.PRERELAX, "running")
    task = prerelax_batch.with_options(cache_policy=cache_policy(config.results_dir))
    futures = {
        batch.batch: task.submit(
            run_id, batch.batch, batch.candidate_ids, config.optimization, config.prerelax, str(config.run_dir),
            store_url,
        )
        for batch in optimized.results
    }
    return _collect(futures, Stage.PRERELAX, run_id, store_url)


def _task_runner(config: DiscoveryConfig):
    if config.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        if config.dask_address:
            return DaskTaskRunner(address=config.dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": config.max_parallel_batches, "threads_per_worker": 1})
    return ThreadPoolTaskRunner(max_workers=config.max_parallel_batches)


@flow(name="discovery", log_prints=True)
def discovery(config: DiscoveryConfig | None = None) -> dict:
    """Initial structures -> SMOACS -> (pre-relaxation, hull, DFT: as they land) -> report; returns the summary.

    Without a configuration, runs the shipped demo (flows/default_discovery.yaml).
    """
    config = config or DiscoveryConfig.from_yaml(DEFAULT_CONFIG)
    if Stage.CROSS_CHECK in config.stages:
        config.cross_check.check_user_factories()
    logger = get_run_logger()
    store_url = store_url_of(config)
    store = open_store(store_url)
    config = continue_stored_run(config, store)
    run_id = config.run_id
    provenance = {"smoacs": __version__, "prefect": version("prefect"), "python": platform.python_version()}
    store.start_run(run_id, config.name, config.model_dump(mode="json"), provenance, flow_run.id)
    logger.info("run %s (store %s, files %s)", run_id, store.display_url, config.run_dir)
    try:
        summary = _run_stages(config, run_id, store_url)
    except BaseException:
        store.finish_run(run_id, "failed")
        raise
    store.finish_run(run_id, "completed")  # the one place a run ends: here, or failed just above
    return summary


def _run_stages(config: DiscoveryConfig, run_id: str, store_url: str) -> dict:
    batch_states: dict[str, str] = {}
    initial = optimized = hull_report = None
    for stage in config.stages:
        if stage is Stage.SAMPLE:
            initial = sample_stage(config, run_id, store_url)
        elif stage is Stage.OPTIMIZE:
            if initial is None:
                raise ValueError("stages: 'optimize' needs 'sample' before it (initial.kind chooses the source)")
            optimized = optimize_stage.with_options(task_runner=_task_runner(config))(config, run_id, store_url, initial)
            batch_states = optimized.states
        elif stage is Stage.PRERELAX:
            if optimized is None:
                raise ValueError("stages: 'prerelax' needs 'optimize' before it")
            prerelax_stage.with_options(task_runner=_task_runner(config))(config, run_id, store_url, optimized)
        elif stage is Stage.CROSS_CHECK:
            cross_check = cross_check_candidates.with_options(cache_policy=cache_policy(config.results_dir))
            cross_check(run_id, str(config.run_dir), store_url, config.cross_check, config.optimization.targets,
                        judged_stage(config.stages))
        elif stage is Stage.DEDUPLICATE:
            deduplicate = deduplicate_candidates.with_options(cache_policy=cache_policy(config.results_dir))
            deduplicate(run_id, str(config.run_dir), store_url, config.novelty, judged_stage(config.stages))
        elif stage is Stage.HULL:
            online = config.hull.reference == "mp_api"  # the Materials Project API: retry passing network errors
            hull = place_candidates_on_hull.with_options(
                cache_policy=cache_policy(config.results_dir), retries=NETWORK_RETRIES if online else 0,
                retry_delay_seconds=RETRY_DELAY_SECONDS,
            )
            hull_report = hull(run_id, str(config.run_dir), store_url, config.hull, config.optimization.targets,
                               judged_stage(config.stages))
        elif stage is Stage.DFT_SUBMIT:
            submit_dft(run_id, str(config.run_dir), store_url, config.dft, config.optimization.targets,
                       judged_stage(config.stages))
        elif stage is Stage.DFT_HARVEST:
            harvest_dft(store_url, run_id, config.dft, config.optimization.targets, judged_stage(config.stages),
                        wait=True)
            place_dft_energies_on_hull(config, run_id, store_url)
        elif stage is Stage.REPORT:
            report = write_report(
                run_id, str(config.run_dir), store_url, config.optimization.targets, judged_stage(config.stages),
                batch_states, str(config.novelty_reference) if config.novelty_reference else None,
                config.dft.max_e_above_hull,
            )
            failed = [b for b, state in batch_states.items() if state not in ("Completed", "Cached")]
            if failed:
                raise BatchFailuresError(f"batches {failed} failed; the others are reported in {report.report.path}")
            if hull_report is not None:
                report.summary["hull"] = {
                    "stage": hull_report.stage, "footing": hull_report.footing, "placed": hull_report.placed,
                    "on_hull": hull_report.on_hull, "implausibly_stable": hull_report.implausibly_stable,
                    "incomplete_systems": len(hull_report.incomplete_systems),
                    "report": hull_report.report.path,
                }
            return report.summary
    return {"run_id": run_id, "stages": config.stages}
