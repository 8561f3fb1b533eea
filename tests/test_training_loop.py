"""Shared training loop: resume equals uninterrupted training, kill + resume, NaN guard, budgets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from hepgen.data import ShowerData
from hepgen.models.registry import GenerativeModel, register_model
from hepgen.progress import set_quiet
from hepgen.training import TrainingDiverged, load_generator, train
from conftest import TINY_PARAMS
from hepgen.training.loop import parse_duration
from hepgen.training.run import RunDir

set_quiet(True)
torch.set_num_threads(1)
TINY_WGAN = {"params": TINY_PARAMS["wgan"],
             "training": {"batch_size": 25, "val_max": 50}}


def toy_showers(n: int = 200, seed: int = 0, geometry: str = "belle2-ecl-5x5") -> ShowerData:
    """Showers whose visible energy is ~ 0.9 E_inc spread over a Gaussian blob."""
    rng = np.random.default_rng(seed)
    e = np.exp(rng.uniform(np.log(1e3), np.log(1e4), n))
    profile = np.exp(-0.5 * ((np.arange(25) - 12) / 4.0) ** 2)
    energy = rng.gamma(2.0, 1.0, (n, 25)) * profile
    energy *= (0.9 * e / energy.sum(axis=1))[:, None]
    return ShowerData(e, energy, geometry)


def weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(RunDir(run).checkpoint, map_location="cpu", weights_only=False)["state_dict"]


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    data = toy_showers()
    cfg = {**TINY_WGAN, "params": {**TINY_WGAN["params"], "lr_decay": 0.5}}
    straight = train("wgan", data, tmp_path / "a", cfg, max_epochs=2, seed=3)
    part = train("wgan", data, tmp_path / "b", cfg, max_epochs=1, seed=3)
    assert json.loads((part / "state.json").read_text())["status"] == "finished"
    resumed = train("wgan", data, tmp_path / "b", max_epochs=2, seed=3)
    wa, wb = weights(straight), weights(resumed)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    epochs = [json.loads(line)["epoch"] for line in RunDir(resumed).metrics.read_text().splitlines()]
    assert epochs == [0, 1]
    opt = torch.load(RunDir(resumed).checkpoint, weights_only=False)["optimizer_states"]
    assert opt[0]["param_groups"][0]["lr"] == pytest.approx(1e-4 * 0.5)      # critic lr after one decay


def test_same_seed_reproduces_and_other_seed_differs(tmp_path):
    data = toy_showers(100)
    runs = [train("wgan", data, tmp_path / f"r{i}", TINY_WGAN, max_epochs=1, seed=s) for i, s in enumerate((1, 1, 2))]
    e = np.full(4, 5e3)
    a, b, c = (load_generator(r).sample(e, seed=0).energy for r in runs)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_killed_training_resumes_from_its_checkpoint(tmp_path):
    data_file = tmp_path / "train.h5"
    from hepgen.data import write_showers

    write_showers(data_file, toy_showers(200))
    run = tmp_path / "run"
    cfg = dict(TINY_WGAN, training={**TINY_WGAN["training"], "checkpoint_every_s": 0.0})
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    code = ("import json,sys; from hepgen.progress import set_quiet; set_quiet(True); "
            "from hepgen.training import train; "
            f"train('wgan', {str(data_file)!r}, {str(run)!r}, json.load(open({str(tmp_path / 'cfg.json')!r})), "
            "max_epochs=10000)")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    ckpt = RunDir(run).checkpoint
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (RunDir(run).metrics.is_file()
                                               and len(RunDir(run).metrics.read_text().splitlines()) >= 2):
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert ckpt.is_file(), "no checkpoint before the kill"
    killed_epoch = torch.load(ckpt, map_location="cpu", weights_only=False)["epoch"]
    assert killed_epoch >= 1
    train(None, data_file, run, max_epochs=killed_epoch + 2)
    assert torch.load(ckpt, map_location="cpu", weights_only=False)["epoch"] == killed_epoch + 2
    assert RunDir(run).state()["status"] == "finished"


@register_model("test-nan-toy")
class NanToy(GenerativeModel):
    """A linear generator whose loss turns NaN in its second epoch."""

    default_config = {"preprocessing": [{"name": "divide_by_incident"}]}

    def __init__(self, data_shape, n_cond, config, geometry=None):
        super().__init__(data_shape, n_cond, config, geometry)
        self.net = torch.nn.Linear(n_cond, int(np.prod(data_shape)))

    def configure_optimizers(self):
        return {"g": torch.optim.SGD(self.net.parameters(), lr=0.01)}

    def training_step(self, batch, optimizers, step, epoch):
        loss = ((self.sample(batch["cond"]) - batch["x"]) ** 2).mean()
        optimizers["g"].zero_grad()
        loss.backward()
        optimizers["g"].step()
        return {"mse": loss.detach() * (float("nan") if epoch >= 1 else 1.0)}

    def sample(self, cond, generator=None):
        return self.net(cond).reshape((cond.shape[0],) + self.data_shape)


def test_nan_loss_stops_with_clear_message_and_keeps_last_good_checkpoint(tmp_path):
    with pytest.raises(TrainingDiverged, match="loss 'mse' became nan at epoch 1"):
        train("test-nan-toy", toy_showers(100), tmp_path / "run", {"training": {"batch_size": 20}}, max_epochs=5)
    run = RunDir(tmp_path / "run")
    assert run.state()["status"] == "diverged"
    ckpt = torch.load(run.checkpoint, map_location="cpu", weights_only=False)
    assert ckpt["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())
    assert np.isfinite(load_generator(run.path).sample(np.full(3, 2e3)).energy).all()


def test_max_time_budget_stops_training(tmp_path):
    t0 = time.monotonic()
    run = train("wgan", toy_showers(200), tmp_path / "run", TINY_WGAN, max_epochs=100000, max_time="2s")
    assert time.monotonic() - t0 < 30
    assert 0 <= torch.load(RunDir(run).checkpoint, weights_only=False)["epoch"] < 100000


def test_parse_duration_and_bad_values():
    assert parse_duration("1.5h") == 5400.0
    assert parse_duration(12) == 12.0
    from hepgen.errors import InputError

    with pytest.raises(InputError, match="cannot read duration 'soon'"):
        parse_duration("soon")


def test_existing_run_refused_without_resume_and_other_model_refused(tmp_path):
    from hepgen.errors import InputError

    run = train("wgan", toy_showers(60), tmp_path / "run", TINY_WGAN, max_epochs=1)
    with pytest.raises(InputError, match="already holds a run"):
        train("wgan", toy_showers(60), run, resume=False)
    with pytest.raises(InputError, match="holds a 'wgan' run, not 'bibae'"):
        train("bibae", toy_showers(60), run)


def test_run_trained_before_a_new_hyperparameter_still_loads(tmp_path):
    import yaml

    from hepgen.training import load_generator

    run = train("wgan", toy_showers(60), tmp_path / "old", TINY_WGAN, max_epochs=1, seed=1)
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert "light_output" in config["params"]
    del config["params"]["light_output"]  # as written by a version without that option
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    sample = load_generator(run).sample(np.full(3, 5e3), seed=1)
    assert sample.energy.shape == (3, sample.geometry.n_voxels)


def test_best_validated_epoch_is_kept_and_used_for_generation(tmp_path):
    import torch

    from hepgen.training.run import RunDir, load_run_model

    from hepgen.evaluate import quick_metrics

    run = train("wgan", toy_showers(80), tmp_path / "run", TINY_WGAN, max_epochs=3, seed=2, validation=quick_metrics)
    records = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    scores = [np.mean([v for k, v in r.items() if k.startswith("sep_")]) for r in records]
    best = torch.load(RunDir(run).best, weights_only=False)
    assert best["epoch"] == int(np.argmin(scores)) and best["validation_score"] == pytest.approx(min(scores))
    model, _, _ = load_run_model(run)
    last, _, _ = load_run_model(run, which="last")
    weights = {k[len("model."):]: v for k, v in best["state_dict"].items() if k.startswith("model.")}
    assert all(torch.equal(model.state_dict()[k], w) for k, w in weights.items())
    if best["epoch"] != len(records) - 1:
        assert not all(torch.equal(last.state_dict()[k], w) for k, w in weights.items())


def test_moving_average_resumes_exactly_and_is_what_generates(tmp_path):
    from hepgen.training.config import resolve_config
    from hepgen.training.run import load_run_model

    assert resolve_config("calo-cfm")["training"]["ema_decay"] == 0.999      # the model's training default
    assert resolve_config("wgan")["training"]["ema_decay"] is None
    data = toy_showers()
    cfg = {**TINY_WGAN, "training": {**TINY_WGAN["training"], "ema_decay": 0.9}}
    straight = train("wgan", data, tmp_path / "a", cfg, max_epochs=2, seed=3)
    train("wgan", data, tmp_path / "b", cfg, max_epochs=1, seed=3)
    resumed = train("wgan", data, tmp_path / "b", max_epochs=2, seed=3)
    wa, wb = weights(straight), weights(resumed)
    assert wa.keys() == wb.keys() and "ema.n_averaged" in wa
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    assert int(wa["ema.n_averaged"]) == 2 * (180 // 25)      # one update per batch of both epochs (180 train)
    model, _, _ = load_run_model(straight, which="last")
    state = model.state_dict()
    averaged = {k[len("ema.module."):]: v for k, v in wa.items() if k.startswith("ema.module.")}
    assert averaged.keys() == state.keys()
    assert all(torch.equal(state[k], v) for k, v in averaged.items())
    trained = {k[len("model."):]: v for k, v in wa.items() if k.startswith("model.")}
    assert any(not torch.equal(trained[k], v) for k, v in averaged.items() if v.is_floating_point())


def test_moving_average_switched_on_for_a_run_saved_without_one(tmp_path):
    import yaml

    data = toy_showers(100)
    run = train("wgan", data, tmp_path / "r", TINY_WGAN, max_epochs=1, seed=1)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["training"]["ema_decay"] = 0.5
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    train("wgan", data, run, max_epochs=2, seed=1)
    w = weights(run)
    assert int(w["ema.n_averaged"]) == 90 // 25                        # counted from the resume on
    config["training"]["ema_decay"] = None                             # and off again
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    train("wgan", data, run, max_epochs=3, seed=1)
    assert not any(k.startswith("ema.") for k in weights(run))


def test_bad_moving_average_decay_is_refused_before_the_run_exists(tmp_path):
    from hepgen.errors import InputError

    for decay in (2, 1.0, "fast"):
        with pytest.raises(InputError, match=f"ema_decay must lie in \\(0, 1\\) or be null, got {decay!r}"):
            train("wgan", toy_showers(40), tmp_path / "run", {"training": {"ema_decay": decay}}, max_epochs=1)
        assert not (tmp_path / "run").exists()
