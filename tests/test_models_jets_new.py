"""EPiC-FM, Jet-MAF and NF(cc) learn a toy; the warm-up + cosine schedule and AdamW of the shared loop; W1M picks
the best epoch of a jet model and generation uses it; MDMA's folded block equals the unfolded one."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import TINY_PARAMS, tiny_config, toy_jets
from hepgen.data import JetData
from hepgen.evaluate import quick_metrics
from hepgen.models.jet_gan import cardinality_of
from hepgen.models.registry import GenerativeModel, get_model_class
from hepgen.progress import set_quiet
from hepgen.training import train
from hepgen.training.kinds import JetKind
from hepgen.training.loop import Validate, Validation
from hepgen.training.run import RunDir, load_checkpoint, load_run_model
from hepgen.training.schedules import budget_cosine_factor, warmup_cosine_factor

set_quiet(True)
torch.set_num_threads(1)


def two_multiplicity_jets(n_jets: int, seed: int) -> JetData:
    """Jets of 2 or 4 particles (n_max 4): pt_rel = 1/n ± 0.02 (mean 0.5 or 0.25), eta, phi ~ N(0, 0.1). A model
    that ignores the multiplicity has a particle pt mean of 1/3 for both."""
    rng = np.random.default_rng(seed)
    p = np.zeros((n_jets, 4, 4), np.float32)
    for i, k in enumerate(rng.choice([2, 4], n_jets)):
        p[i, :k, 0], p[i, :k, 1] = rng.normal(0, 0.1, k), rng.normal(0, 0.1, k)
        p[i, :k, 2], p[i, :k, 3] = 1.0 / k + rng.normal(0, 0.02, k), 1
    return JetData(p)


def learn(name: str, params: dict, steps: int, labels=(), preprocessing=None):
    """Train ``name`` on the toy for ``steps`` batches of 64 (direct training steps); return (generated, reference)
    jets for the multiplicities (and masses) of 400 fresh toy jets."""
    torch.manual_seed(0)
    jets = two_multiplicity_jets(1024, 0)
    cls = get_model_class(name)
    cfg = {**cls.default_config, **params}
    prep = cfg.pop("preprocessing") if preprocessing is None else preprocessing
    kind = JetKind.fit(jets, prep, labels)
    arrays = kind.encode(jets)
    model = cls(kind.data_shape, kind.n_cond, cfg)
    model.set_data_kind(kind)
    opts = model.configure_optimizers()
    x, cond = torch.as_tensor(arrays["x"]), torch.as_tensor(arrays["cond"])
    g = torch.Generator().manual_seed(0)
    for step in range(steps):
        idx = torch.randint(0, len(x), (64,), generator=g)
        model.training_step({"x": x[idx], "cond": cond[idx]}, opts, step, 0)
    model.eval()
    ref = two_multiplicity_jets(400, 1)
    with torch.no_grad():
        out = model.sample(torch.as_tensor(kind.conditions(kind.conditions_of(ref))), torch.Generator().manual_seed(1))
    return kind.decode(out.numpy()), ref


def median_pt(jets: JetData, n: int) -> float:
    sel = jets.mask.sum(1) == n
    return float(np.median(jets.particles[sel][jets.mask[sel]][:, 2]))


@pytest.mark.parametrize("name, params, steps", [
    ("epic-fm", {"hidden": 16, "latent": 4, "layers": 2, "frequencies": 2, "steps": 5, "lr": 3e-3}, 300),
    ("jet-maf", {"transforms": 3, "hidden": [64], "lr": 3e-3}, 400),
    ("jet-flow", {"transforms": 2, "hidden": [32], "lr": 3e-3}, 200),
])
def test_new_jet_models_learn_the_pt_of_each_multiplicity(name, params, steps):
    gen, ref = learn(name, params, steps)
    np.testing.assert_array_equal(gen.mask.sum(1), ref.mask.sum(1))       # the multiplicities are the conditions
    # the particle pt_rel median is 0.5 for 2-particle and 0.25 for 4-particle jets (1/3 if n were ignored)
    assert median_pt(gen, 2) == pytest.approx(0.5, abs=0.06)
    assert median_pt(gen, 4) == pytest.approx(0.25, abs=0.04)


def test_mass_constraint_nf_cc_generates_the_conditioned_mass_closer():
    params = {"transforms": 2, "hidden": [32], "lr": 3e-3}
    errors = {}
    for lam in (0.0, 10.0):
        gen, ref = learn("jet-flow", {**params, "mass_constraint": lam}, 200, labels=["mass"],
                         preprocessing=[{"name": "standardize"}])
        m_gen, m_cond = gen.relative_jet_features()[:, 2], ref.relative_jet_features()[:, 2]
        errors[lam] = float(np.median(np.abs(m_gen - m_cond)))
    assert errors[10.0] < 0.95 * errors[0.0], errors                     # measured: 0.029 vs 0.032
    assert errors[10.0] < 0.5 * float(np.median(ref.relative_jet_features()[:, 2]))


def test_mass_constraint_without_the_mass_label_is_refused():
    from hepgen.errors import InputError

    m = get_model_class("jet-flow")((4, 4), 1, {**get_model_class("jet-flow").default_config, **TINY_PARAMS["jet-flow"],
                                                "mass_constraint": 10.0})
    batch = {"x": torch.zeros(2, 4, 4), "cond": torch.ones(2, 1)}
    with pytest.raises(InputError, match="labels: \\[mass\\]"):
        m.training_step(batch, m.configure_optimizers(), 0, 0)


def test_warmup_cosine_schedule_and_adamw_reach_every_model(tmp_path, monkeypatch):
    cls = get_model_class("jet-maf")
    seen = []
    original = cls.training_step

    def record(self, batch, optimizers, step, epoch):
        opt = getattr(optimizers["flow"], "optimizer", optimizers["flow"])   # Lightning's wrapper holds it
        group = opt.param_groups[0]
        seen.append((type(opt).__name__, group["lr"], group["weight_decay"]))
        return original(self, batch, optimizers, step, epoch)

    monkeypatch.setattr(cls, "training_step", record)
    cfg = tiny_config("jet-maf", batch_size=8, val_fraction=0.0, lr_schedule="warmup_cosine", warmup_steps=2,
                      optimizer="adamw", weight_decay=0.05)
    cfg["params"]["lr"] = 0.01
    train("jet-maf", toy_jets(32, 12), tmp_path / "run", cfg, max_epochs=2)      # 4 batches x 2 epochs
    assert [s[0] for s in seen] == ["AdamW"] * 8 and {s[2] for s in seen} == {0.05}
    expected = [0.01 * warmup_cosine_factor(k, 2, 8) for k in range(8)]
    np.testing.assert_allclose([s[1] for s in seen], expected, rtol=1e-12)
    assert expected[:3] == [0.005, 0.01, 0.01] and expected[-1] == pytest.approx(0.01 * (1 - np.cos(np.pi / 6)) / 2)


def test_budget_cosine_follows_the_larger_of_the_time_and_epoch_fractions(tmp_path, monkeypatch):
    """lr_schedule budget_cosine: at each batch lr = lr0 · ½ (1 + cos(π p)), p the larger of the fractions of
    max_epochs' batches and of max_time spent (Lightning's Timer, a total over resumes). The Timer is made to
    report half of a 100 s budget spent: batches 0-3 of 8 then run at p = 0.5, batches 5-7 at k / 8."""
    from lightning.pytorch.callbacks import Timer

    cls = get_model_class("jet-maf")
    seen = []
    original = cls.training_step

    def record(self, batch, optimizers, step, epoch):
        seen.append(getattr(optimizers["flow"], "optimizer", optimizers["flow"]).param_groups[0]["lr"])
        return original(self, batch, optimizers, step, epoch)

    monkeypatch.setattr(cls, "training_step", record)
    monkeypatch.setattr(Timer, "time_elapsed", lambda self, stage="train": 50.0)
    cfg = tiny_config("jet-maf", batch_size=8, val_fraction=0.0, lr_schedule="budget_cosine")
    cfg["params"]["lr"] = 0.01
    train("jet-maf", toy_jets(32, 12), tmp_path / "run", cfg, max_epochs=2, max_time=100)   # 4 batches x 2 epochs
    expected = [0.01 * budget_cosine_factor(max(k / 8, 0.5)) for k in range(8)]
    np.testing.assert_allclose(seen, expected, rtol=1e-12)
    assert seen[0] == pytest.approx(0.005) and seen[-1] == pytest.approx(0.01 * (1 + np.cos(7 * np.pi / 8)) / 2)
    seen.clear()
    monkeypatch.undo()
    monkeypatch.setattr(cls, "training_step", record)
    train("jet-maf", toy_jets(32, 12), tmp_path / "run2", cfg, max_epochs=2)                 # no wall clock
    np.testing.assert_allclose(seen, [0.01 * budget_cosine_factor(k / 8) for k in range(8)], rtol=1e-12)


class ScaledCopies(GenerativeModel):
    """Returns the validation jets with (eta, phi) scaled by ``self.factor``: the relative mass scales with it."""

    data_kind = "jets"

    def __init__(self, kind, reference):
        super().__init__(kind.data_shape, kind.n_cond, {})
        self.kind, self.reference, self.factor = kind, reference, 1.0

    def configure_optimizers(self):
        return {}

    def training_step(self, batch, optimizers, step, epoch):
        return {}

    def sample(self, cond, generator=None):
        p = self.reference.particles.copy()
        p[..., :2] *= self.factor
        return torch.as_tensor(self.kind.encode(JetData(p))["x"])


def test_w1m_validation_keeps_the_epoch_with_the_closest_mass(tmp_path):
    jets = toy_jets(200, 12, seed=3)
    kind = JetKind.fit(jets, [{"name": "standardize"}])
    run = RunDir(tmp_path / "run")
    run.create()
    (run.path / "checkpoints").mkdir(exist_ok=True)
    val = Validation(run, kind, Validate(quick_metrics), jets, every=1, seed=0)
    model, pl_module = ScaledCopies(kind, jets), torch.nn.Module()
    scores = []
    for epoch, factor in enumerate([1.5, 1.2, 1.03, 0.8, 1.1]):
        model.factor = factor
        metrics = val.metrics(model)
        assert list(metrics) == ["W1M"]
        scores.append(metrics["W1M"])
        val.keep_if_best(pl_module, epoch, {}, metrics)
    assert int(np.argmin(scores)) == 2 and scores[2] < 0.5 * min(scores[:2] + scores[3:])
    assert load_checkpoint(run.best)["epoch"] == 2


def test_jet_training_validates_by_w1m_and_generation_uses_the_best_epoch(tmp_path):
    cfg = tiny_config("epic-fm", batch_size=16, val_fraction=0.25, val_max=16)
    run = train("epic-fm", toy_jets(64, 12), tmp_path / "run", cfg, max_epochs=3, validation=quick_metrics)
    records = [json.loads(line) for line in RunDir(run).metrics.read_text().splitlines()]
    w1m = [r["W1M"] for r in records]
    assert len(w1m) == 3 and all(np.isfinite(w1m))
    best = load_checkpoint(RunDir(run).best)
    assert best["epoch"] == int(np.argmin(w1m)) and best["validation_score"] == pytest.approx(min(w1m))
    model = load_run_model(run)[0]
    assert model.hepgen_checkpoint.endswith("best.ckpt") and model.cardinality is not None


def test_mdma_block_with_folded_embedding_equals_the_unfolded_block():
    from hepgen.models.mdma import MDMABlock

    torch.manual_seed(0)
    block = MDMABlock(8, 24, 4, cond_dim=1)
    x, mf, cond = torch.randn(3, 7, 8), torch.randn(3, 8), torch.rand(3, 1)
    mask = torch.arange(7)[None] < torch.tensor([[7], [3], [1]])
    x = x * mask.unsqueeze(-1)
    y, m = block(x, mf, mask, cond)
    # the unfolded computation: hidden particle features h = fc0(σ(x)) attended and fed to fc1_x
    act = torch.nn.functional.leaky_relu
    h = block.fc0(act(x, 0.2))
    a = block.attn(block.norm(block.fc0(act(mf, 0.2))), h, mask) * torch.sigmoid(block.gate(cond))
    y_ref = (x + act(block.fc1_x(h) + block.fc1_mf(a).unsqueeze(1), 0.2)) * mask.unsqueeze(-1)
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(m, mf + block.fc2(act(a, 0.2)), atol=1e-5, rtol=1e-5)


def test_tnf_trains_its_prior_first_then_only_the_post_processor():
    cls = get_model_class("tnf")
    torch.manual_seed(0)
    jets = two_multiplicity_jets(64, 0)
    kind = JetKind.fit(jets, [{"name": "standardize"}])
    arrays = kind.encode(jets)
    model = cls(kind.data_shape, kind.n_cond, {**cls.default_config, **cls.tiny_config, "prior_epochs": 1})
    opts = model.configure_optimizers()
    batch = {"x": torch.as_tensor(arrays["x"]), "cond": torch.as_tensor(arrays["cond"])}

    def weights(net):
        return [p.detach().clone() for p in net.parameters()]

    prior, gen = weights(model.prior), weights(model.gen)
    # before the GAN stage the post-processor adds nothing: the model samples its prior
    cond = batch["cond"][:8]
    mask = torch.arange(model.data_shape[0]) < cardinality_of(cond, model.data_shape[0]).unsqueeze(1)
    x_prior = model.prior_sample(cond, mask.shape[1], torch.Generator().manual_seed(3)) * mask.unsqueeze(-1)
    assert torch.equal(model.generate(mask, cond, torch.Generator().manual_seed(3)), x_prior)
    assert set(model.training_step(batch, opts, 0, epoch=0)) == {"nll_per_dim"}
    assert any(not torch.equal(a, b) for a, b in zip(prior, model.prior.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(gen, model.gen.parameters()))
    prior = weights(model.prior)
    assert "loss_generator" in model.training_step(batch, opts, 1, epoch=1)
    assert all(torch.equal(a, b) for a, b in zip(prior, model.prior.parameters()))     # frozen
    assert any(not torch.equal(a, b) for a, b in zip(gen, model.gen.parameters()))
    assert model.n_parameters() == (sum(p.numel() for p in model.gen.parameters())
                                    + sum(p.numel() for p in model.prior.parameters()))
