"""Every registered model exports to ONNX through ``export_graph()`` (or says in one line why it cannot), and
ONNX Runtime on the model's own draws reproduces ``model.sample`` for the same seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import conftest

from hepgen.models.export import ExportGraph, ExportUnsupported
from hepgen.models.registry import GenerativeModel, list_models
from hepgen.training.onnx import TOLERANCE, unconditioned_graph, export_model_onnx, max_relative_deviation, onnx_session

# test knobs: small buckets, so that clouds of several sizes share a batch
KNOBS = {"mdma-gan": {"bucket": 3}, "epic-gan": {"bucket": 3}, "tgan": {"bucket": 3}, "mdma-flow": {"bucket": 3},
         "mdma-calo-flow": {"steps": 2}}


def tiny_model(name: str) -> GenerativeModel:
    torch.manual_seed(0)
    model = conftest.tiny_model(name, **KNOBS.get(name, {}))[0]
    if name == "bibae":
        model.pp_active.fill_(True)  # the Post-Processor is part of the graph
    return model


def conditions(model: GenerativeModel, n: int, seed: int) -> torch.Tensor:
    """Preprocessed conditions of the model's data kind (clouds of several sizes, so buckets/chunks differ)."""
    rng = np.random.default_rng(seed)
    n_max = model.data_shape[0]
    if model.data_kind == "jets":
        return torch.as_tensor(rng.integers(1, n_max + 1, (n, 1)) / n_max, dtype=torch.float32)
    if model.data_kind == "points":
        hits = rng.integers(1, n_max + 1, n)
        return torch.as_tensor(np.column_stack([rng.normal(size=(n, 2)), hits]), dtype=torch.float32)
    return torch.as_tensor(rng.normal(size=(n, model.n_cond)), dtype=torch.float32)


def sample_both(model, graph: ExportGraph, cond, seed: int):
    """(draws, model.sample) for the same seed of the given generator and of torch's global one."""
    with torch.random.fork_rng(), torch.inference_mode():
        torch.manual_seed(seed)
        noise = graph.noise(cond, torch.Generator().manual_seed(seed))
        torch.manual_seed(seed)
        ref = model.sample(cond, torch.Generator().manual_seed(seed))
    return noise, ref


@pytest.mark.parametrize("name", list_models())
def test_onnx_runtime_reproduces_sample_for_the_same_seed(name):
    torch.set_num_threads(1)
    model = tiny_model(name)
    try:
        graph = model.export_graph()
    except ExportUnsupported as exc:  # allowed, but only with a one-line reason
        assert str(exc) and "\n" not in str(exc)
        pytest.skip(f"{name}: {exc}")
    cond2 = conditions(model, 2, seed=1)
    noise2, _ = sample_both(model, graph, cond2, 1)
    module = graph.network.eval() if model.n_cond else unconditioned_graph(graph.network)
    data, names = export_model_onnx(module, cond2.numpy() if model.n_cond else None, noise2)
    cond = conditions(model, 7, seed=2)  # another batch size: the batch dimension is dynamic
    noise, ref = sample_both(model, graph, cond, 5)
    with torch.inference_mode():
        assert max_relative_deviation(graph.network(cond, *noise).numpy(), ref.numpy()) <= TOLERANCE
    feeds = dict(zip(names, ([cond.numpy()] if model.n_cond else []) + [t.numpy() for t in noise]))
    got = onnx_session(data, threads=1).run(None, feeds)[0]
    assert got.shape == tuple(ref.shape)
    assert max_relative_deviation(got, ref.numpy()) <= TOLERANCE
    _, other = sample_both(model, graph, cond, 6)
    assert max_relative_deviation(other.numpy(), ref.numpy()) > 1e-3  # the seed matters: the check can fail


def test_a_model_without_export_says_why_in_one_line():
    class NoExport(GenerativeModel):
        name = "no-export"

        def configure_optimizers(self):
            return {}

        def training_step(self, batch, optimizers, step, epoch):
            return {}

        def sample(self, cond, generator=None):
            return cond

    with pytest.raises(ExportUnsupported, match="no-export") as info:
        NoExport((2,), 0, {}).export_graph()
    assert "\n" not in str(info.value)
