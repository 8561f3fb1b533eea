"""ONNX export of a run's generator and an onnxruntime sampling backend.

The exported graph maps physical conditions and the model's random inputs to voxel energies in MeV:

======================== ============================== =============================================
input / output           shape                          meaning
======================== ============================== =============================================
``conditions``           (N, n_cond) float32            incident energy (MeV), then the run's labels
``noise_0``, ``noise_1`` (N, d_k) float32               the model's random draws (see below)
``energy``               (N, n_voxels) float32          voxel energies in MeV (>= 0), flat order
======================== ============================== =============================================

Inside the graph: the conditioning preprocessing (log, standardise), the network, and the inverse
of the voxel preprocessing (``divide_by_incident``, ``log``, ``logit``, ``standardize``). Outside
it (drawn by the caller; :class:`OnnxGenerator` does it exactly as the PyTorch path, so equal seeds
give equal showers): the random numbers — ONNX random operators are not reproducible across
runtimes — and, for the BIB-AE, the latent KDE draw (the latent is ``noise_0``) and the
visible-energy rescaling. The batch dimension N is dynamic.

Models say how they sample through an :class:`ExportForm` (built in for ``wgan`` and ``bibae``;
a model class may define ``onnx_form`` returning one).

>>> max_relative_deviation(np.array([1.0, 2.0]), np.array([1.0, 2.0])), max_relative_deviation(np.array([0.0, 9.0]), np.array([0.0, 10.0]))
(0.0, 0.1)
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hepgen.errors import InputError

__all__ = ["ExportForm", "export_form", "export_onnx", "ExportReport", "OnnxGenerator", "max_relative_deviation",
           "TOLERANCE"]

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


@dataclass
class ExportForm:
    """How a model samples, split into random draws and a deterministic network.

    ``draw(model, cond, generator)`` returns the random tensors in the order the model's own
    ``sample`` draws them; ``network(model, cond, *noise)`` maps standardised conditions and those
    draws to the preprocessed example. ``notes`` says what stays outside the graph.
    """

    draw: Callable[..., list]
    network: Callable[..., Any]
    notes: str = ""


def _wgan_form() -> ExportForm:
    import torch

    def draw(model, cond, generator):
        return [torch.randn(cond.shape[0], model.config["noise_dim"], generator=generator, dtype=cond.dtype)]

    return ExportForm(draw, lambda model, cond, z: model.generate(z, cond), "noise_0: N(0, 1) generator noise")


def _bibae_form() -> ExportForm:
    import torch

    def draw(model, cond, generator):
        z = model._latent_for(cond, generator)
        return [z, torch.randn(cond.shape[0], model.config["noise_dim"], generator=generator, dtype=cond.dtype)]

    def network(model, cond, z, noise):
        x = torch.relu(model.decoder(torch.cat([z, noise, cond], dim=1)))
        if model.postprocessor is not None and bool(model.pp_active):
            x = model.postprocessor(x, cond)
        return x

    return ExportForm(draw, network, "noise_0: latent (N(0, 1) or the run's latent KDE, drawn outside); "
                                     "noise_1: decoder noise; visible-energy rescaling is applied outside")


_FORMS: dict[str, Callable[[], ExportForm]] = {"wgan": _wgan_form, "bibae": _bibae_form}


def export_form(model) -> ExportForm:
    """The :class:`ExportForm` of a model instance (``InputError`` if it has none)."""
    if hasattr(model, "onnx_form"):
        return model.onnx_form()
    if model.name not in _FORMS:
        raise InputError(f"model '{model.name}' has no ONNX export form (have {', '.join(sorted(_FORMS))}); "
                         "give its class an onnx_form() method")
    return _FORMS[model.name]()


def _graph_module(model, adapter, form: ExportForm):
    import torch

    class GeneratorGraph(torch.nn.Module):
        """conditions (MeV), noise... -> energy (MeV)."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, conditions, *noise):
            cond = adapter.cond.forward(conditions, None)
            x = form.network(self.model, cond, *noise)
            n = conditions.shape[0]
            energy = adapter.data.inverse(x.reshape(n, -1), conditions[:, 0])
            return energy.clamp_min(0.0)

    return GeneratorGraph().eval()


def _fixed_batch(model, adapter, form: ExportForm, n: int, seed: int):
    """A reproducible batch of (raw conditions float32, noise tensors) spanning 1 GeV - 1 TeV."""
    import torch

    rng = np.random.default_rng(seed)
    e = np.exp(rng.uniform(np.log(1e3), np.log(1e6), n))
    labels = {}
    for k in adapter.labels:  # labels: a fraction of the incident energy (typical for visible energy)
        labels[k] = e * rng.uniform(0.01, 0.05, n)
    raw = adapter.raw_cond(e, labels).astype(np.float32)
    cond = torch.as_tensor(adapter.encode_cond(e, labels))
    with torch.inference_mode():
        noise = [t.contiguous() for t in form.draw(model, cond, torch.Generator().manual_seed(seed))]
    return raw, noise


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
                f"onnxruntime vs PyTorch on a fixed batch of {self.n_check}: max relative deviation "
                f"{self.max_relative_deviation:.2e} (tolerance {self.tolerance:.0e}) {verdict}. {self.notes}")


