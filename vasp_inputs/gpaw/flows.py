"""Relaxation followed by the band gap of the relaxed structure, as one jobflow Flow."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobflow import Flow, Maker
from pymatgen.core import Structure

from vasp_inputs.gpaw.jobs import GpawBandGapMaker, GpawRelaxMaker
from vasp_inputs.gpaw.settings import GpawSettings


@dataclass
class GpawRelaxBandGapMaker(Maker):
    """GPAW relaxation, then SCF + band path (or dense mesh) on the relaxed structure.

    With ``settings.max_steps <= 1`` there is nothing to relax and the flow is the band-gap job alone, at the
    given geometry (e.g. a structure already relaxed with an ML potential).
    """

    name: str = "GPAW relax + band gap"
    settings: GpawSettings = field(default_factory=GpawSettings)

    def make(self, structure: Structure) -> Flow:
        gap_maker = GpawBandGapMaker(settings=self.settings)
        if self.settings.max_steps <= 1:
            gap = gap_maker.make(structure)
            return Flow([gap], output=gap.output, name=self.name)
        relax = GpawRelaxMaker(settings=self.settings).make(structure)
        gap = gap_maker.make(relax.output.structure)
        return Flow([relax, gap], output=gap.output, name=self.name)
