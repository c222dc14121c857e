"""The legacy Keras MEGNet models (megnet's ``mvl_models/``) rebuilt as matgl ``MEGNet`` networks, weights and all.

The six multi-fidelity band-gap models of Chen et al. (Nature Computational Science 2021) and the MP-2018.6.1
band-gap, metal-classifier and formation-energy models exist only as Keras HDF5 files (weights and layer graph)
plus a JSON file (graph converter, target scaler, metadata). They are read here with h5py, without TensorFlow,
into matgl's MEGNet, which reimplements the same architecture; what the Keras code computes differently is kept:

1. atoms are embedded by atomic number (a 95-row table; row 0 is never used): rows 1..94, elements H..Pu;
2. bonds are expanded as exp(-(d - c)^2 / w^2) with the JSON's centres c and width w (matgl's Gaussian is
   exp(-width (d - c)^2): width = 1 / w^2), on neighbours within the JSON's cutoff;
3. the last layer of each update network inside a graph convolution is linear (megnet's ``_mlp`` returns the
   pre-activation); matgl's ``MEGNetGraphConv.from_dims`` would activate it, so the updates are built without;
4. the node update reads [mean of its edges, node, state] and the state update [mean edge, mean node, state];
   matgl concatenates [node, edges, state] and [state, edges, nodes]: those first kernels' rows are reordered;
5. an edge (index1, index2) reads [v_index1, v_index2, e, u] and is averaged onto index1. matgl >= 3 reads
   [v_src, v_dst, e, u] and averages onto the source: the same computation with src = index1, so the Keras
   models need matgl's own convolution, not the destination aggregation of :mod:`legacy_matgl`, which is right
   for the DGL-era matgl checkpoints but would pair these weights with the wrong end of every edge;
6. the Set2Set readouts are megnet's own (:class:`KerasSet2Set`), and the readout MLP reads 2 x 16 + 2 x 16 + 32;
7. no target scaler: every file here has megnet's DummyScaler (or, in the 2018 files, none, which megnet loads
   as DummyScaler); a file with another scaler is refused rather than silently mis-scaled.

The state input: the 2018 models take a two-number state that megnet fills with [0, 0] for crystals; the
multi-fidelity models take an integer fidelity (0 PBE, 1 GLLB-SC, 2 HSE, 3 experiment) through a 4 x 16 embedding.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from matgl.layers import MLP, BondExpansion
from matgl.layers._graph_convolution import MEGNetGraphConv
from matgl.models import MEGNet
from pymatgen.core import Element
from torch import nn
from torch_geometric.utils import softmax

KERAS_ELEMENTS = tuple(Element.from_Z(z).symbol for z in range(1, 95))
"""Elements the Keras models embed: atomic numbers 1..94 (rows 1..94 of their embedding table)."""


def _hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Keras 2's ``hard_sigmoid`` (the recurrent activation the Set2Set gates were trained with)."""
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


class KerasSet2Set(nn.Module):
    """megnet's Set2Set readout, computed as its Keras code computes it.

    It differs from the textbook Set2Set (and torch_geometric's, which matgl uses) in ways the weights were trained
    with: the features are first projected to ``n_hidden`` (``x_to_m``); the recurrent step sees only q* (no
    separate hidden-state input); its cell state is zero at every step, because megnet's loop never stores the cell
    it computes (``self.h, c = self._lstm(q_star, self.c)``), so the forget gate multiplies zero; and the gates use
    the hard sigmoid. Gate blocks come in Keras' order i, f, c, o. Output: [h, r], 2 x ``n_hidden`` per graph.
    """

    def __init__(self, weights: dict[str, np.ndarray], steps: int):
        super().__init__()
        self.project = _linear(weights["x_to_m_weight"], weights["x_to_m_bias"])
        self.recurrent = _linear(weights["recurrent_kernel"], weights["recurrent_bias"])
        self.steps = steps

    def forward(
        self, feat: torch.Tensor, batch: torch.Tensor | None, num_graphs: int | None = None
    ) -> torch.Tensor:
        if batch is None:
            batch = torch.zeros(len(feat), dtype=torch.long, device=feat.device)
        if num_graphs is None:
            num_graphs = int(batch.max()) + 1 if len(batch) else 1
        m = self.project(feat)
        hidden = m.shape[1]
        q_star = m.new_zeros((num_graphs, 2 * hidden))
        for _ in range(self.steps):
            input_gate, _forget, candidate, output_gate = self.recurrent(q_star).split(hidden, dim=1)
            cell = _hard_sigmoid(input_gate) * torch.tanh(candidate)
            h = _hard_sigmoid(output_gate) * torch.tanh(cell)
            attention = softmax((m * h[batch]).sum(dim=1), batch, num_nodes=num_graphs)
            readout = m.new_zeros((num_graphs, hidden)).index_add(0, batch, attention.unsqueeze(1) * m)
            q_star = torch.cat([h, readout], dim=1)
        return q_star


