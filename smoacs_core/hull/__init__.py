"""Candidates against the convex hull: energy above hull and decomposition products (pymatgen PhaseDiagram).

Modules (import them directly; this package imports nothing, so the CLI starts fast):
``config`` (HullConfig), ``reference`` (HullReference, load_reference: local data, an entries file),
``entries`` (reading entry files and task documents, MP2020 corrections), ``mp_api`` (Materials Project
reference, optional ``mp-api``), ``placement`` (place_on_hull, HullResult), ``report`` (hull_table,
rank_candidates, plot_system, write_hull), ``cli`` (``smoacs hull``). See docs/hull.md.
"""
