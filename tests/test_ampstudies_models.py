"""GANplification GAN, VAE-GAN and the arrays adapter: shapes, dropout at sampling, training via the loop."""

import numpy as np
import pytest
import torch

from hepgen.errors import InputError
from hepgen.models.ganplify_gan import GANplifyGAN, roth_penalty
from hepgen.models.registry import get_model_class
from hepgen.models.vaegan import LocallyConnected2d, VAEGAN
from hepgen.training.adapters import ArrayAdapter, adapter_from_state

SMALL_GAN = {**GANplifyGAN.default_config, "width": 16, "noise_dim": 8, "layers": 3, "mbd_features": 4}


def test_registered():
    assert get_model_class("ganplify-gan") is GANplifyGAN
    assert get_model_class("vaegan") is VAEGAN


def test_dropout_stays_on_at_sampling():
    m = GANplifyGAN((2,), 0, SMALL_GAN).eval()
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    # same noise seed, but dropout masks come from the global stream: outputs differ
    torch.manual_seed(0)
    a = m.sample(torch.zeros(50, 0), g1)
    torch.manual_seed(1)
    b = m.sample(torch.zeros(50, 0), g2)
    assert a.shape == (50, 2)
    assert not torch.allclose(a, b)
    no_drop = GANplifyGAN((2,), 0, {**SMALL_GAN, "dropout": 0.0}).eval()
    torch.manual_seed(0)
    c = no_drop.sample(torch.zeros(5, 0), torch.Generator().manual_seed(3))
    torch.manual_seed(1)
    d = no_drop.sample(torch.zeros(5, 0), torch.Generator().manual_seed(3))
    assert torch.allclose(c, d)


def test_roth_penalty_zero_for_constant_discriminator():
    class Const(torch.nn.Module):
        def forward(self, x):
            return 0.0 * x.sum(dim=1) + 1.0
    x = torch.randn(8, 3)
    assert float(roth_penalty(Const(), x, x).detach()) == 0.0
    m = GANplifyGAN((3,), 0, SMALL_GAN)
    assert float(roth_penalty(m.discriminator, x, x + 1).detach()) > 0


def test_gan_training_step_updates_both_networks():
    m = GANplifyGAN((1,), 0, SMALL_GAN)
    opts = m.configure_optimizers()
    g0 = m.generator.out.weight.clone()
    d0 = m.discriminator.out.weight.clone()
    losses = m.training_step({"x": torch.randn(10, 1), "cond": torch.zeros(10, 0)}, opts, 0, 0)
    assert set(losses) == {"loss_d", "loss_g"} and all(np.isfinite(float(v)) for v in losses.values())
    assert not torch.equal(g0, m.generator.out.weight) and not torch.equal(d0, m.discriminator.out.weight)


def test_locally_connected_is_not_translation_invariant():
    torch.manual_seed(0)
    lc = LocallyConnected2d(1, 1, (6, 6), 1)
    x = torch.ones(1, 1, 6, 6)
    out = lc(x)[0, 0]
    assert torch.allclose(out, lc.weight[:, 0, 0].reshape(6, 6))      # kernel 1: one weight per pixel
    assert out.std() > 0


def test_vaegan_step_and_sample():
    m = VAEGAN((10, 10), 0, {**VAEGAN.default_config, "width": 4, "lr": 1e-3})
    opts = m.configure_optimizers()
    x = torch.rand(6, 10, 10)
    l0 = m.training_step({"x": x, "cond": torch.zeros(6, 0)}, opts, 0, 0)
    l1 = m.training_step({"x": x, "cond": torch.zeros(6, 0)}, opts, 1, 0)
    assert set(l0) == {"loss_d"} and set(l1) == {"loss_d", "loss_g", "kl"}     # two D steps per G step
    s = m.eval().sample(torch.zeros(7, 0))
    assert s.shape == (7, 10, 10) and float(s.min()) >= 0


def test_array_adapter_round_trip_and_errors():
    x = np.random.default_rng(1).gamma(2.0, 5.0, (20, 4, 4))
    a = ArrayAdapter.fit(x, "scale", repeat=2)
    enc = a.encode(x)
    assert enc["x"].shape == (40, 4, 4) and enc["cond"].shape == (40, 0)
    assert np.allclose(a.decode(enc["x"][:20]), x, rtol=1e-5)
    b = adapter_from_state(a.state())
    assert np.allclose(b.decode(enc["x"][:20]), x, rtol=1e-5)
    with pytest.raises(InputError, match="expected arrays of shape"):
        a.encode(np.zeros((3, 5)))
    with pytest.raises(InputError, match="scaling"):
        ArrayAdapter.fit(x, "bogus")
