"""GANplification GAN, VAE-GAN and the arrays data kind: shapes, dropout at sampling, training via the loop."""

import numpy as np
import pytest
import torch

from hepgen.errors import InputError
from hepgen.models.ganplify_gan import GANplifyGAN
from hepgen.models.objectives import roth_penalty
from hepgen.models.registry import get_model_class
from hepgen.models.vaegan import LocallyConnected2d, VAEGAN
from hepgen.training.kinds import ArrayKind, kind_from_state

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


def test_roth_penalty_is_taken_in_data_units():
    # D_z(z) = D_x(mu + s z): with inv_scale = 1/s the penalty on standardised z equals the data-unit one
    w = torch.tensor([0.7, -1.3])
    mu, s = torch.tensor([2.0, -1.0]), torch.tensor([4.0, 0.5])
    d_x = lambda x: (x * w).sum(dim=1) - 0.2
    d_z = lambda z: d_x(mu + s * z)
    z_real, z_fake = torch.randn(16, 2), torch.randn(16, 2) + 1
    data = roth_penalty(d_x, mu + s * z_real, mu + s * z_fake)
    torch.testing.assert_close(roth_penalty(d_z, z_real, z_fake, 1 / s), data)
    assert not torch.allclose(roth_penalty(d_z, z_real, z_fake), data, rtol=0.1)


def test_discriminator_separates_standardised_camel_with_default_gamma():
    # regression: with the gradient in standardised units the default gamma = 2 was 16x too strong on the
    # camel (std 4) and D stayed at 0.5 everywhere; in data units it separates the modes from the valley
    torch.manual_seed(0)
    m = GANplifyGAN((1,), 0, {**SMALL_GAN, "width": 32, "mbd_features": 8, "layers": 4, "d_dropout": 0.0})
    m.smear_scale.fill_(0.25)                                  # adapter scale s = 4 (camel std)
    opt = torch.optim.Adam(m.discriminator.parameters(), lr=5e-4, betas=(0.5, 0.9))
    rng = np.random.default_rng(0)
    real_all = torch.tensor((np.where(rng.uniform(size=100) < 0.5, -4, 4) + rng.normal(size=100)) / 4,
                            dtype=torch.float32)[:, None]
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    for _ in range(300):
        real, fake = real_all[torch.randint(0, 100, (10,))], torch.randn(10, 1) * 0.3
        dr, df = m.discriminator(real), m.discriminator(fake)
        loss = bce(dr, torch.ones_like(dr)) + bce(df, torch.zeros_like(df)) + \
            0.5 * m.config["gamma"] * roth_penalty(m.discriminator, real, fake, m.smear_scale)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        p = torch.sigmoid(m.discriminator(torch.tensor([[-1.0], [0.0], [1.0], [-1.0], [0.0], [1.0]])))
    assert float(p[[0, 2]].mean() - p[1]) > 0.15


def test_discriminator_dropout_set_apart_from_generator():
    m = GANplifyGAN((1,), 0, {**SMALL_GAN, "dropout": 0.1, "d_dropout": 0.5})
    assert m.generator.dropout == 0.1 and m.discriminator.dropout == 0.5
    assert GANplifyGAN((1,), 0, SMALL_GAN).discriminator.dropout == SMALL_GAN["dropout"]


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


def test_array_kind_round_trip_and_errors():
    x = np.random.default_rng(1).gamma(2.0, 5.0, (20, 4, 4))
    a = ArrayKind.fit(x, [{"name": "scale", "repeat": 2}])
    enc = a.encode(x)
    assert enc["x"].shape == (40, 4, 4) and enc["cond"].shape == (40, 0)
    assert np.allclose(a.decode(enc["x"][:20]), x, rtol=1e-5)
    b = kind_from_state(a.state())
    assert np.allclose(b.decode(enc["x"][:20]), x, rtol=1e-5)
    with pytest.raises(InputError, match="expected arrays of shape"):
        a.encode(np.zeros((3, 5)))
    with pytest.raises(InputError, match="scaling"):
        ArrayKind.fit(x, [{"name": "bogus"}])
