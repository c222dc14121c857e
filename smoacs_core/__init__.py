"""SMOACS: gradient-based crystal optimization through pretrained property models (no Prefect here)."""

__version__ = "0.1.0"