class KerasMEGNet(nn.Module):
    """A converted Keras MEGNet (``.model``, a matgl ``MEGNet``) and what its output is taken to mean.

    Shaped like matgl's ``TransformedTargetModel`` so that :class:`MatglPropertyPredictor` wraps it; there is no
    target transform to undo (point 7 above). ``complement`` turns the band-gap classifier's P(non-metal) into
    P(metal).
    """

    def __init__(self, model: MEGNet, complement: bool = False):
        super().__init__()
        self.model = model
        self.complement = complement

    def forward(self, g: Any, state_attr: torch.Tensor | None = None) -> torch.Tensor:
        output = self.model(g=g, state_attr=state_attr)
        return 1.0 - output if self.complement else output


def load_keras_megnet(weights: Path, config: Path, metal_probability: bool = False) -> KerasMEGNet:
    """The Keras MEGNet of ``weights`` (HDF5) and ``config`` (its JSON), as matgl, in eval mode on the CPU.

    Args:
        weights: the ``.hdf5`` file megnet's ``GraphModel.save_model`` wrote (Keras model and weights).
        config: the ``.hdf5.json`` beside it (graph converter, target scaler, metadata).
        metal_probability: the file is megnet's band-gap classifier, whose sigmoid output is the probability of a
            band gap > 0 (its metadata: "1 for band gap > 0 and 0 for band gap = 0"), i.e. of a non-metal; return
            1 - that, the probability of a metal.

    Raises:
        ValueError: the file is not the MEGNet layout this conversion knows (or has a target scaler).
    """
    settings = json.loads(Path(config).read_text())
    scaler = settings.get("target_scaler", {}).get("@class", "DummyScaler")
    if scaler != "DummyScaler":
        raise ValueError(f"{config}: target scaler {scaler} is not supported (only megnet's DummyScaler)")
    converter = settings["graph_converter"]
    bonds = converter["bond_converter"]
    if bonds["@class"] != "GaussianDistance":
        raise ValueError(f"{config}: bond converter {bonds['@class']} is not megnet's GaussianDistance")
    with h5py.File(weights, "r") as file:
        keras = _KerasGraph(file, weights)
        centres, width = np.asarray(bonds["centers"]["data"]), float(bonds["width"])
        model = _build(keras, centres, width, float(converter["cutoff"]))
    if metal_probability and not model.is_classification:
        raise ValueError(f"{weights}: not a classifier (its last layer has no sigmoid)")
    return KerasMEGNet(model, complement=metal_probability).eval()


class _KerasGraph:
    """The layer graph (``model_config``) and the weights of one Keras HDF5 file."""

    def __init__(self, file: h5py.File, path: Path):
        config = json.loads(file.attrs["model_config"])["config"]
        self.path = path
        self.layers = {layer["name"]: layer for layer in config["layers"]}
        self.order = [layer["name"] for layer in config["layers"]]
        (self.output, _, _), = config["output_layers"]
        self.group = file["model_weights"]

    def of_class(self, class_name: str) -> list[str]:
        return [name for name in self.order if self.layers[name]["class_name"] == class_name]

    def inputs(self, name: str) -> list[tuple[str, int]]:
        """The (layer, output index) tensors feeding layer ``name``."""
        return [(entry[0], entry[2]) for entry in self.layers[name]["inbound_nodes"][0]]

    def weights(self, name: str) -> dict[str, np.ndarray]:
        """Layer ``name``'s weights by their Keras name without scope and ':0' (kernel, bias, weight_e_0, ...)."""
        group = self.group[name]
        return {path.decode().split("/")[-1].removesuffix(":0"): np.asarray(group[path.decode()])
                for path in group.attrs["weight_names"]}

    def dense_chain(self, name: str, index: int = 0) -> tuple[list[str], tuple[str, int]]:
        """The Dense layers leading to tensor (``name``, ``index``), first to last, and the tensor before them."""
        chain = []
        while self.layers[name]["class_name"] == "Dense":
            chain.insert(0, name)
            ((name, index),) = self.inputs(name)
        return chain, (name, index)

    def activation(self, name: str) -> str:
        return self.layers[name]["config"]["activation"]

    def fail(self, message: str) -> ValueError:
        return ValueError(f"{self.path}: not the Keras MEGNet layout this conversion knows ({message})")


