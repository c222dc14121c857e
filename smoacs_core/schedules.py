"""Schedules over the optimization steps: softmax temperature and neighbour-graph rebuilds (paper A.4, A.6)."""

from __future__ import annotations

import math


def temperature(step: int, steps: int, start: float, end: float) -> float:
    """Linear decay from ``start`` at the first step to ``end`` at the last."""
    if steps <= 1:
        return end
    return start + (end - start) * step / (steps - 1)


def rebuild_steps(steps: int, rebuilds: int) -> list[int]:
    """Steps at which the neighbour graph is rebuilt: a sine schedule.

    Learning rates decay on a cosine, so structures move most at the start; rebuild step t_k satisfies
    sin(pi t_k / (2 steps)) = k / (rebuilds + 1), which spaces rebuilds every few steps early and further
    apart late (for 200 steps and 32 rebuilds: 4, 8, 12, ..., 156, 169, close to the paper's list). Step 0
    always builds the first graph and is not counted.
    """
    if rebuilds < 0:
        raise ValueError(f"number of graph rebuilds must be >= 0, got {rebuilds}")
    chosen = {round(2 * steps / math.pi * math.asin(k / (rebuilds + 1))) for k in range(1, rebuilds + 1)}
    return sorted(s for s in chosen if 0 < s < steps)


def projection_steps(rebuilds: list[int], count: int) -> list[int]:
    """``count`` of the rebuild steps, evenly spread over the list and ending with its last one.

    Relaxation projections happen at rebuilds (a new graph is built for the relaxed geometry anyway); the
    sine schedule is dense early, so picking by position in the list spaces projections over the run.
    """
    if count < 1 or not rebuilds:
        return []
    count = min(count, len(rebuilds))
    return sorted({rebuilds[round(k * len(rebuilds) / count) - 1] for k in range(1, count + 1)})