def _export_bytes(model, adapter, form: ExportForm, opset: int = 17, seed: int = 0) -> tuple[bytes, list[str]]:
    import warnings

    import torch

    raw, noise = _fixed_batch(model, adapter, form, 2, seed)
    names = ["conditions"] + [f"noise_{i}" for i in range(len(noise))]
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_graph_module(model, adapter, form), (torch.as_tensor(raw), *noise), buf, dynamo=False,
                          input_names=names, output_names=["energy"], opset_version=opset,
                          dynamic_axes={k: {0: "n"} for k in names + ["energy"]})
    return buf.getvalue(), names


def _session(model_bytes: bytes, threads: int | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def export_onnx(run_dir: str | Path, output: str | Path, n_check: int = 64, seed: int = 0, opset: int = 17,
                overwrite: bool = False) -> ExportReport:
    """Export a run's generator to ONNX (dynamic batch) and check it against PyTorch.

    The check runs both on a fixed batch of ``n_check`` conditions (1 GeV - 1 TeV, seed ``seed``)
    and reports max |onnx − torch| / max |torch|; :attr:`ExportReport.passed` says whether it is
    within :data:`TOLERANCE`. The file is written atomically; an existing one is refused without
    ``overwrite``.

    >>> export_onnx("no/such/run", "m.onnx")
    Traceback (most recent call last):
    ...
    hepgen.errors.InputError: no/such/run: not a hepgen run directory (no config.yaml / preprocessing.json)
    """
    import torch

    from hepgen.data.atomic import atomic_path, check_writable
    from hepgen.training.run import load_run_model

    check_writable(output, overwrite)
    model, adapter, _ = load_run_model(run_dir)
    form = export_form(model)
    data, names = _export_bytes(model, adapter, form, opset, seed)
    raw, noise = _fixed_batch(model, adapter, form, n_check, seed + 1)
    with torch.inference_mode():
        ref = _graph_module(model, adapter, form)(torch.as_tensor(raw), *noise).numpy()
    got = _session(data).run(None, dict(zip(names, [raw] + [t.numpy() for t in noise])))[0]
    with atomic_path(output, overwrite) as tmp:
        tmp.write_bytes(data)
    shapes = {"conditions": ["N", adapter.n_cond]} | {n: ["N", int(t.shape[1])] for n, t in zip(names[1:], noise)}
    return ExportReport(str(output), model.name, shapes, {"energy": ["N", adapter.geometry.n_voxels]}, n_check,
                        max_relative_deviation(got, ref), notes=form.notes,
                        extra={"opset": opset, "geometry": adapter.geometry.name, "labels": adapter.labels})


class OnnxGenerator:
    """Samples a run with ONNX Runtime; same interface and, for equal seeds, the same showers as
    :class:`hepgen.training.generate.ShowerGenerator` (within :data:`TOLERANCE`)."""

    def __init__(self, model, adapter, config: dict, threads: int | None = None) -> None:
        self.model, self.adapter, self.config = model, adapter, config
        self.geometry = adapter.geometry
        self.labels = list(adapter.labels)
        self.form = export_form(model)
        data, self.input_names = _export_bytes(model, adapter, self.form)
        self.session = _session(data, threads)

    def sample(self, incident_energy: np.ndarray, labels: dict[str, np.ndarray] | None = None,
               batch_size: int = 1000, seed: int | None = None):
        """One shower per incident energy (MeV) as :class:`~hepgen.data.ShowerData`."""
        import torch

        from hepgen.data import ShowerData
        from hepgen.training.generate import complete_labels

        e = np.asarray(incident_energy, dtype=np.float64).reshape(-1)
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        labels = complete_labels(self.model, self.adapter, self.labels, e, labels, gen)
        parts = []
        for start in range(0, len(e), max(1, batch_size)):
            sl = slice(start, start + batch_size)
            lab = {k: np.asarray(v)[sl] for k, v in labels.items()}
            cond = torch.as_tensor(self.adapter.encode_cond(e[sl], lab))
            with torch.inference_mode():
                noise = [t.numpy() for t in self.form.draw(self.model, cond, gen)]
            raw = self.adapter.raw_cond(e[sl], lab).astype(np.float32)
            energy = self.session.run(None, dict(zip(self.input_names, [raw] + noise)))[0]
            shower = ShowerData(e[sl], energy, self.geometry, lab)
            if hasattr(self.model, "postprocess_physical"):
                shower = self.model.postprocess_physical(shower)
            parts.append(shower)
        if not parts:
            return ShowerData(e, np.zeros((0, self.geometry.n_voxels), np.float32), self.geometry)
        return ShowerData.concatenate(parts)
