"""Every registered model creates its tensors on the model's device and with its dtype (issue "One contract").

No accelerator is needed: ``sample()`` and ``training_step()`` run on CPU tensors under :class:`OffDevice`,
which puts every tensor that a factory function (``torch.randn``, ``zeros``, ``arange``, ``full``, ...)
creates *without* an explicit device on the meta device instead. A model that creates noise, masks or
outputs implicitly (on the default device instead of its own) then mixes meta and CPU tensors and fails,
exactly as it would on a GPU; as on a GPU, 0-dim tensors and ``torch.as_tensor`` of a tensor stay where
they are. Sampling is checked with a CPU ``torch.Generator`` (drawn on the generator's device, then moved)
and without one (drawn on the model's device). Models whose sampling has no data-dependent control flow
are also moved to the meta device as a whole, and every model samples in float64 (the noise takes the
dtype of the inputs).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import tiny_model

from torch.overrides import TorchFunctionMode
from torch.utils._device import _device_constructors

from hepgen.models.registry import list_models

torch.set_num_threads(1)


class OffDevice(TorchFunctionMode):
    """Tensors created by factory functions without a ``device`` argument land on the meta device."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func not in _device_constructors() or kwargs.get("device") is not None:
            return out
        if func in (torch.tensor, torch.as_tensor, torch.asarray) and args and isinstance(args[0], torch.Tensor):
            return out
        return out.to("meta") if isinstance(out, torch.Tensor) and out.dim() > 0 else out

# sampling without data-dependent control flow (no cardinalities read from the condition): runs on meta
META_CAPABLE = ("wgan", "ganplify-gan", "vaegan")


def _model(name: str, **extra) -> tuple[torch.nn.Module, torch.Tensor]:
    return tiny_model(name, **extra)


def _expected_shape(name: str, n: int) -> tuple[int, ...]:
    return (n,) + tuple(_model(name)[0].data_shape)


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("seeded", [True, False], ids=["generator", "global-rng"])
def test_sample_creates_no_tensor_off_the_model_device(name, seeded):
    model, cond = _model(name)
    generator = torch.Generator().manual_seed(0) if seeded else None
    with torch.no_grad(), OffDevice():
        out = model.sample(cond, generator)
    assert out.device == cond.device and out.shape == _expected_shape(name, len(cond))
    assert bool(torch.isfinite(out).all())


@pytest.mark.parametrize("name", list_models())
def test_sample_follows_the_model_dtype(name):
    model, cond = _model(name)
    with torch.no_grad():
        out = model.double().sample(cond.double(), torch.Generator().manual_seed(0))
    assert out.dtype == torch.float64


@pytest.mark.parametrize("name", META_CAPABLE)
def test_sample_on_the_meta_device(name):
    model, cond = _model(name)
    model = model.to("meta")
    for generator in (None, torch.Generator().manual_seed(0)):
        with torch.no_grad():
            out = model.sample(cond.to("meta"), generator)
        assert out.device.type == "meta" and out.shape == _expected_shape(name, len(cond))


def test_bibae_kde_and_post_processor_paths_stay_on_the_device():
    model, cond = _model("bibae", kde=True)
    model.kde_points = np.random.default_rng(0).normal(size=(50, model.config["latent_dim"] + 1))
    model.pp_active.fill_(True)
    with torch.no_grad(), OffDevice():
        out = model.sample(cond, torch.Generator().manual_seed(0))
    assert out.device == cond.device


def test_cpu_draws_are_those_of_the_plain_torch_calls():
    """The device rule keeps CPU numbers: a CPU generator draws what torch.randn(..., generator) draws."""
    from hepgen.models.layers import standard_normal, uniform

    g = torch.Generator().manual_seed(3)
    a = torch.cat([standard_normal((4, 2), "cpu", generator=g), uniform((3,), "cpu", generator=g)[:, None]
                   .expand(-1, 2)])
    g.manual_seed(3)
    b = torch.cat([torch.randn(4, 2, generator=g), torch.rand(3, generator=g)[:, None].expand(-1, 2)])
    assert torch.equal(a, b)
    torch.manual_seed(5)
    a = standard_normal((4,), "cpu")
    torch.manual_seed(5)
    assert torch.equal(a, torch.randn(4))


# settings that reach every update of a training step within two steps
TRAIN = {"wgan": {"constrainer_steps": 1, "n_critic": 1}, "bibae": {"n_critic": 1, "pp_start_epoch": 0},
         "vaegan": {"d_steps": 1, "evis_mmd": 1.0}, "mdma-flow": {"ot": True}}


def _batch(model, n_cond: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    b, shape = 4, model.data_shape
    if model.data_kind in ("jets", "points"):
        feat = shape[1] - 1
        n = torch.tensor([1, shape[0] // 2, shape[0], 2])
        mask = torch.arange(shape[0])[None] < n[:, None]
        x = torch.cat([torch.randn(b, shape[0], feat, generator=g) * mask[..., None], mask[..., None].float()], 2)
        cond = (n / shape[0])[:, None] if model.data_kind == "jets" else \
            torch.cat([torch.randn(b, 2, generator=g), n[:, None].float()], 1)
        return {"x": x, "cond": cond}
    return {"x": torch.rand(b, *shape, generator=g) * 0.1, "cond": torch.randn(b, n_cond, generator=g)}


@pytest.mark.parametrize("name", list_models())
def test_training_step_creates_no_tensor_off_the_model_device(name):
    model, cond = _model(name, **TRAIN.get(name, {}))
    model.train()
    optimizers = model.configure_optimizers()
    g = torch.Generator().manual_seed(0)
    batches = [_batch(model, cond.shape[1], g) for _ in range(2)]
    for step, batch in enumerate(batches):
        with OffDevice():
            out = model.training_step(batch, optimizers, step, epoch=0)
        assert all(v.device == cond.device for v in out.values())
    assert int(model.generator_steps) >= 1
