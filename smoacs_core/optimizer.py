"""The SMOACS loop: Adam on lattice, coordinates, atom-type and pattern logits through frozen predictors.

Each step: build the soft crystals at the current temperature, predict every target property on the current
(possibly stale) neighbour graphs, sum the per-crystal losses, step Adam with per-group learning rates on a
cosine decay, project back into the constraint boxes. Graphs are rebuilt on a sine schedule. A crystal whose
loss is not finite (e.g. a cell with no neighbour within a model's cutoff) contributes nothing and its
gradients are zeroed, so it cannot poison the rest of the batch. An optional stability term (forces and stress
of the soft crystals under an ML potential, smoacs_core/stability.py) adds to each crystal's loss. With
``straight_through`` the predictors see the one-hot crystals; with ``restarts`` every template is optimized
from several random starts in the same batch and keeps its best (smoacs_core/restarts.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from ase.calculators.calculator import Calculator

from smoacs_core.config import OptimizationConfig
from smoacs_core.crystal import CrystalTemplate, DifferentiableCrystals, DiscreteCrystal
from smoacs_core.graph import NeighborGraph, build_neighbor_graph
from smoacs_core.predictors.base import PropertyPredictor
from smoacs_core.relax.potentials import ase_calculator
from smoacs_core.relax.relax import RelaxConfig, relax_structures
from smoacs_core.restarts import best_of_restarts
from smoacs_core.schedules import projection_steps, rebuild_steps, temperature
from smoacs_core.stability import StabilityModel, load_stability_model
from smoacs_core.targets import tolerance_factor
from smoacs_core.vocabulary import ElementVocabulary


@dataclass(frozen=True)
class StepRecord:
    """What one step looked like (soft crystals, graphs as used in that step)."""

    step: int
    temperature: float
    loss: float
    finite_fraction: float
    graph_rebuilt: bool
    seconds: float
    relaxed: int
    """crystals whose geometry was replaced by its ML-relaxed one at this step (relaxation projection)"""
    mean_predictions: dict[str, float]
    soft_success: dict[str, float]
    stability: dict[str, float] = field(default_factory=dict)
    """mean over finite crystals of the stability term's parts: ``force`` (mean |F| per atom, eV/A),
    ``stress`` (GPa), ``energy`` (eV/atom above the element references); empty without the term"""


@dataclass
class OptimizationResult:
    """Final discrete crystals and the optimization history."""

    templates: list[CrystalTemplate]
    crystals: list[DiscreteCrystal]
    history: list[StepRecord] = field(default_factory=list)
    seconds: float = 0.0
    graph_seconds: float = 0.0
    relax_seconds: float = 0.0
    chosen_restarts: list[int] = field(default_factory=list)
    """which start each returned crystal came from (with ``config.restarts`` > 1; the history covers all)"""


def build_vocabulary(predictors: Mapping[str, PropertyPredictor], config: OptimizationConfig) -> ElementVocabulary:
    """Elements every predictor knows, filtered by the configuration (radii required for perovskites)."""
    return ElementVocabulary.build(
        [p.supported_elements for p in predictors.values()],
        include=config.include_elements,
        exclude=config.exclude_elements,
        require_ionic_radius=config.tolerance is not None,
    )


def _check_predictors(predictors: Mapping[str, PropertyPredictor], config: OptimizationConfig) -> None:
    missing = sorted({t.predictor for t in config.targets} - set(predictors))
    if missing:
        raise KeyError(f"no predictor loaded for target(s) using {missing}")
    certain = [t.name for t in config.targets if t.spread_weight and not hasattr(predictors[t.predictor],
                                                                                  "forward_with_spread")]
    if certain:
        raise ValueError(f"targets {certain}: spread_weight needs a predictor with an uncertainty (a committee "
                         "such as 'committee-bandgap-pbe' or a trained 'dft-correction/<version>')")


def _predict_targets(
    predictors: Mapping[str, PropertyPredictor], config: OptimizationConfig, batch, graphs: Mapping[float, NeighborGraph]
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Each target's prediction, and the spread of the targets that weigh it, by target name."""
    predictions, spreads = {}, {}
    for target in config.targets:
        predictor = predictors[target.predictor]
        graph = graphs[predictor.cutoff]
        if target.spread_weight:
            predictions[target.name], spreads[target.name] = predictor.forward_with_spread(batch, graph)
        else:
            predictions[target.name] = predictor(batch, graph)
    return predictions, spreads


