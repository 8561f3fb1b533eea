"""ONNX export of a run's generator (every model declaring :meth:`~hepgen.models.registry.GenerativeModel.export_graph`)
and an onnxruntime sampling backend for voxel-shower runs.

A model splits its sampling into random draws and a deterministic network
(:class:`hepgen.models.export.ExportGraph`); the graph holds the network, the draws are inputs (ONNX
random operators are not reproducible across runtimes) made by the caller exactly as the model's
``sample`` makes them, so equal seeds give equal outputs. A model that cannot be exported says why in
one line (:class:`hepgen.models.export.ExportUnsupported`). The batch dimension N is dynamic.

Voxel-shower runs (``hepgen generate --backend onnxruntime``) export the physical graph:

======================== ============================== =============================================
input / output           shape                          meaning
======================== ============================== =============================================
``conditions``           (N, n_cond) float32            incident energy (MeV), then the run's labels
``noise_0``, ``noise_1`` (N, d_k) float32               the model's random draws
``energy``               (N, n_voxels) float32          voxel energies in MeV (>= 0), flat order
======================== ============================== =============================================

with the conditioning preprocessing (log, standardise) and the inverse of the voxel preprocessing
inside; model-specific steps after it (the BIB-AE's latent KDE draw and visible-energy rescaling)
stay outside. Point-cloud, jet and array runs export the model graph: ``cond`` (N, n_cond) in
preprocessed units (absent without conditions), ``noise_k``, output ``x`` in preprocessed units
(clouds padded to n_max slots, the mask as last feature); turning ``x`` into hits, jets or arrays
stays outside, and their generation with ONNX Runtime is not offered (``hepgen export`` checks them).

>>> max_relative_deviation(np.array([0.0, 9.0]), np.array([0.0, 10.0]))
0.1
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hepgen.errors import InputError
from hepgen.training.sampling import Generator

__all__ = ["export_model_onnx", "unconditioned_graph", "export_onnx", "ExportReport", "OnnxGenerator",
           "max_relative_deviation", "onnx_session", "TOLERANCE"]

TOLERANCE = 1e-4  # max relative deviation ONNX vs PyTorch accepted on export


def max_relative_deviation(a: np.ndarray, b: np.ndarray) -> float:
    """max |a − b| / max |b|: deviation of ``a`` from the reference ``b`` relative to the batch's scale.

    >>> max_relative_deviation(np.zeros(3), np.zeros(3))
    0.0
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    return diff / scale if scale > 0 else diff


def _is_voxel_run(kind) -> bool:
    """Voxel-shower data kinds invert their preprocessing in torch: the physical graph (MeV in, MeV out)."""
    return getattr(kind, "kind", None) == "showers" and hasattr(kind, "data")


def _physical_graph(network, kind):
    """conditions (MeV, labels), noise... -> energy (MeV): conditioning, the model's network, inverse preprocessing."""
    import torch

    class PhysicalGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, conditions, *noise):
            x = self.network(kind.cond.forward(conditions, None), *noise)
            energy = kind.data.inverse(x.reshape(conditions.shape[0], -1), conditions[:, 0])
            return energy.clamp_min(0.0)

    return PhysicalGraph().eval()


def unconditioned_graph(network):
    """The network of an unconditioned model as ``forward(*noise)`` (an empty (N, 0) condition inside)."""
    import torch

    class Unconditioned(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, *noise):
            return self.network(noise[0].new_zeros(noise[0].shape[0], 0), *noise)

    return Unconditioned().eval()


def _register_missing_symbolics(opset: int) -> None:
    """ONNX has no expm1: export ``torch.expm1(x)`` as Exp(x) − 1 (absolute error ~1e-7, as float32 exp)."""
    import torch

    def expm1(g, x):
        return g.op("Sub", g.op("Exp", x), g.op("Constant", value_t=torch.tensor(1.0)))

    torch.onnx.register_custom_op_symbolic("aten::expm1", expm1, opset)


