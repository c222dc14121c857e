"""Known crystals from real data sets: sources, sampling of initial structures, and writing samples.

Modules (import them directly; this package imports nothing, so the CLI starts fast):
``entries`` (ReferenceEntry, SkippedEntry, SourceRecord), ``sources`` (MegnetJsonSource, Mp20CsvSource,
Perov5CsvSource, DirectorySource, PerovskiteTemplateSource), ``sampling`` (SamplingConfig, sample_structures),
``output`` (write_sample), ``cli`` (``smoacs sample``). The reference set for novelty and the convex hull is
``smoacs_core.reference.ReferenceSet``.
"""
