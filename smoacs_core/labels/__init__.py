"""DFT labels: structures with the band gaps a DFT code computed for them, from runs or imported files."""

from smoacs_core.labels.label import DftLabel

__all__ = ["DftLabel"]
