"""Loading matgl checkpoints trained before matgl 3.0 so that they reproduce their published numbers.

The MEGNet/M3GNet checkpoints of the MP-2018/2019/2021 era were trained with edge messages aggregated onto
each edge's *destination* atom (the old DGL backend); matgl >= 3.0 aggregates onto the *source* atom, and
loads such weights silently wrong (cubic SrTiO3: -2.997 instead of -3.548 eV/atom). Three differences are
handled here, without patching any matgl class globally:

1. their pickled ``Normalizer``/``LogTransformer`` target transforms are allow-listed for ``torch.load``
   only while loading;
2. state keys of the old Set2Set readout (``readout.set2set.lstm.*``) are renamed to the current ones;
3. each MEGNet/M3GNet graph convolution is replaced by a subclass whose node update aggregates onto the
   destination atom, sharing the loaded parameters.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import torch
from matgl.data.transformer import LogTransformer, Normalizer
from matgl.layers._graph_convolution import M3GNetBlock, M3GNetGraphConv, MEGNetBlock, MEGNetGraphConv
from matgl.utils.io import _resolve_module
from matgl.utils.maths import scatter_add, scatter_mean
from torch import nn

CHECKPOINT_FILES = ("model.json", "model.pt", "state.pt")
_STATE_KEY_RENAMES = (("readout.set2set.lstm.", "readout.lstm."),)


class LegacyMEGNetGraphConv(MEGNetGraphConv):
    """MEGNet graph convolution with the pre-3.0 node update (mean of edges onto their destination)."""

    def node_update_(self, edge_index, edge_feat, node_feat, u_per_node, num_nodes):  # type: ignore[override]
        incoming = scatter_mean(edge_feat, edge_index[1], dim_size=num_nodes, dim=0)
        return self.node_func(torch.hstack([node_feat, incoming, u_per_node]))


class LegacyM3GNetGraphConv(M3GNetGraphConv):
    """M3GNet graph convolution with the pre-3.0 node update (sum of messages onto their destination)."""

    def node_update_(self, edge_index, edge_feat, node_feat, rbf, u_per_edge, num_nodes):  # type: ignore[override]
        src, dst = edge_index[0], edge_index[1]
        parts = [node_feat[src], node_feat[dst], edge_feat]
        if self.include_state:
            parts.append(u_per_edge)
        messages = self.node_update_func(torch.hstack(parts)) * self.node_weight_func(rbf)
        return scatter_add(messages, dst, dim_size=num_nodes, dim=0)


def use_destination_aggregation(model: nn.Module) -> nn.Module:
    """Swap every MEGNet/M3GNet convolution of ``model`` for its legacy subclass (same parameters)."""
    swapped = 0
    for module in list(model.modules()):
        if isinstance(module, MEGNetBlock) and type(module.conv) is MEGNetGraphConv:
            old = module.conv
            module.conv = LegacyMEGNetGraphConv(old.edge_func, old.node_func, old.state_func)
            swapped += 1
        elif isinstance(module, M3GNetBlock) and type(module.conv) is M3GNetGraphConv:
            old = module.conv
            module.conv = LegacyM3GNetGraphConv(
                old.include_state,
                old.edge_update_func,
                old.edge_weight_func,
                old.node_update_func,
                old.node_weight_func,
                old.state_update_func,
            )
            swapped += 1
    if not swapped:
        raise ValueError(f"{type(model).__name__} has no MEGNet/M3GNet graph convolution to convert")
    return model


def _class(module_name: str, class_name: str) -> type:
    return getattr(importlib.import_module(_resolve_module(module_name)), class_name)


def _instantiate(value: Any) -> Any:
    if isinstance(value, dict) and "@class" in value and "@module" in value:
        return _class(value["@module"], value["@class"])(**value["init_args"])
    return value


def load_legacy_checkpoint(path: Path) -> nn.Module:
    """Rebuild a pre-3.0 matgl model from ``path/{model.json, model.pt, state.pt}``, in eval mode on the CPU."""
    path = Path(path)
    missing = [name for name in CHECKPOINT_FILES if not (path / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{path}: not a matgl checkpoint directory (missing {', '.join(missing)})")
    meta = json.loads((path / "model.json").read_text())
    with torch.serialization.safe_globals([Normalizer, LogTransformer]):
        init_args = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
        state = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
    kwargs = {key: _instantiate(value) for key, value in init_args.items() if not key.startswith("@")}
    model = _class(meta["@module"], meta["@class"])(**kwargs)
    for old, new in _STATE_KEY_RENAMES:
        state = {key.replace(old, new): value for key, value in state.items()}
    result = model.load_state_dict(state, strict=False)
    parameters = {name for name, _ in model.named_parameters()}
    missing_parameters = [key for key in result.missing_keys if key in parameters]
    unexpected = [key for key in result.unexpected_keys if not key.endswith(".onehot")]
    if missing_parameters or unexpected:
        raise ValueError(
            f"{path}: checkpoint does not match {meta['@class']} "
            f"(missing {missing_parameters[:5]}, unexpected {unexpected[:5]})"
        )
    use_destination_aggregation(model)
    return model.eval()
