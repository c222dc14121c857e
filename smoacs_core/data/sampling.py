"""Choosing initial structures from a source: the paper's filters, de-duplication and a seeded random draw.

Every entry read ends in exactly one place: skipped as unusable (with its reason), removed by one filter (the
first that rejects it, in the order below), or eligible; ``n`` of the eligible ones are then drawn. The
report's counts therefore add up to the number of entries read.

Order, cheapest first, so that most of the 69k MEGNet entries are never parsed:

1. unusable entries: rows the source could not use; elements the property models cannot embed;
2. ``max_sites`` (paper: 10), ``elements`` (include/exclude), property windows, ``charge_neutral`` (some
   choice of allowed oxidation numbers per site sums to zero, paper A.9), ``oxidation_pattern`` (at least one
   pattern SMOACS can fill, A.11) -- all judged on the composition, taken from the CIF header where trusted;
3. parsing (unreadable or partially occupied structures are skipped), then the same checks on the parsed
   composition when the header could not be trusted or disagrees;
4. ``duplicate``: StructureMatcher within each reduced formula, keeping the first in source order.

An entry removed by a cheap filter is never parsed, so a broken CIF among them counts under that filter.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pymatgen.core import Composition, Element, Structure

from smoacs_core.data.entries import EntryError, ReferenceEntry, SkipCategory, SkippedEntry, SourceRecord
from smoacs_core.data.sources import (
    DirectorySource,
    MegnetJsonSource,
    Mp20CsvSource,
    Perov5CsvSource,
    PerovskiteTemplateSource,
    StructureSource,
)
from smoacs_core.duplicates import find_duplicates
from smoacs_core.oxidation import is_charge_neutral, oxidation_patterns
from smoacs_core.settings import SmoacsSettings
from smoacs_core.vocabulary import ElementVocabulary

Source = Annotated[
    MegnetJsonSource | Mp20CsvSource | Perov5CsvSource | DirectorySource | PerovskiteTemplateSource,
    Field(discriminator="kind"),
]
PropertyName = Literal["formation_energy_per_atom", "band_gap"]
FILTERS = (
    "max_sites",
    "elements",
    "formation_energy_per_atom",
    "band_gap",
    "charge_neutral",
    "oxidation_pattern",
    "duplicate",
)
SKIP_CATEGORIES: tuple[SkipCategory, ...] = (
    "unreadable",
    "disordered",
    "missing_property",
    "unsupported_element",
)


class PropertyWindow(BaseModel):
    """Accepted values of one property, bounds inclusive; a missing bound is open."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _check(self) -> PropertyWindow:
        if self.min is None and self.max is None:
            raise ValueError("a property window needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"property window min {self.min} is above max {self.max}")
        return self

    def contains(self, value: float | None) -> bool:
        return (
            value is not None
            and (self.min is None or value >= self.min)
            and (self.max is None or value <= self.max)
        )


class SamplingConfig(BaseModel):
    """Which source to read and which of its structures may start an optimization.

    For perovskite template sources, ``max_sites`` and ``deduplicate`` default to off (supercells exceed 10
    sites, and random templates share a formula by construction); set them explicitly to apply them.
    """

    model_config = ConfigDict(extra="forbid")

    source: Source = Field(
        default_factory=MegnetJsonSource,
        description="Where structures come from (default: MEGNet, as the paper).",
    )
    max_sites: int | None = Field(
        default=10, ge=1, description="Most sites per cell (paper: 10); None for no limit."
    )
    include_elements: list[str] | None = Field(
        default=None, description="If set, every element of a structure must be in this list."
    )
    exclude_elements: list[str] = Field(
        default=[], description="Structures holding any of these are removed."
    )
    property_windows: dict[PropertyName, PropertyWindow] = Field(
        default={}, description="Accepted ranges of the source's reference properties (eV/atom, eV)."
    )
    require_neutral: bool = Field(
        default=True, description="Remove compositions that cannot be charge neutral."
    )
    require_pattern: bool = Field(
        default=True, description="Remove compositions with no oxidation pattern the optimizer can fill."
    )
    deduplicate: bool = Field(default=True, description="Keep one of each set of matching structures.")
    n: int | None = Field(
        default=None, ge=1, description="Structures to draw at random; None for all eligible."
    )
    seed: int = Field(default=0, description="Seed of the random draw.")

    @field_validator("include_elements", "exclude_elements")
    @classmethod
    def _known_symbols(cls, symbols: list[str] | None) -> list[str] | None:
        unknown = [s for s in symbols or () if not Element.is_valid_symbol(s)]
        if unknown:
            raise ValueError(f"unknown element symbols {unknown}")
        return symbols

    @model_validator(mode="after")
    def _source_fits(self) -> SamplingConfig:
        missing = [name for name in self.property_windows if name not in self.source.provides]
        if missing:
            raise ValueError(
                f"property window on {missing}: the {self.source.kind} source has no such property"
            )
        if isinstance(self.source, PerovskiteTemplateSource):
            if "max_sites" not in self.model_fields_set:
                self.max_sites = None
            if "deduplicate" not in self.model_fields_set:
                self.deduplicate = False
        return self


class FilterReport(BaseModel):
    """What happened to every entry read: skipped (by category), removed (by filter), eligible, chosen."""

    source: str
    files: list[str]
    read: int = 0
    skipped: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(SKIP_CATEGORIES, 0))
    removed: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(FILTERS, 0))
    eligible: int = 0
    chosen: int = 0
    skipped_entries: list[SkippedEntry] = []
    seconds: float = 0.0

    def skip(self, entry: SkippedEntry) -> None:
        self.skipped[entry.category] += 1
        self.skipped_entries.append(entry)


