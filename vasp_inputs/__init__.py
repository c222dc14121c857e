"""DFT input sets and job definitions: atomate2/VASP makers and the GPAW backend (see README.md)."""
