"""Prefect flows of the discovery pipeline (import flows.discovery for the flow itself)."""
