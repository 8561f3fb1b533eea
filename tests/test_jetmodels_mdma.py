"""MDMA block, jet data kind, cardinality KDE, MDMA-GAN train -> generate -> evaluate round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hepgen.data import read_jets, write_jets
from hepgen.errors import InputError
from hepgen.models.cardinality import CardinalityKDE
from hepgen.models.mdma import MDMABlock, MDMABody, MeanFieldAttention
from hepgen.training.kinds import JetKind, kind_from_state
from conftest import toy_jets

torch.set_num_threads(1)


def test_attention_equals_torch_multihead_attention():
    torch.manual_seed(0)
    att = MeanFieldAttention(16, 4)
    ref = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([att.q.weight, att.k.weight, att.v.weight]))
        ref.in_proj_bias.copy_(torch.cat([att.q.bias, att.k.bias, att.v.bias]))
        ref.out_proj.weight.copy_(att.out.weight)
        ref.out_proj.bias.copy_(att.out.bias)
    q, x = torch.randn(3, 16), torch.randn(3, 7, 16)
    mask = torch.rand(3, 7) > 0.3
    mask[:, 0] = True
    expected = ref(q[:, None], x, x, key_padding_mask=~mask)[0][:, 0]
    torch.testing.assert_close(att(q, x, mask), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("weightnorm", [False, True])
def test_block_is_permutation_equivariant_and_ignores_padding(weightnorm):
    torch.manual_seed(1)
    block = MDMABlock(8, 16, 4, cond_dim=2, weightnorm=weightnorm)
    x, mf, cond = torch.randn(2, 6, 8), torch.randn(2, 8), torch.randn(2, 2)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]]).bool()
    y, m = block(x, mf, mask, cond)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    yp, mp = block(x[:, perm], mf, mask[:, perm], cond)
    torch.testing.assert_close(yp, y[:, perm], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(mp, m, atol=1e-5, rtol=1e-5)
    x2 = x.clone()
    x2[0, 4:] = 1e3 * torch.randn(2, 8)               # change the padded particles only
    y2, m2 = block(x2, mf, mask, cond)
    torch.testing.assert_close(y2, y, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(m2, m, atol=1e-5, rtol=1e-5)
    assert torch.all(y[0, 4:] == 0)
    # the condition gates the mean field: another condition changes the output
    assert not torch.allclose(block(x, mf, mask, cond + 1)[1], m)


def test_body_is_permutation_invariant_in_mean_field():
    torch.manual_seed(2)
    body = MDMABody(3, 8, 16, 4, num_blocks=3, cond_dim=1, n_max=6)
    x, mask, cond = torch.randn(4, 6, 3), torch.ones(4, 6, dtype=torch.bool), torch.rand(4, 1)
    perm = torch.randperm(6)
    torch.testing.assert_close(body(x[:, perm], mask, cond)[1], body(x, mask, cond)[1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("prep", [[{"name": "standardize"}], [{"name": "boxcox"}, {"name": "standardize"}]])
def test_adapter_round_trip_and_scaling(prep):
    jets = toy_jets(50)
    a = JetKind.fit(jets, prep)
    arr = a.encode(jets)
    real = arr["x"][jets.mask][:, :3]
    np.testing.assert_allclose(real.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(real.std(0), 1, atol=1e-4)
    assert np.all(arr["x"][~jets.mask] == 0)
    np.testing.assert_allclose(arr["cond"][:, 0] * 30, jets.n_particles)
    b = kind_from_state(a.state())
    back = b.decode(arr["x"])
    np.testing.assert_allclose(back.particles, jets.particles, atol=1e-5)
    if len(prep) == 2:
        assert a.boxcox is not None and abs(a.boxcox) < 2


def test_adapter_decode_wraps_phi_sorts_and_clips():
    a = JetKind(3, [0, 0, 0], [1, 1, 1])
    x = np.array([[[0.1, 4.0, 0.2, 1], [0.2, -0.1, 0.5, 1], [0.3, 0.0, -0.1, 0]]], np.float32)
    out = a.decode(x).particles[0]
    np.testing.assert_allclose(out[:, 2], [0.5, 0.2, 0.0])
    np.testing.assert_allclose(out[1, 1], 4.0 - 2 * np.pi, rtol=1e-6)
    assert out[2].tolist() == [0, 0, 0, 0]
    # no constituent above its jet's pT, also after the inverse Box-Cox near its pole (lambda < 0: pole at 2)
    over = np.array([[[0.0, 0.0, 13.5, 1], [0.0, 0.0, 0.3, 1], [0.0, 0.0, 0.0, 0]]], np.float32)
    np.testing.assert_allclose(a.decode(over).particles[0, :, 2], [1.0, 0.3, 0.0], rtol=1e-6)
    over[0, 1, 2] = -1.0                                   # inv_boxcox(-1, -0.5) = 1.5 ** -2
    pole = JetKind(3, [0, 0, 0], [1, 1, 1], boxcox=-0.5).decode(over).particles[0, :, 2]
    np.testing.assert_allclose(pole, [1.0, 1.5 ** -2, 0.0], rtol=1e-6)
    # angles within the training particles' largest offsets once fitted (runs fitted before: unbounded)
    wide = np.array([[[9.3, -0.5, 0.4, 1], [-0.2, -2.5, 0.3, 1], [0.0, 0.0, 0.0, 0]]], np.float32)
    bounded = JetKind(3, [0, 0, 0], [1, 1, 1], angular_max=[0.85, 0.8]).decode(wide).particles[0]
    np.testing.assert_allclose(bounded[:2, :2], [[0.85, -0.5], [-0.2, -0.8]], rtol=1e-6)
    assert np.abs(a.decode(wide).particles[0, 0, 0]) == pytest.approx(9.3)
    jets = toy_jets(50)
    fitted = kind_from_state(JetKind.fit(jets, []).state())
    real = jets.particles[jets.mask]
    np.testing.assert_allclose(fitted.angular_max, np.abs(real[:, :2]).max(0), rtol=1e-6)


def test_adapter_errors():
    with pytest.raises(InputError, match="unknown transform"):
        JetKind.fit(toy_jets(5), [{"name": "log"}])
    a = JetKind.fit(toy_jets(5), [])
    with pytest.raises(InputError, match=r"multiplicities must be in \[1, 30\]"):
        a.encode_cond(np.array([0, 3]))
    with pytest.raises(InputError, match="particle slots"):
        a.encode(toy_jets(5, n_max=20))


def test_cardinality_kde_scott_bandwidth():
    from scipy.stats import gaussian_kde

    n = np.random.default_rng(0).integers(20, 80, 500)
    kde = CardinalityKDE(n, 150)
    assert kde.bandwidth == pytest.approx(np.sqrt(gaussian_kde(n.astype(float)).covariance[0, 0]))
    s = kde.sample(20000, seed=3)
    assert s.min() >= 1 and s.max() <= 150 and s.dtype == np.int64
    assert abs(s.mean() - n.mean()) < 0.5
    assert abs(s.std() - np.sqrt(n.var() + kde.bandwidth ** 2)) < 0.5
    assert CardinalityKDE(np.full(10, 30), 30).sample(5, seed=0).tolist() == [30] * 5


def test_mdma_gan_sample_uses_cardinality_and_buckets():
    from hepgen.models.mdma_gan import MDMAGAN

    cfg = {**MDMAGAN.default_config, "hidden_gen": 16, "hidden": 16, "heads_gen": 4, "heads": 4,
           "num_blocks_gen": 2, "bucket": 3}
    torch.manual_seed(0)
    m = MDMAGAN((30, 4), 1, cfg).eval()
    n = torch.tensor([5, 30, 1, 17, 9, 12, 30])
    x = m.sample((n / 30.0).unsqueeze(1), torch.Generator().manual_seed(1))
    assert x[..., 3].sum(1).tolist() == n.tolist()
    assert torch.all(x[..., :3][x[..., 3] == 0] == 0)
    assert torch.isfinite(x).all()
    # generator parameters at the thesis's JetNet150 settings (Käch 2024, Table 5.4; the thesis counts 111,443)
    assert 80_000 < MDMAGAN((150, 4), 1, MDMAGAN.default_config).n_parameters() < 120_000


def test_mdma_gan_train_generate_evaluate_cli(tmp_path):
    from typer.testing import CliRunner

    from hepgen.cli import app
    from hepgen.evaluate.jets import w1m

    write_jets(tmp_path / "train.h5", toy_jets(200, seed=1))
    (tmp_path / "cfg.yaml").write_text("params: {hidden_gen: 16, hidden: 16, heads_gen: 4, heads: 4, num_blocks_gen: 2}\n"
                                       "training: {batch_size: 32, num_threads: 1}\n")
    run = tmp_path / "run"
    r = CliRunner().invoke(app, ["--quiet", "train", "-d", str(tmp_path / "train.h5"), "-o", str(run), "-m", "mdma-gan",
                                 "-c", str(tmp_path / "cfg.yaml"), "--max-epochs", "2"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["--quiet", "generate", str(run), "-n", "300", "-o", str(tmp_path / "gen.h5"),
                                 "--batch-size", "128"])
    assert r.exit_code == 0, r.output
    gen, ref = read_jets(tmp_path / "gen.h5"), read_jets(tmp_path / "train.h5")
    assert len(gen) == 300 and gen.n_max == 30 and gen.jet_type == "t"
    assert abs(gen.n_particles.mean() - ref.n_particles.mean()) < 3      # multiplicities from the KDE
    assert np.all(np.diff(gen.particles[..., 2], axis=1)[gen.mask[:, 1:]] <= 0)   # ordered by pt_rel
    assert np.isfinite(w1m(ref, gen, 200, 2)[0])
    # the same command again refuses to overwrite; the seed makes generation reproducible
    with pytest.raises(InputError, match="exists"):
        CliRunner().invoke(app, ["generate", str(run), "-n", "300", "-o", str(tmp_path / "gen.h5")],
                           catch_exceptions=False)
    r = CliRunner().invoke(app, ["--quiet", "generate", str(run), "-n", "300", "-o", str(tmp_path / "gen2.h5"),
                                 "--batch-size", "128"])
    np.testing.assert_array_equal(read_jets(tmp_path / "gen2.h5").particles, gen.particles)
