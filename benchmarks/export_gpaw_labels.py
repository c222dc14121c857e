"""The GPAW-checked candidates of the variant benchmark as a labels file that ``smoacs labels import`` reads.

Each distinct structure that GPAW finished in ``benchmarks/results/variants.json`` (the top 8 per variant and
target of ``bench_variants.py``; structures from ``results/variant_candidates/``, the M3GNet-relaxed geometry
GPAW computed the gap at, ``max_steps`` 0) becomes one label: its GPAW-PBE gap, the GPAW settings of that
benchmark (``results/gpaw.json`` with the variant check's ``max_steps``), and as ``group`` the check it came from
("<variant>-<target>"), so cross-validation can leave whole checks out. A structure checked by several variants
(same formula and gap to 0.01 eV) is one label, in the first check that computed it.

Usage: ``python benchmarks/export_gpaw_labels.py``; writes ``benchmarks/results/gpaw_labels.json``.
"""

from __future__ import annotations

import json

from bench_second_opinion import gpaw_checked
from bench_variants import RESULTS


def main() -> None:
    benchmark = json.loads((RESULTS / "variants.json").read_text())
    gpaw = json.loads((RESULTS / "gpaw.json").read_text())
    steps = {result["gpaw"]["gpaw_max_steps"] for targets in benchmark["variants"].values()
             for result in targets.values() if "gpaw" in result}
    if len(steps) != 1:
        raise SystemExit(f"the variant checks used different GPAW max_steps {steps}: settings differ per check")
    labels, seen = [], set()
    for row in gpaw_checked(benchmark["variants"], benchmark["margin"]):
        key = (row["formula"], round(row["gpaw_gap"], 2))
        if key in seen:
            continue
        seen.add(key)
        labels.append({"name": row["candidate"], "group": f"{row['variant']}-{row['target']:g}",
                       "band_gap": row["gpaw_gap"], "structure": row["structure"]})
    document = {"code": "GPAW", "functional": "PBE", "settings": {**gpaw["settings"], "max_steps": steps.pop(),
                                                                  "gpaw": gpaw["gpaw"]}, "labels": labels}
    (RESULTS / "gpaw_labels.json").write_text(json.dumps(document))
    print(f"{len(labels)} labels in {len({label['group'] for label in labels})} checks -> {RESULTS / 'gpaw_labels.json'}")


if __name__ == "__main__":
    main()
