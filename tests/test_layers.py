"""The layer rules of docs/architecture.md, read from the code's own imports.

smoacs_core (the science) imports no Prefect, no command line and none of the packages above it; vasp_inputs
(DFT) no Prefect and nothing above it; tasks nothing above them; flows no command line; nothing imports the
command line. A change that breaks a rule fails here with the file and the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "smoacs_core": {"prefect", "prefect_dask", "typer", "flows", "tasks", "vasp_inputs", "smoacs_cli"},
    "vasp_inputs": {"prefect", "prefect_dask", "typer", "flows", "tasks", "smoacs_cli"},
    "tasks": {"typer", "flows", "smoacs_cli"},
    "flows": {"typer", "smoacs_cli"},
    "benchmarks": {"smoacs_cli"},
}


def imported_packages(path: Path) -> set[str]:
    """Top-level packages a file imports, wherever the import stands (module level or inside a function)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_nothing_above_it(package):
    violations = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in sorted((REPO / package).rglob("*.py"))
        for name in sorted(imported_packages(path) & FORBIDDEN[package])
    ]
    assert not violations, "\n".join(violations)


def test_the_rule_reader_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("import os\n\ndef f():\n    from prefect import flow\n    import flows.config\n")
    assert imported_packages(module) == {"os", "prefect", "flows"}