def export_model_onnx(module, first: np.ndarray | None, noise: list, first_name: str = "cond",
                      output_name: str = "x", opset: int = 17) -> tuple[bytes, list[str]]:
    """ONNX bytes of ``module(first, *noise)`` (or ``module(*noise)`` when ``first`` is None) with a dynamic
    batch dimension, and the input names (``first_name``, ``noise_0``, ...).

    >>> import torch
    >>> data, names = export_model_onnx(torch.nn.Linear(2, 1), np.zeros((1, 2), np.float32), [])
    >>> names, onnx_session(data).run(None, {"cond": np.ones((3, 2), np.float32)})[0].shape
    (['cond'], (3, 1))
    """
    import warnings

    import torch

    _register_missing_symbolics(opset)
    names = ([first_name] if first is not None else []) + [f"noise_{i}" for i in range(len(noise))]
    # clones: tensors drawn under inference_mode cannot enter the traced (autograd-recorded) graph
    args = [torch.as_tensor(t).clone() for t in ([first] if first is not None else []) + list(noise)]
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, tuple(args), buf, dynamo=False, input_names=names, output_names=[output_name],
                          opset_version=opset, dynamic_axes={k: {0: "n"} for k in names + [output_name]})
    return buf.getvalue(), names


def onnx_session(model_bytes: bytes, threads: int | None = None):
    """An ONNX Runtime CPU session (``threads`` intra-op threads, default: ONNX Runtime's choice)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


class _RunGraph:
    """A run's export: the module to trace, its conditions input and the reference torch sampling path."""

    def __init__(self, model, kind) -> None:
        self.model, self.kind = model, kind
        self.graph = model.export_graph()
        self.voxels = _is_voxel_run(kind)
        if self.voxels:
            self.module = _physical_graph(self.graph.network, kind)
            self.first_name, self.output_name = "conditions", "energy"
        elif model.n_cond == 0:
            self.module, self.first_name, self.output_name = unconditioned_graph(self.graph.network), None, "x"
        else:
            self.module, self.first_name, self.output_name = self.graph.network.eval(), "cond", "x"

    def conditions(self, n: int, seed: int) -> tuple:
        """A reproducible batch: (first graph input, preprocessed conditions, labels); showers span 1 GeV - 1 TeV."""
        import torch

        from hepgen.training.sampling import complete_labels

        model, kind = self.model, self.kind
        rng = np.random.default_rng(seed)
        if kind.kind in ("showers", "points"):
            e = np.exp(rng.uniform(np.log(1e3), np.log(1e6), n))
            labels = {}
            if self.voxels:  # labels: a fraction of the incident energy (typical for visible energy)
                labels = {k: e * rng.uniform(0.01, 0.05, n) for k in kind.labels}
            else:
                labels = complete_labels(model, kind, list(kind.labels), e, None,
                                         torch.Generator().manual_seed(seed))
            cond = torch.as_tensor(kind.encode_cond(e, labels))
            first = kind.raw_cond(e, labels).astype(np.float32) if self.voxels else cond.numpy()
            return first, cond, {"incident_energy": e, **labels}
        if kind.kind == "jets":
            try:
                cond = torch.as_tensor(model.sample_conditions(n, seed))
            except InputError:  # no multiplicity KDE stored: uniform multiplicities
                cond = torch.zeros(n, model.n_cond)
                cond[:, 0] = torch.as_tensor(rng.integers(1, kind.n_max + 1, n) / kind.n_max)
            return cond.numpy(), cond, {}
        return None, torch.zeros(n, 0), {}

    def draw(self, cond, seed: int | None) -> list:
        """The model's draws for ``cond`` (generator seeded ``seed``; the global torch generator too)."""
        import torch

        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        with torch.inference_mode():
            return self.graph.noise(cond, gen)

    def torch_reference(self, cond, seed: int, info: dict) -> np.ndarray:
        """What the PyTorch path gives for these conditions and seed (the output of the graph)."""
        import torch

        with torch.inference_mode():
            x = self.model.sample(cond, torch.Generator().manual_seed(int(seed)))
            if self.voxels:
                e = torch.as_tensor(info["incident_energy"], dtype=torch.float32)
                return self.kind.data.inverse(x.reshape(x.shape[0], -1), e).clamp_min(0.0).numpy()
        return x.numpy()

    def onnx_bytes(self, opset: int = 17, seed: int = 0) -> tuple[bytes, list[str]]:
        import torch

        first, cond, _ = self.conditions(2, seed)
        with torch.random.fork_rng():
            noise = self.draw(cond, seed)
        return export_model_onnx(self.module, first, noise, self.first_name or "cond", self.output_name, opset)


