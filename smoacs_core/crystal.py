"""The learnable crystal of SMOACS (paper eq. 1-10): lattice, coordinates, atom-type and pattern logits.

A batch of B crystals with N sites in total holds

* lattice lengths (B, 3), stored divided by ``LENGTH_SCALE`` so that one learning rate suits lengths and
  fractional coordinates alike (as in the authors' code), and angles (B, 3) in radians;
* fractional coordinates (N, 3);
* atom-type logits A (N, K) over an :class:`ElementVocabulary`, one row per site, or one row shared by all
  sites of a crystal with the same role in ``shared_roles`` (e.g. a single anion on every X site);
* oxidation-pattern logits o (B, D_max), padded for crystals with fewer patterns.

The atom distribution is softmax_T( sum_d softmax_T(M(S_d) * A) softmax_T(o)_d ) (eq. 9), with masks applied
as -inf logits and the outer softmax restricted to elements that at least one of the crystal's patterns
allows. Discretization picks the most probable pattern, then at every site the most probable element that
this pattern allows, so every result is charge neutral by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pymatgen.core import Lattice, Species, Structure
from torch import nn

from smoacs_core.batch import CrystalBatch
from smoacs_core.config import GeometryConstraints
from smoacs_core.lattice import lattice_matrix
from smoacs_core.vocabulary import ElementVocabulary

LENGTH_SCALE = 10.0
_MASKED_LOGIT = -1e9


@dataclass(frozen=True)
class CrystalTemplate:
    """An initial crystal: geometry, the oxidation patterns its sites may follow, and where it came from.

    Attributes:
        structure: initial lattice and coordinates (its species are not used: types start uniform).
        patterns: D tuples of one oxidation number per site.
        label: provenance, e.g. ``"perovskite-template-3"`` or a file name.
        ideal_frac_coords: (N, 3) reference positions when coordinates are confined around them.
        site_roles: perovskite site roles ("A", "B", "X") for the tolerance factor, else None.
    """

    structure: Structure
    patterns: tuple[tuple[int, ...], ...]
    label: str
    ideal_frac_coords: np.ndarray | None = None
    site_roles: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not self.patterns:
            raise ValueError(f"{self.label}: no oxidation pattern")
        wrong = [p for p in self.patterns if len(p) != len(self.structure)]
        if wrong:
            raise ValueError(f"{self.label}: pattern {wrong[0]} does not have one number per site")


@dataclass(frozen=True)
class DiscreteCrystal:
    """A final, one-hot crystal."""

    structure: Structure
    pattern_index: int
    oxidation_states: tuple[int, ...]
    agrees_with_soft_argmax: bool
    """Whether the pattern-constrained choice equals the plain argmax of the soft distribution everywhere."""


class DifferentiableCrystals(nn.Module):
    """B crystals as learnable tensors; see the module docstring."""

    def __init__(
        self,
        templates: Sequence[CrystalTemplate],
        vocabulary: ElementVocabulary,
        constraints: GeometryConstraints,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        initial_logit_std: float = 0.0,
        shared_roles: Sequence[str] = (),
    ):
        """``shared_roles``: site roles (template ``site_roles``, e.g. "X") whose sites share one row of type
        logits per crystal, so they always hold the same element."""
        super().__init__()
        if not templates:
            raise ValueError("no initial crystals to optimize")
        self.templates = list(templates)
        self.vocabulary = vocabulary
        self.constraints = constraints
        self._validate_patterns()
        lattices = [t.structure.lattice for t in templates]
        lengths = torch.tensor([lat.abc for lat in lattices], dtype=dtype)
        angles = torch.tensor([lat.angles for lat in lattices], dtype=dtype)
        if not (torch.isfinite(lengths).all() and torch.isfinite(angles).all()):
            bad = next(t.label for t, lat in zip(templates, lattices) if not np.isfinite(lat.parameters).all())
            raise ValueError(f"{bad}: lattice parameters are not finite")
        frac = torch.tensor(np.concatenate([t.structure.frac_coords for t in templates]), dtype=dtype)
        sizes = [len(t.structure) for t in templates]
        num_sites, num_elements = sum(sizes), len(vocabulary.symbols)
        max_patterns = max(len(t.patterns) for t in templates)

        self.scaled_lengths = nn.Parameter(lengths / LENGTH_SCALE)
        self.angles = nn.Parameter(torch.deg2rad(angles), requires_grad=constraints.optimize_angles)
        self.frac_coords = nn.Parameter(frac)
        logit_rows = self._logit_rows(shared_roles)
        self.type_logits = nn.Parameter(torch.zeros((int(logit_rows.max()) + 1, num_elements), dtype=dtype))
        self.pattern_logits = nn.Parameter(torch.zeros((len(templates), max_patterns), dtype=dtype))
        if initial_logit_std > 0:  # random starts (torch's seeded generator); 0 leaves the generator untouched
            with torch.no_grad():
                self.type_logits.normal_(0.0, initial_logit_std)
                self.pattern_logits.normal_(0.0, initial_logit_std)

        site_crystal = torch.repeat_interleave(torch.arange(len(templates)), torch.tensor(sizes))
        pattern_valid = torch.zeros((len(templates), max_patterns), dtype=torch.bool)
        # masks[i, d, k]: element k allowed at site i under pattern d; padded patterns allow everything
        masks = np.ones((num_sites, max_patterns, num_elements), dtype=bool)
        states = np.zeros((num_sites, max_patterns), dtype=np.int64)
        radii = np.zeros((num_sites, max_patterns, num_elements))
        start = 0
        for crystal, template in enumerate(templates):
            stop = start + len(template.structure)
            for d, pattern in enumerate(template.patterns):
                pattern_valid[crystal, d] = True
                states[start:stop, d] = pattern
                masks[start:stop, d] = np.stack([vocabulary.mask(s) for s in pattern])
                if vocabulary.require_ionic_radius:
                    radii[start:stop, d] = np.stack([vocabulary.radii(s) for s in pattern])
            start = stop
        self.register_buffer("site_crystal", site_crystal)
        self.register_buffer("site_logit_row", logit_rows)
        self.register_buffer("pattern_valid", pattern_valid)
        self.register_buffer("masks", torch.from_numpy(masks))
        self.register_buffer("site_states", torch.from_numpy(states))
        self.register_buffer("site_radii", torch.from_numpy(radii).to(dtype))
        ideal = [
            t.ideal_frac_coords if t.ideal_frac_coords is not None else t.structure.frac_coords for t in templates
        ]
        self.register_buffer("ideal_frac_coords", torch.tensor(np.concatenate(ideal), dtype=dtype))
        self.to(device)
        self.project_()

    def _validate_patterns(self) -> None:
        realizable = self.vocabulary.realizable_states()
        for template in self.templates:
            for pattern in template.patterns:
                impossible = sorted(set(pattern) - realizable)
                if impossible:
                    raise ValueError(
                        f"{template.label}: no allowed element can take oxidation number(s) {impossible} "
                        f"(pattern {pattern})"
                    )

    def _logit_rows(self, shared_roles: Sequence[str]) -> torch.Tensor:
        """(N,) row of ``type_logits`` each site reads: its own, or its crystal's row for a shared role.

        Sites that share a row must take the same oxidation number in every pattern, or one element could not
        fill them all."""
        rows: list[int] = []
        next_row = 0
        for template in self.templates:
            roles = template.site_roles
            if shared_roles and roles is None:
                raise ValueError(f"{template.label}: sharing the types of {list(shared_roles)} sites needs site roles")
            shared: dict[str, tuple[int, int]] = {}  # shared role -> (its row, the crystal's first site of it)
            for site in range(len(template.structure)):
                role = roles[site] if roles is not None else None
                if role in shared:
                    row, first = shared[role]
                    if any(pattern[site] != pattern[first] for pattern in template.patterns):
                        raise ValueError(f"{template.label}: its {role} sites take different oxidation numbers in "
                                         "a pattern, so one element cannot fill them")
                    rows.append(row)
                    continue
                if role in shared_roles:
                    shared[role] = (next_row, site)
                rows.append(next_row)
                next_row += 1
        return torch.tensor(rows)

    @property
    def num_crystals(self) -> int:
        return len(self.templates)

    def lengths(self) -> torch.Tensor:
        return self.scaled_lengths * LENGTH_SCALE

    def angles_deg(self) -> torch.Tensor:
        return torch.rad2deg(self.angles)

    def lattices(self) -> torch.Tensor:
        return lattice_matrix(self.lengths(), self.angles_deg())

    def wrapped_frac_coords(self) -> torch.Tensor:
        """Coordinates in [0, 1) with the shift detached, so gradients pass unchanged (wrapping is a translation)."""
        return self.frac_coords - torch.floor(self.frac_coords).detach()

    def pattern_weights(self, temperature: float) -> torch.Tensor:
        """softmax_T(o): (B, D_max), zero on padded patterns."""
        logits = (self.pattern_logits / temperature).masked_fill(~self.pattern_valid, _MASKED_LOGIT)
        return torch.softmax(logits, dim=-1)

    def pattern_distributions(self, temperature: float) -> torch.Tensor:
        """softmax_T(M(S_d) * A) for every pattern: (N, D_max, K)."""
        logits = (self.type_logits[self.site_logit_row] / temperature).unsqueeze(1).expand_as(self.masks)
        return torch.softmax(logits.masked_fill(~self.masks, _MASKED_LOGIT), dim=-1)

    def atom_distribution(self, temperature: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(atom distribution (N, K), per-pattern distributions (N, D, K), pattern weights per site (N, D))."""
        per_pattern = self.pattern_distributions(temperature)
        site_weights = self.pattern_weights(temperature)[self.site_crystal]
        mixed = torch.einsum("ndk,nd->nk", per_pattern, site_weights)
        allowed_any = (self.masks & self.pattern_valid[self.site_crystal].unsqueeze(-1)).any(dim=1)
        outer = torch.softmax((mixed / temperature).masked_fill(~allowed_any, _MASKED_LOGIT), dim=-1)
        return outer, per_pattern, site_weights

    def soft_batch(
        self, temperature: float, straight_through: bool = False
    ) -> tuple[CrystalBatch, torch.Tensor, torch.Tensor]:
        """The current soft crystals, plus per-pattern distributions and site pattern weights (for radii).

        ``straight_through``: the batch carries the one-hot types ``discretize`` would output, with the soft
        distribution's gradient (straight-through estimator), so the predictors judge the crystal the run
        will return, not a mixture of elements that no discrete choice reproduces.
        """
        types, per_pattern, site_weights = self.atom_distribution(temperature)
        if straight_through:
            _, chosen = self._discrete_choice(types.detach(), temperature)
            one_hot = torch.nn.functional.one_hot(chosen, types.shape[-1]).to(types.dtype)
            types = one_hot + types - types.detach()
        batch = CrystalBatch(
            lattices=self.lattices(),
            frac_coords=self.wrapped_frac_coords(),
            site_crystal=self.site_crystal,
            type_probs=types,
            vocabulary=self.vocabulary.symbols,
        )
        return batch, per_pattern, site_weights

    def _discrete_choice(self, types: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,) most probable pattern of each crystal and (N,) element index: per site the most probable
        element that pattern allows."""
        chosen_pattern = self.pattern_weights(temperature).argmax(dim=-1)
        sites = torch.arange(len(self.site_crystal), device=types.device)
        allowed = self.masks[sites, chosen_pattern[self.site_crystal]]
        return chosen_pattern, types.masked_fill(~allowed, -1.0).argmax(dim=-1)

    def expected_site_radii(self, per_pattern: torch.Tensor, site_weights: torch.Tensor) -> torch.Tensor:
        """(N,) ionic radius at each site, averaged over elements and patterns with their probabilities."""
        return torch.einsum("ndk,ndk,nd->n", per_pattern, self.site_radii, site_weights)

    @torch.no_grad()
    def project_(self) -> None:
        """Clip lattice and coordinates back into their allowed boxes (after each optimizer step)."""
        for parameter in self.parameters():
            parameter.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
        low, high = self.constraints.length_range
        self.scaled_lengths.clamp_(low / LENGTH_SCALE, high / LENGTH_SCALE)
        if self.constraints.optimize_angles:
            low, high = self.constraints.angle_range
            self.angles.clamp_(np.deg2rad(low), np.deg2rad(high))
        if self.constraints.coord_tolerance is not None:
            eps = self.constraints.coord_tolerance
            offset = self.frac_coords - self.ideal_frac_coords
            offset -= torch.round(offset)
            self.frac_coords.copy_(self.ideal_frac_coords + offset.clamp(-eps, eps))

    @torch.no_grad()
    def set_geometry_(self, structures: Sequence[Structure | None]) -> int:
        """Replace lattices and coordinates by those of ``structures`` (None keeps a crystal as it is), then
        project into the constraint boxes; returns how many crystals changed. Site order must be the
        crystals' own (as ``discretize`` gives and relaxation keeps)."""
        changed = 0
        for crystal, structure in enumerate(structures):
            if structure is None:
                continue
            index = (self.site_crystal == crystal).nonzero().flatten()
            if len(structure) != len(index):
                raise ValueError(f"{self.templates[crystal].label}: {len(structure)} sites, expected {len(index)}")
            lattice = torch.tensor(structure.lattice.abc, dtype=self.scaled_lengths.dtype)
            self.scaled_lengths[crystal] = lattice.to(self.scaled_lengths.device) / LENGTH_SCALE
            if self.constraints.optimize_angles:
                angles = torch.deg2rad(torch.tensor(structure.lattice.angles, dtype=self.angles.dtype))
                self.angles[crystal] = angles.to(self.angles.device)
            frac = torch.tensor(structure.frac_coords, dtype=self.frac_coords.dtype, device=self.frac_coords.device)
            self.frac_coords[index] = frac
            changed += 1
        self.project_()
        return changed

    @torch.no_grad()
    def discretize(self, temperature: float) -> list[DiscreteCrystal]:
        """One-hot crystals: the most probable pattern, then per site the most probable element it allows."""
        types, per_pattern, _ = self.atom_distribution(temperature)
        chosen_pattern, constrained = self._discrete_choice(types, temperature)
        agrees = constrained == types.argmax(dim=-1)
        sites = torch.arange(len(self.site_crystal), device=types.device)
        site_pattern = chosen_pattern[self.site_crystal]
        lengths = self.lengths().cpu().double().numpy()
        angles = self.angles_deg().cpu().double().numpy()
        frac = self.wrapped_frac_coords().cpu().double().numpy()
        states = self.site_states[sites, site_pattern].cpu().numpy()
        elements = constrained.cpu().numpy()
        results = []
        for crystal in range(self.num_crystals):
            index = (self.site_crystal == crystal).nonzero().flatten().cpu().numpy()
            lattice = Lattice(lattice_matrix(torch.tensor(lengths[crystal]), torch.tensor(angles[crystal])).numpy())
            site_states = tuple(int(s) for s in states[index])
            species = [Species(self.vocabulary.symbols[k], s) for k, s in zip(elements[index], site_states)]
            results.append(
                DiscreteCrystal(
                    structure=Structure(lattice, species, frac[index]),
                    pattern_index=int(chosen_pattern[crystal]),
                    oxidation_states=site_states,
                    agrees_with_soft_argmax=bool(agrees[index].all()),
                )
            )
        return results
