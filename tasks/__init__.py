"""Prefect tasks: thin, cached wrappers around smoacs_core, each writing to the results store."""