def _perovskite_tolerance(crystals: DifferentiableCrystals, site_radii: torch.Tensor) -> torch.Tensor:
    """(B,) tolerance factor from mean A, B and X radii per crystal (X averaged over its sites, paper A.7)."""
    roles = [role for template in crystals.templates for role in (template.site_roles or ())]
    if len(roles) != len(site_radii):
        raise ValueError("tolerance factor needs perovskite templates with site roles")
    by_role = {}
    for role in "ABX":
        selector = torch.tensor([r == role for r in roles], device=site_radii.device)
        index = crystals.site_crystal[selector]
        total = torch.zeros(crystals.num_crystals, dtype=site_radii.dtype, device=site_radii.device)
        count = torch.bincount(index, minlength=crystals.num_crystals).to(site_radii.dtype)
        by_role[role] = total.index_add(0, index, site_radii[selector]) / count
    return tolerance_factor(by_role["A"], by_role["B"], by_role["X"])


def optimize(
    templates: Sequence[CrystalTemplate],
    predictors: Mapping[str, PropertyPredictor],
    config: OptimizationConfig,
    vocabulary: ElementVocabulary | None = None,
    on_step: Callable[[StepRecord], None] | None = None,
    relax_calculator: Calculator | None = None,
    stability_model: StabilityModel | None = None,
) -> OptimizationResult:
    """Optimize ``templates`` toward ``config.targets``; returns one-hot, charge-neutral crystals, one per template.

    Args:
        templates: initial crystals with their oxidation patterns.
        predictors: frozen property models by name (every target's ``predictor`` must be present).
        config: steps, learning rates, temperatures, constraints, targets.
        vocabulary: elements to place; by default from the predictors and the configuration.
        on_step: called after every step (progress bars, live monitoring).
        relax_calculator: ASE calculator of the relaxation projection; by default ``config.relaxation``'s.
        stability_model: potential of the stability term; by default ``config.stability``'s (unused without
            the term).
    """
    _check_predictors(predictors, config)
    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    vocabulary = vocabulary or build_vocabulary(predictors, config)
    for predictor in predictors.values():
        predictor.to(device)
    starts = list(templates) * config.restarts
    crystals = DifferentiableCrystals(starts, vocabulary, config.constraints, device=device,
                                      initial_logit_std=config.initial_logit_std,
                                      shared_roles=("X",) if config.single_anion else ())
    rates = config.learning_rates
    groups = [
        {"params": [crystals.scaled_lengths, crystals.angles], "lr": rates.lattice},
        {"params": [crystals.frac_coords], "lr": rates.coords},
        {"params": [crystals.type_logits], "lr": rates.types},
        {"params": [crystals.pattern_logits], "lr": rates.pattern},
    ]
    groups = [
        {**g, "params": [p for p in g["params"] if p.requires_grad]} for g in groups
    ]
    adam = torch.optim.Adam([g for g in groups if g["params"]])
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(adam, T_max=config.steps)
    rebuild_at = set(rebuild_steps(config.steps, config.graph_rebuilds))
    project_at = set()
    if config.relaxation is not None:
        project_at = set(projection_steps(sorted(rebuild_at), config.relaxation.projections))
        relax_calculator = relax_calculator or ase_calculator(config.relaxation.potential, device=config.device)
    cutoffs = {p.cutoff for p in predictors.values()}
    if config.stability is None:
        stability_model = None
    else:
        if stability_model is None:
            stability_model = load_stability_model(config.stability.potential, device=config.device)
        stability_model.to(device)
        _check_potential_elements(stability_model, vocabulary)
        cutoffs.add(stability_model.cutoff)
    graphs: dict[float, NeighborGraph] = {}
    result = OptimizationResult(templates=list(templates), crystals=[])
    start = time.perf_counter()

    for step in range(config.steps):
        step_start = time.perf_counter()
        temp = temperature(step, config.steps, config.temperature_start, config.temperature_end)
        rebuilt = step == 0 or step in rebuild_at
        relaxed = 0
        if step in project_at:
            relax_start = time.perf_counter()
            relaxed = _project_on_relaxed(crystals, adam, temp, config, relax_calculator)
            result.relax_seconds += time.perf_counter() - relax_start
        if rebuilt:
            graph_start = time.perf_counter()
            with torch.no_grad():
                lattices, frac = crystals.lattices(), crystals.wrapped_frac_coords()
            graphs = {c: build_neighbor_graph(lattices, frac, crystals.site_crystal, c) for c in cutoffs}
            result.graph_seconds += time.perf_counter() - graph_start

        batch, per_pattern, site_weights = crystals.soft_batch(temp, config.straight_through)
        predictions, spreads = _predict_targets(predictors, config, batch, graphs)
        tolerance = None
        if config.tolerance is not None:
            tolerance = _perovskite_tolerance(crystals, crystals.expected_site_radii(per_pattern, site_weights))
        losses = config.loss(predictions, tolerance, spreads)
        stability_parts = {}
        if stability_model is not None:
            stability_graph = graphs[stability_model.cutoff]
            stability, stability_parts = stability_model.loss(batch, stability_graph, config.stability)
            losses = losses + stability
        finite = torch.isfinite(losses)
        total = torch.where(finite, losses, torch.zeros_like(losses)).sum()

        adam.zero_grad(set_to_none=False)
        total.backward()
        for parameter in crystals.parameters():
            if parameter.grad is not None:
                parameter.grad.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
        adam.step()
        schedule.step()
        crystals.project_()

        record = _record(
            step, temp, losses, finite, rebuilt, relaxed, step_start, predictions, config, stability_parts
        )
        result.history.append(record)
        if on_step is not None:
            on_step(record)

    result.crystals = crystals.discretize(config.temperature_end)
    if config.restarts > 1:
        result.crystals, result.chosen_restarts = best_of_restarts(result.crystals, templates, predictors, config)
    result.seconds = time.perf_counter() - start
    return result


