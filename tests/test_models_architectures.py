"""Model registry, geometry-aware layers and model shapes on several geometries."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hepgen.errors import InputError
from hepgen.geometry import get_geometry
from hepgen.models import get_model_class, list_models, register_model
from hepgen.models.bibae import BIBAE
from hepgen.models.layers import GeoConv3d, UpTrunk, circular_dim, stage_shapes
from hepgen.models.postprocessor import PostProcessor
from hepgen.models.wgan import WGAN

torch.set_num_threads(1)


def test_registry_lists_builtins_and_rejects_unknown_and_duplicates():
    assert {"wgan", "bibae"} <= set(list_models())
    assert get_model_class("wgan") is WGAN
    with pytest.raises(InputError, match="unknown model 'nope': expected one of .*bibae.*wgan"):
        get_model_class("nope")
    with pytest.raises(ValueError, match="registered twice"):
        register_model("wgan")(type("Other", (WGAN,), {}))


def test_circular_padding_wraps_alpha_only():
    x = torch.zeros(1, 1, 3, 6, 4)
    x[0, 0, 1, 0, 0] = 1.0                               # layer 1, alpha bin 0, radius bin 0
    conv = GeoConv3d(1, 1, 3, circular_dim=1, bias=False)
    torch.nn.init.ones_(conv.conv.weight)
    y = conv(x)[0, 0]
    assert y[1, 5, 0] == 1.0                             # neighbour across alpha = 2 pi
    assert y[1, 3, 0] == 0.0
    assert y[1, 0, 1] == 1.0 and y[0, 0, 0] == 1.0       # ordinary neighbours
    plain = GeoConv3d(1, 1, 3, circular_dim=None, bias=False)
    torch.nn.init.ones_(plain.conv.weight)
    assert plain(x)[0, 0, 1, 5, 0] == 0.0                # zero padding does not wrap
    assert circular_dim(get_geometry("calochallenge-2")) == 1
    assert circular_dim(get_geometry("belle2-ecl-10x10")) is None


def test_circular_padding_with_fewer_bins_than_the_kernel():
    x = torch.arange(2.0).reshape(1, 1, 1, 2, 1)
    conv = GeoConv3d(1, 1, 5, circular_dim=1, bias=False)
    torch.nn.init.ones_(conv.conv.weight)
    # alpha has 2 bins; a 5-wide kernel sees bins (a-2..a+2) mod 2: for a=0: 0,1,0,1,0 -> sum 2
    assert conv(x)[0, 0, 0, :, 0].tolist() == [2.0, 3.0]


@pytest.mark.parametrize("shape", [(45, 16, 9), (30, 30, 30), (1, 10, 10), (3, 1, 7)])
def test_trunk_sizes_come_from_the_geometry(shape):
    stages = stage_shapes(shape)
    assert stages[-1] == shape and max(stages[0]) <= 4
    assert UpTrunk(3, shape, width=4)(torch.zeros(2, 3)).shape == (2, 1) + shape
    light = UpTrunk(3, shape, width=4, light_output=True)
    assert light(torch.zeros(2, 3)).shape == (2, 1) + shape
    assert len(light.blocks) == max(1, len(stages) - 1)


@pytest.mark.parametrize("geometry", ["calochallenge-2", "belle2-ecl-10x10", "calochallenge-1-photons"])
@pytest.mark.parametrize("cls", [WGAN, BIBAE])
def test_models_sample_the_geometry_shape(geometry, cls):
    geo = get_geometry(geometry)
    shape = geo.shape if geo.shape is not None else (geo.n_voxels,)
    extra = {"noise_dim": 4, "latent_dim": 2} if cls is BIBAE else {"noise_dim": 4}
    model = cls(shape, 2, {**cls.default_config, "width": 4, **extra}, geo)
    out = model.sample(torch.zeros(3, 2), torch.Generator().manual_seed(0))
    assert out.shape == (3,) + tuple(shape)
    assert (out >= 0).all()


def test_resnet_critic_option_and_parameter_count():
    conv = WGAN((1, 10, 10), 1, {**WGAN.default_config, "width": 8, "critic": "conv"})
    res = WGAN((1, 10, 10), 1, {**WGAN.default_config, "width": 8, "critic": "resnet"})
    assert conv.n_parameters() > 0 and res.n_parameters() > 0
    assert any(isinstance(m, torch.nn.GroupNorm) and m.num_groups == m.num_channels for m in res.critic.modules())


def test_postprocessor_acts_per_cell():
    pp = PostProcessor(n_cond=1, width=8)
    torch.nn.init.normal_(pp.cells[-1].weight)         # make it non-trivial
    x = torch.rand(2, 30)
    cond = torch.zeros(2, 1)
    base = pp(x, cond)
    # a cell's output depends on its own value and the (sum, label) conditioning only: permuting
    # cells at fixed sum permutes the outputs
    perm = torch.randperm(30)
    assert torch.allclose(pp(x[:, perm], cond), base[:, perm], atol=1e-6)


def test_bibae_latent_critic_is_applied_per_dimension():
    m = BIBAE((1, 5, 5), 1, {**BIBAE.default_config, "width": 4, "latent_dim": 3, "noise_dim": 1})
    z = torch.randn(4, 3)
    per_dim = m.latent_critic(z.reshape(-1, 1)).reshape(4, 3).mean(dim=1)
    assert torch.allclose(m._latent_score(z), per_dim)
    assert m.latent_critic[0].in_features == 1


def test_kde_rejection_sampling_hits_the_requested_label():
    m = BIBAE((1, 5, 5), 1, {**BIBAE.default_config, "width": 4, "latent_dim": 1, "noise_dim": 1, "kde": True,
                             "kde_tolerance": 0.05})
    rng = np.random.default_rng(0)
    label = rng.normal(size=4000)
    latent = 2.0 * label + 0.1 * rng.normal(size=4000)   # latent strongly tied to the label
    m.kde_points = np.stack([latent, label], axis=1)
    target = torch.tensor([[-1.0], [0.0], [1.5]]).repeat_interleave(200, dim=0)
    draws = m._kde_draw(target, [0], torch.Generator().manual_seed(1))
    assert float((draws[:, 1] - target[:, 0]).abs().max()) < 0.05
    for t in (-1.0, 0.0, 1.5):
        sel = target[:, 0] == t
        assert abs(float(draws[sel, 0].mean()) - 2.0 * t) < 0.1   # the correlation is kept
    z = m._latent_for(target[:3], torch.Generator().manual_seed(2))   # the model's latents come from the KDE
    assert z.shape == (3, 1) and float(z[0, 0]) == pytest.approx(-2.0, abs=0.5)
