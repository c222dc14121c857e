"""ML pre-relaxation of candidates (M3GNet by default, CHGNet as an alternative) and how much they drift."""