def _project_on_relaxed(
    crystals: DifferentiableCrystals, adam: torch.optim.Adam, temp: float, config: OptimizationConfig,
    calculator: Calculator,
) -> int:
    """Relax the current crystals (discretized) and continue from their relaxed geometry.

    Crystals whose relaxation explodes or fails keep their geometry. Adam's moments of lattice and
    coordinates describe the old geometry's landscape, so they restart.
    """
    projection = config.relaxation
    relax = RelaxConfig(potential=projection.potential, fmax=projection.fmax, max_steps=projection.max_steps)
    discrete = crystals.discretize(temp)
    labels = [t.label for t in crystals.templates]
    results = relax_structures([d.structure for d in discrete], labels, calculator, relax)
    usable = [r.structure if r.status in ("converged", "not_converged") else None for r in results]
    changed = crystals.set_geometry_(usable)
    for parameter in (crystals.scaled_lengths, crystals.angles, crystals.frac_coords):
        adam.state.pop(parameter, None)
    return changed


def _check_potential_elements(model: StabilityModel, vocabulary: ElementVocabulary) -> None:
    unknown = sorted(set(vocabulary.symbols) - set(model.supported_elements))
    if unknown:
        raise ValueError(f"stability potential {model.identity} does not know {unknown}; exclude them")


def _record(
    step, temp, losses, finite, rebuilt, relaxed, step_start, predictions, config, stability_parts
) -> StepRecord:
    finite_count = int(finite.sum())
    losses = losses.detach()
    with torch.no_grad():
        means, rates = {}, {}
        for target in config.targets:
            values = predictions[target.name].detach().cpu().double().numpy()
            ok = torch.isfinite(predictions[target.name]).cpu().numpy()
            means[target.name] = float(values[ok].mean()) if ok.any() else float("nan")
            rates[target.name] = float(target.satisfied(values).mean())
        stability = {
            name: float(values.detach()[finite].mean()) if finite_count else float("nan")
            for name, values in stability_parts.items()
        }
    return StepRecord(
        step=step,
        temperature=temp,
        loss=float(losses[finite].mean()) if finite_count else float("nan"),
        finite_fraction=finite_count / len(losses),
        graph_rebuilt=rebuilt,
        relaxed=relaxed,
        seconds=time.perf_counter() - step_start,
        mean_predictions=means,
        soft_success=rates,
        stability=stability,
    )