def _build(keras: _KerasGraph, centres: np.ndarray, width: float, cutoff: float) -> MEGNet:
    """matgl's MEGNet with the Keras sizes, its Keras-specific parts replaced, all weights copied in."""
    convs = keras.of_class("MEGNetLayer")
    first_inputs = keras.inputs(convs[0])
    (node_chain, node_origin), (edge_chain, _), (state_chain, state_origin) = (
        keras.dense_chain(*tensor) for tensor in first_inputs[:3])
    node_table = keras.weights(node_origin[0])["embeddings"]
    typed_state = keras.layers[state_origin[0]]["class_name"] == "Embedding"
    state_table = keras.weights(state_origin[0])["embeddings"] if typed_state else None
    output_chain, (concatenated, _) = keras.dense_chain(keras.output)
    graph_of_node, graph_of_bond = (tensor[0] for tensor in first_inputs[5:7])  # megnet's gnode, gbond inputs
    readouts = {keras.inputs(name)[1][0]: name for name in keras.of_class("Set2Set")}
    node_readout, edge_readout = readouts[graph_of_node], readouts[graph_of_bond]
    if [tensor[0] for tensor in keras.inputs(concatenated)][:2] != [node_readout, edge_readout]:
        raise keras.fail("readout order is not [atoms, bonds, state]")
    conv_config = keras.layers[convs[0]]["config"]
    if not conv_config["units_e"] == conv_config["units_v"] == conv_config["units_u"] \
            or conv_config["pool_method"] != "mean":
        raise keras.fail("edge, node and state updates of different sizes, or pooling other than the mean")
    steps = {keras.layers[name]["config"]["T"] for name in readouts.values()}
    block_chains = [keras.dense_chain(*tensor)[0] for conv in convs[1:] for tensor in keras.inputs(conv)[:3]]
    hidden = [*node_chain, *edge_chain, *state_chain, *(name for chain in block_chains for name in chain), *output_chain[:-1], *convs]
    activations = {keras.activation(name) for name in hidden}
    if activations != {"softplus2"} or keras.activation(output_chain[-1]) not in ("linear", "sigmoid") \
            or len(steps) != 1:
        raise keras.fail(f"activations {activations}, Set2Set steps {steps}")
    (readout_steps,) = steps
    state_dim = state_table.shape[1] if typed_state else keras.weights(state_chain[0])["kernel"].shape[0]

    model = MEGNet(
        dim_node_embedding=node_table.shape[1],
        dim_edge_embedding=len(centres),
        dim_state_embedding=state_dim,
        ntypes_state=state_table.shape[0] if typed_state else None,
        nblocks=len(convs),
        hidden_layer_sizes_input=tuple(keras.weights(name)["kernel"].shape[1] for name in node_chain),
        hidden_layer_sizes_conv=tuple(conv_config["units_v"]),
        hidden_layer_sizes_output=tuple(keras.weights(name)["kernel"].shape[1] for name in output_chain[:-1]),
        niters_set2set=readout_steps,
        activation_type="softplus2",
        is_classification=keras.activation(output_chain[-1]) == "sigmoid",
        include_state=True,
        element_types=KERAS_ELEMENTS,
        bond_expansion=BondExpansion(rbf_type="Gaussian", initial=float(centres[0]), final=float(centres[-1]),
                                     num_centers=len(centres), width=1.0 / width**2),
        cutoff=cutoff,
    )
    activation = model.blocks[0].activation
    with torch.no_grad():
        _copy(model.bond_expansion.rbf.centers, centres)
        _copy(model.embedding.layer_node_embedding.weight, node_table[1 : len(KERAS_ELEMENTS) + 1])
        if typed_state:
            _copy(model.embedding.layer_state_embedding.weight, state_table)
        _load_mlp(keras, model.node_encoder, node_chain)
        _load_mlp(keras, model.edge_encoder, edge_chain)
        _load_mlp(keras, model.state_encoder, state_chain)
        for index, (block, conv) in enumerate(zip(model.blocks, convs, strict=True)):
            if index:  # blocks after the first start with their own dense layers, as matgl's MEGNetBlock does
                chains = block_chains[3 * (index - 1) : 3 * index]  # [nodes, edges, state], the conv's inputs
                for mlp, chain in zip((block.node_func, block.edge_func, block.state_func), chains, strict=True):
                    _load_mlp(keras, mlp, chain)
            block.conv = _graph_conv(keras, conv, activation)
        model.node_s2s = KerasSet2Set(keras.weights(node_readout), readout_steps)
        model.edge_s2s = KerasSet2Set(keras.weights(edge_readout), readout_steps)
        dims = [keras.weights(output_chain[0])["kernel"].shape[0],
                *(keras.weights(name)["kernel"].shape[1] for name in output_chain)]
        model.output_proj = MLP(dims, activation)  # last layer linear; MEGNet applies the classifier's sigmoid
        _load_mlp(keras, model.output_proj, output_chain)
    return model.eval()