@dataclass
class ExportReport:
    """What :func:`export_onnx` wrote and how well ONNX Runtime reproduces PyTorch."""

    path: str
    model: str
    inputs: dict[str, list]
    outputs: dict[str, list]
    n_check: int
    max_relative_deviation: float
    tolerance: float = TOLERANCE
    notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.max_relative_deviation <= self.tolerance

    def summary(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (f"exported '{self.model}' to {self.path}; inputs {self.inputs}, outputs {self.outputs}; "
                f"onnxruntime vs PyTorch sampling (same seed) on a fixed batch of {self.n_check}: max relative "
                f"deviation {self.max_relative_deviation:.2e} (tolerance {self.tolerance:.0e}) {verdict}. {self.notes}")


def check_against_torch(run: _RunGraph, session, names: list[str], n: int, seed: int) -> float:
    """Max relative deviation of ONNX Runtime from the model's own ``sample`` for ``n`` conditions, same seed."""
    import torch

    first, cond, info = run.conditions(n, seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        noise = [t.numpy() for t in run.draw(cond, seed)]
        torch.manual_seed(seed)
        ref = run.torch_reference(cond, seed, info)
    got = session.run(None, dict(zip(names, ([first] if first is not None else []) + noise)))[0]
    return max_relative_deviation(got, ref)


def export_onnx(run_dir: str | Path, output: str | Path, n_check: int = 64, seed: int = 0, opset: int = 17,
                overwrite: bool = False) -> ExportReport:
    """Export a run's generator to ONNX (dynamic batch) and check it against PyTorch sampling.

    The check samples a fixed batch of ``n_check`` conditions (showers: 1 GeV - 1 TeV; jets: the run's
    multiplicities) with seed ``seed + 1`` both with the model's ``sample`` and with ONNX Runtime on the
    draws of :meth:`~hepgen.models.export.ExportGraph.draw`, and reports max |onnx − torch| / max |torch|;
    :attr:`ExportReport.passed` says whether it is within :data:`TOLERANCE`. The file is written
    atomically; an existing one is refused without ``overwrite``. A model without an export raises
    :class:`~hepgen.models.export.ExportUnsupported` (an ``InputError``) with the reason.

    >>> export_onnx("no/such/run", "m.onnx")
    Traceback (most recent call last):
    ...
    hepgen.errors.InputError: no/such/run: not a hepgen run directory (no config.yaml / preprocessing.json)
    """
    import torch

    from hepgen.data.atomic import atomic_path, check_writable
    from hepgen.training.run import load_run_model

    check_writable(output, overwrite)
    model, kind, _ = load_run_model(run_dir)
    run = _RunGraph(model, kind)
    data, names = run.onnx_bytes(opset, seed)
    deviation = check_against_torch(run, onnx_session(data), names, n_check, seed + 1)
    with atomic_path(output, overwrite) as tmp:
        tmp.write_bytes(data)
    first, cond, _ = run.conditions(1, seed)
    with torch.random.fork_rng():
        noise = run.draw(cond, seed)
    shapes = ({run.first_name: ["N", int(first.shape[1])]} if run.first_name else {}) | \
        {f"noise_{i}": ["N", *map(int, t.shape[1:])] for i, t in enumerate(noise)}
    out_shape = [kind.geometry.n_voxels] if run.voxels else list(model.data_shape)
    extra = {"opset": opset, "kind": kind.kind}
    if getattr(kind, "geometry", None) is not None:
        extra.update(geometry=kind.geometry.name, labels=list(kind.labels))
    return ExportReport(str(output), model.name, shapes, {run.output_name: ["N", *out_shape]}, n_check, deviation,
                        notes=run.graph.notes, extra=extra)


class OnnxGenerator(Generator):
    """Samples a voxel-shower run with ONNX Runtime: a :class:`~hepgen.training.sampling.Generator` whose
    :meth:`sample_batch` runs the exported graph (preprocessing and its inverse included); for equal seeds the
    same showers as PyTorch (within :data:`TOLERANCE`)."""

    def __init__(self, model, kind, config: dict, threads: int | None = None) -> None:
        if not _is_voxel_run(kind):
            raise InputError(f"ONNX Runtime generation is for voxel-shower runs; '{model.name}' is a "
                             f"{kind.kind} model ('hepgen export' writes and checks its ONNX graph)")
        super().__init__(model, kind, config)
        self.run = _RunGraph(model, kind)
        self.graph = self.run.graph
        data, self.input_names = self.run.onnx_bytes()
        self.session = onnx_session(data, threads)

    def sample_batch(self, cond, conditions, generator):
        """One batch through ONNX Runtime: noise drawn as the model draws it, raw conditions in, MeV out."""
        from hepgen.data import ShowerData

        noise = [t.numpy() for t in self.graph.noise(cond, generator)]
        e, labels = conditions.incident_energy, conditions.labels
        raw = self.kind.raw_cond(e, labels).astype(np.float32)
        energy = self.session.run(None, dict(zip(self.input_names, [raw] + noise)))[0]
        return ShowerData(e, energy, self.geometry, labels)