class SampleResult(BaseModel):
    """The chosen entries, the configuration that chose them and the filter report."""

    config: SamplingConfig
    report: FilterReport
    entries: list[ReferenceEntry]

    @property
    def structures(self) -> list[Structure]:
        return [entry.structure for entry in self.entries]


def model_elements() -> tuple[str, ...]:
    """The 89 elements matgl's pretrained models embed (no Po-Ra, nothing beyond Pu), loading no model."""
    from matgl.config import DEFAULT_ELEMENTS  # imports torch: only when no element list is given

    return tuple(DEFAULT_ELEMENTS)


class _Screen:
    """The composition-level checks of one configuration: returns why an entry goes, or None if it stays."""

    def __init__(
        self, config: SamplingConfig, supported: Collection[str], vocabulary: ElementVocabulary
    ) -> None:
        self.config = config
        self.supported = set(supported)
        self.include = set(config.include_elements) if config.include_elements is not None else None
        self.exclude = set(config.exclude_elements)
        self.realizable = vocabulary.realizable_states()

    def __call__(self, composition: Composition, record: SourceRecord) -> EntryError | str | None:
        """An ``EntryError`` for unusable entries, a filter name for removed ones, None for kept ones."""
        config = self.config
        elements = {element.symbol for element in composition.element_composition}
        unsupported = sorted(elements - self.supported)
        if unsupported:
            return EntryError(
                "unsupported_element",
                f"{', '.join(unsupported)} not among the {len(self.supported)} elements "
                "the property models embed",
            )
        if config.max_sites is not None and composition.num_atoms > config.max_sites:
            return "max_sites"
        if (self.include is not None and not elements <= self.include) or elements & self.exclude:
            return "elements"
        for name, window in config.property_windows.items():
            if not window.contains(getattr(record, name)):
                return name
        symbols = _site_symbols(composition)
        if config.require_neutral and not is_charge_neutral(symbols):
            return "charge_neutral"
        if config.require_pattern:
            try:
                oxidation_patterns(symbols, max_patterns=1, realizable=self.realizable)
            except ValueError:
                return "oxidation_pattern"
        return None


def _site_symbols(composition: Composition) -> list[str]:
    return [
        element.symbol
        for element, amount in composition.element_composition.items()
        for _ in range(round(amount))
    ]


def sample_structures(
    config: SamplingConfig,
    settings: SmoacsSettings | None = None,
    vocabulary: ElementVocabulary | None = None,
    supported_elements: Collection[str] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> SampleResult:
    """Read ``config.source``, apply the filters, de-duplicate and draw ``config.n`` structures.

    Args:
        vocabulary: the optimizer's elements; a pattern must use only oxidation numbers some element of it can
            take. Default: every supported element.
        supported_elements: elements the property models embed; default: matgl's 89.
        on_progress: called with the number of entries read so far, after each entry.

    Raises:
        FileNotFoundError, ValueError, ConnectionError: the source itself cannot be read (naming it).
    """
    start = time.perf_counter()
    settings = settings or SmoacsSettings()
    supported = tuple(supported_elements) if supported_elements is not None else model_elements()
    vocabulary = vocabulary or ElementVocabulary.build([supported])
    screen = _Screen(config, supported, vocabulary)
    source: StructureSource = config.source
    report = FilterReport(source=source.kind, files=[str(f) for f in source.files(settings)])
    eligible: list[ReferenceEntry] = []
    for item in source.iter_records(settings):
        report.read += 1
        entry = _screened_entry(item, screen, report)
        if entry is not None:
            eligible.append(entry)
        if on_progress is not None:
            on_progress(report.read)
    if config.deduplicate:
        eligible = _deduplicate(eligible, report)
    report.eligible = len(eligible)
    chosen = _draw(eligible, config.n, config.seed)
    report.chosen = len(chosen)
    report.seconds = time.perf_counter() - start
    return SampleResult(config=config, report=report, entries=chosen)


def _screened_entry(
    item: SourceRecord | SkippedEntry, screen: _Screen, report: FilterReport
) -> ReferenceEntry | None:
    """The parsed entry if it passes every check; otherwise records where it went and returns None."""
    if isinstance(item, SkippedEntry):
        report.skip(item)
        return None

    def rejected(composition: Composition) -> bool:
        verdict = screen(composition, item)
        if isinstance(verdict, EntryError):
            report.skip(item.skipped(verdict))
        elif verdict is not None:
            report.removed[verdict] += 1
        return verdict is not None

    if item.composition is not None and rejected(item.composition):
        return None
    try:
        entry = item.load()
    except EntryError as error:
        report.skip(item.skipped(error))
        return None
    parsed = entry.structure.composition
    if (item.composition is None or parsed != item.composition) and rejected(parsed):
        return None
    return entry


def _deduplicate(entries: Sequence[ReferenceEntry], report: FilterReport) -> list[ReferenceEntry]:
    """The first entry of each set of matching structures (``duplicates.find_duplicates``), in source order."""
    duplicate_of = find_duplicates([(str(n), entry.structure) for n, entry in enumerate(entries)])
    kept = [entry for n, entry in enumerate(entries) if duplicate_of[str(n)] is None]
    report.removed["duplicate"] += len(entries) - len(kept)
    return kept


def _draw(entries: Sequence[ReferenceEntry], n: int | None, seed: int) -> list[ReferenceEntry]:
    """``n`` entries drawn without replacement, kept in source order; all if ``n`` is None or larger."""
    if n is None or n >= len(entries):
        return list(entries)
    chosen = np.sort(np.random.default_rng(seed).choice(len(entries), size=n, replace=False))
    return [entries[i] for i in chosen]