def _graph_conv(keras: _KerasGraph, conv: str, activation: nn.Module) -> MEGNetGraphConv:
    """One Keras MEGNetLayer as matgl's convolution: linear last layers (point 3), reordered inputs (point 4)."""
    weights = keras.weights(conv)
    depth = len(keras.layers[conv]["config"]["units_e"])

    def layers(kind: str) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(weights[f"weight_{kind}_{j}"], weights[f"bias_{kind}_{j}"]) for j in range(depth)]

    edge, node, state = layers("e"), layers("v"), layers("u")
    width, out = edge[0][0].shape[0] // 4, edge[-1][0].shape[1]  # inputs [v_i, v_j, e, u] of one width each
    node[0] = (_rows(node[0][0], [out, width, width], [1, 0, 2]), node[0][1])  # [e_mean, v, u] -> [v, e_mean, u]
    state[0] = (_rows(state[0][0], [out, out, width], [2, 0, 1]), state[0][1])  # [e_mean, v_mean, u] -> [u, e, v]
    functions = []
    for pairs in (edge, node, state):
        mlp = MLP([pairs[0][0].shape[0], *(kernel.shape[1] for kernel, _ in pairs)], activation)
        _fill(mlp, pairs, f"{keras.path}:{conv}")
        functions.append(mlp)
    return MEGNetGraphConv(*functions)


def _rows(kernel: np.ndarray, sizes: list[int], order: list[int]) -> np.ndarray:
    """A Keras kernel (inputs x outputs) with its blocks of input rows, of ``sizes``, put in ``order``."""
    if sum(sizes) != kernel.shape[0]:
        raise ValueError(f"kernel of {kernel.shape[0]} inputs is not made of blocks {sizes}")
    blocks = np.split(kernel, np.cumsum(sizes)[:-1], axis=0)
    return np.concatenate([blocks[i] for i in order], axis=0)


def _load_mlp(keras: _KerasGraph, mlp: MLP, chain: list[str]) -> None:
    pairs = [(weights["kernel"], weights["bias"]) for weights in map(keras.weights, chain)]
    _fill(mlp, pairs, f"{keras.path}:{','.join(chain)}")


def _fill(mlp: MLP, pairs: list[tuple[np.ndarray, np.ndarray]], source: str) -> None:
    """Copy Keras (kernel, bias) pairs into the linear layers of a matgl MLP (torch stores kernels transposed)."""
    linears = [layer for layer in mlp.layers if isinstance(layer, nn.Linear)]
    if len(linears) != len(pairs):
        raise ValueError(f"{source}: {len(pairs)} Keras layers for an MLP of {len(linears)}")
    for linear, (kernel, bias) in zip(linears, pairs, strict=True):
        _copy(linear.weight, kernel.T)
        _copy(linear.bias, bias)


def _linear(kernel: np.ndarray, bias: np.ndarray) -> nn.Linear:
    """A torch Linear computing x @ kernel + bias, as a Keras Dense without activation."""
    linear = nn.Linear(*kernel.shape)
    with torch.no_grad():
        _copy(linear.weight, kernel.T)
        _copy(linear.bias, bias)
    return linear


def _copy(parameter: torch.Tensor, array: np.ndarray) -> None:
    if tuple(parameter.shape) != array.shape:
        raise ValueError(f"Keras weight of shape {array.shape} does not fit {tuple(parameter.shape)}")
    parameter.copy_(torch.as_tensor(np.ascontiguousarray(array), dtype=parameter.dtype))
