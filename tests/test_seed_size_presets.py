"""The ``seed-size`` presets of the seed models (docs/seed_size_presets.md): every one resolves, builds on the
calochallenge-2 geometry and has the parameter count its source states (models are only built, never trained).

Sources: WGAN-GP and BIB-AE + Post-Processor of Buhmann et al., "Getting High: High Fidelity Simulation of High
Granularity Calorimeters with High Speed", arXiv:2005.05334 (S. Diefenbacher, PhD thesis, U. Hamburg 2022, Sec. 6.2,
6.3, App. A; the WGAN generator's 3.7 M weights are the paper's public code's count, the thesis gives none);
MDMA-GAN / MDMA-Flow of B. Käch, "Generative Modelling in High-Energy Physics", PhD thesis, U. Hamburg / DESY (2024),
Table 6.1 (139 k / 257 k) and Käch & Melzer-Pellmann, arXiv:2305.15254.
"""

from __future__ import annotations

import pytest
import torch

from hepgen.geometry import get_geometry
from hepgen.models.registry import get_model_class
from hepgen.training.config import config_presets, preset_or_file, resolve_config

torch.set_num_threads(1)
SEED_MODELS = ("wgan", "bibae", "mdma-calo-gan", "mdma-calo-flow")
N_MAX_HITS = 100   # the hit-cloud length does not change the MDMA parameter counts


def build(name: str, config):
    """The model of ``config`` (a preset name or a dict) on calochallenge-2 (voxels 45 x 16 x 9, or hit clouds)."""
    geometry = get_geometry("calochallenge-2")
    cls = get_model_class(name)
    shape, n_cond = ((N_MAX_HITS, 5), 3) if cls.data_kind == "points" else (tuple(geometry.shape), 1)
    torch.manual_seed(0)
    return cls(shape, n_cond, resolve_config(name, config)["params"], geometry).eval()


def parameters(*modules) -> int:
    """Parameters of the given networks (counted directly: the MDMA blocks use some layers' weights without calling
    the layers, so counting the modules that sampling calls would miss them)."""
    return sum(p.numel() for m in modules for p in m.parameters())


@pytest.mark.parametrize("name", SEED_MODELS)
def test_seed_size_preset_resolves_and_builds(name):
    assert "seed-size" in config_presets(name)
    cfg = preset_or_file(name, "seed-size")
    assert cfg["model"] == name and set(cfg) <= {"model", "params", "training", "preprocessing", "labels"}
    resolved = resolve_config(name, "seed-size")
    assert resolved["params"] == resolve_config(name, cfg)["params"]
    assert resolved["params"] != resolve_config(name)["params"]               # it changes something
    model = build(name, "seed-size")
    assert model.n_parameters() > build(name, None).n_parameters()           # larger than hepgen's default


def test_wgan_seed_size_matches_the_photon_wgan():
    p = resolve_config("wgan", "seed-size")
    assert (p["params"]["noise_dim"], p["params"]["n_critic"], p["params"]["lambda_gp"]) == (100, 5, 5.0)
    assert (p["params"]["lr_generator"], p["params"]["lr_critic"], p["params"]["constrainer_steps"]) == (1e-4, 1e-4,
                                                                                                          30000)
    assert (p["training"]["batch_size"], p["training"]["max_epochs"]) == (50, 20)
    # generator 3.7 M weights in the public code of arXiv:2005.05334 (the thesis states no count)
    assert parameters(build("wgan", "seed-size").generator) == pytest.approx(3.7e6, rel=0.05)


def test_bibae_seed_size_matches_the_photon_bibae():
    p = resolve_config("bibae", "seed-size")
    q = p["params"]
    assert (q["latent_dim"], q["noise_dim"], q["n_critic"]) == (24, 488, 5)
    assert (q["lr"], q["lr_latent_critic"], q["lr_decay"]) == (5e-4, 2e-3, 0.95)
    assert (q["beta_critic"], q["beta_latent_critic"], q["beta_kld"], q["beta_latent_mmd"]) == (1, 100, 0.05, 100)
    assert (q["pp_mode"], q["pp_start_epoch"], p["training"]["max_epochs"]) == ("parallel", 35, 39)
    assert (q["pp_mmd_alphas"], q["pp_top_n"], q["pp_window"], q["pp_stride"]) == ([200.0], 2000, 100, 50)
    assert not q["kde"] and q["train_cut_mev"] == 0.0 and p["training"]["batch_size"] == 8
    model = build("bibae", "seed-size")
    assert model.postprocessor is not None and model.n_parameters() > 2 * build("bibae", None).n_parameters()


def test_mdma_calo_gan_seed_size_has_the_thesis_generator_size():
    model = build("mdma-calo-gan", "seed-size")
    # Käch 2024, Table 6.1: 139 k (the generator's count, as in Table 5.5); one hidden width for both networks
    assert parameters(model.gen, model.gen_out) == pytest.approx(139e3, rel=0.10)
    default = build("mdma-calo-gan", None)
    assert parameters(default.gen, default.gen_out) < 0.25 * 139e3               # the CPU default is much smaller


def test_mdma_calo_flow_seed_size_has_the_thesis_size():
    model = build("mdma-calo-flow", "seed-size")
    assert model.n_parameters() == pytest.approx(257e3, rel=0.05)                 # Käch 2024, Table 6.1
