"""BIB-AE with Post-Processor, optional latent KDE sampling and visible-energy conditioning.

Buhmann et al., "Getting High: High Fidelity Simulation of High Granularity Calorimeters with High Speed",
arXiv:2005.05334, and Buhmann et al., "Hadrons, better, faster, stronger", arXiv:2112.09709, as in
S. Diefenbacher, "Topics in Generative Modeling of Particle Physics Data", PhD thesis, U. Hamburg (2022),
Sec. 6.3, 7.3 and 8.2; BIB-AE framework arXiv:1912.00830. An encoder maps a shower and its
labels to a small Gaussian latent (μ, log σ²); the decoder takes that latent plus extra N(0, 1)
noise dimensions and the labels. Adversaries are WGAN-GP critics: the main critic sees
(image, difference) — (x, 0) for real, (x', x − x') for reconstructions — and the latent critic
judges each latent dimension separately against N(0, 1). KL and latent-MMD terms regularise the
latent. The :class:`~hepgen.models.postprocessor.PostProcessor` is trained from
``pp_start_epoch`` on, in parallel with the BIB-AE (photons) or with it frozen (pions).

Sampling draws the latent from N(0, 1) or, after training with ``kde: true``, from a Gaussian KDE
of the encoded training set with the labels inside the KDE, rejection-sampled to the requested
labels (:meth:`~hepgen.models.latent_kde.LatentKDE.sample_conditional`; ``kde_bandwidth`` is SciPy's bandwidth
factor). The pion upgrades (Sec. 7.3) are options:
``minibatch`` (minibatch discrimination in the critics), ``reset_critic`` (a second critic re-initialised
every epoch), ``pp_mode: frozen`` with the Post-Processor's extra losses, ``train_cut_mev``; the preset
``--config pion`` switches them on with the thesis's numbers (docs/pion_models.md). With
``labels: [visible_energy]`` the shower is finally rescaled so that the sum of cells above ``mip_cut_mev``
equals the requested (or KDE-drawn) visible energy: the test-beam model of Sec. 8.2, presets ``--config testbeam``
and ``testbeam-small`` (docs/testbeam_study.md); ``--config seed-size`` is the photon model at the paper's
size (docs/seed_size_presets.md).

>>> import torch
>>> cfg = {**BIBAE.default_config, "width": 8, "latent_dim": 2, "noise_dim": 2}
>>> BIBAE((1, 10, 10), n_cond=1, config=cfg).sample(torch.zeros(3, 1)).shape
torch.Size([3, 1, 10, 10])
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from hepgen.errors import InputError
from hepgen.models.latent_kde import LatentKDE
from hepgen.models.layers import (GridDecoder, GridEncoder, ShowerBatchStatistics, circular_dim, mlp, reinitialise,
                                  standard_normal)
from hepgen.models.objectives import kl_divergence, latent_mmd, optimizer_step, wasserstein_critic_loss
from hepgen.models.postprocessor import PostProcessor, postprocessor_loss
from hepgen.models.registry import GenerativeModel, register_model

__all__ = ["BIBAE"]


class DifferenceCritic(nn.Module):
    """Critic on a 2-channel input (image, difference): conv trunks on the image and on its log,
    a dense branch on the difference, and the labels (Diefenbacher 2022, Sec. 6.3); with ``minibatch`` also the
    pion critic's minibatch block on the image (:class:`~hepgen.models.layers.ShowerBatchStatistics`: per-shower
    sum and spread against the rest of the batch, linear and log; Sec. 7.3)."""

    def __init__(self, data_shape, n_cond: int, width: int, circ: int | None, minibatch: bool = False) -> None:
        super().__init__()
        n = math.prod(data_shape)
        self.img = GridEncoder(data_shape, width, 1, circ)
        self.log_img = GridEncoder(data_shape, width, 1, circ)
        self.diff = nn.Sequential(nn.Flatten(1), nn.Linear(n, 64), nn.LeakyReLU(0.2))
        self.cond = nn.Sequential(nn.Linear(n_cond, 64), nn.LeakyReLU(0.2))
        self.batch_stats = ShowerBatchStatistics(64) if minibatch else None
        n_batch = self.batch_stats.out_features if self.batch_stats is not None else 0
        self.head = mlp([self.img.out_features * 2 + 128 + n_batch, 128, 128, 1])

    def forward(self, pair: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        img, diff = pair[:, 0], pair[:, 1]
        feats = [self.img(img), self.log_img(torch.log(img.clamp_min(0) + 1e-3)), self.diff(diff), self.cond(cond)]
        if self.batch_stats is not None:
            feats.append(self.batch_stats(img))
        return self.head(torch.cat(feats, dim=1)).squeeze(1)


@register_model("bibae")
class BIBAE(GenerativeModel):
    """BIB-AE + Post-Processor; ``params`` defaults follow the photon model of Diefenbacher 2022, Sec. 6.3."""

    # seconds-long smoke-test sizes (contract test, GPU check)
    tiny_config = {"width": 8, "latent_dim": 3, "noise_dim": 4, "n_critic": 2, "pp_start_epoch": 0, "pp_top_n": 30,
                   "pp_window": 10, "pp_stride": 5, "pp_mmd_alphas": [4.0], "kde": True}
    default_config = {
        "latent_dim": 24,
        "noise_dim": 488,
        "width": 32,
        "light_output": False,     # skip the decoder's full-resolution block (faster sampling)
        "n_critic": 5,
        "lambda_gp": 10.0,
        "beta_critic": 1.0,
        "beta_latent_critic": 100.0,
        "beta_kld": 0.05,          # pion / test beam: 0.01
        "beta_latent_mmd": 100.0,
        "beta_reconstruction": 0.0,  # optional plain MSE (not in the papers)
        "lr": 5e-4,                # encoder, decoder, critic, post-processor (pion: 5e-5)
        "lr_latent_critic": 2e-3,  # pion: 2e-4
        "lr_decay": 0.95,          # per epoch (pion: 0.97)
        "betas": [0.5, 0.9],
        "reset_critic": False,     # pion: a second critic, re-initialised at every epoch start
        "reset_critic_mode": "reinitialise",  # reinitialise (thesis: weights and Adam state) | optimizer (Adam
                                   # state only: what the public pion script's weight_reset call amounts to)
        "minibatch": False,        # pion: minibatch discrimination (batch sums and spreads) in the critics
        "train_cut_mev": 0.0,      # pion: cells below this are set to 0 in training (0.1 MIP = 0.05 MeV)
        "pp_mode": "parallel",     # parallel (photons) | frozen (pions: only the PP trains) | off
        "pp_start_epoch": 1,
        "pp_width": 64,
        "pp_depth": 4,             # kernel-1 layers (pion code: 10 of width 128)
        "pp_mse": 1.0,
        "pp_mmd": 5.0,
        "pp_mmd_alphas": [200.0],  # kernel widths in 1/MeV^2 (photons 200; pions 40 and 4)
        "pp_top_n": 2000,
        "pp_window": 100,
        "pp_stride": 50,
        "pp_sorted": 0.0,          # pion: 10 (sorted MSE + MAE)
        "pp_batch": 0.0,           # pion: 1e-4
        "kde": False,              # sample the latent from a KDE of encoded training showers
        "kde_bandwidth": 0.1,
        "kde_max": 100000,
        "kde_tolerance": 0.05,     # accepted label distance, standardised log units
        "rescale_visible": True,   # with labels [visible_energy]: rescale to the requested E_vis
        "mip_cut_mev": 0.0,
        "preprocessing": [{"name": "divide_by_incident"}],
    }

    # Pion BIB-AE of arXiv:2112.09709 / Diefenbacher thesis Sec. 7.3 and App. A (docs/pion_models.md). Thesis:
    # Adam lr 5e-5 (latent critic 2e-4), x 0.97 per epoch, 5 critic updates, 37 epochs BIB-AE then 105 epochs
    # Post-Processor with the BIB-AE frozen; betas critic 1, latent critic 100, KLD 0.01, latent MMD 100; PP: MSE 1,
    # two sorted-kernel MMDs 5 each with alpha 40 and 4, sorted MSE and MAE 10, batch means 1e-4; KDE with h = 0.1
    # on 100k encoded showers; minibatch discrimination; resetting critic; cells below 0.1 MIP (0.05 MeV) cut.
    # Public script (the thesis is silent): latent 24 + 488 noise, lambda_gp 10, Adam betas (0.5, 0.9), batch 16,
    # sorted-MMD top 1000 / window 150 / stride 25, Post-Processor 10 kernel-1 layers of 128.
    # "pion-small": smaller networks and a short schedule for CPU budgets (hepgen's choice).
    config_presets = {
        "pion": {
            "params": {"latent_dim": 24, "noise_dim": 488, "n_critic": 5, "lambda_gp": 10.0, "beta_critic": 1.0,
                       "beta_latent_critic": 100.0, "beta_kld": 0.01, "beta_latent_mmd": 100.0, "lr": 5e-5,
                       "lr_latent_critic": 2e-4, "lr_decay": 0.97, "betas": [0.5, 0.9], "reset_critic": True,
                       "minibatch": True, "train_cut_mev": 0.05, "pp_mode": "frozen", "pp_start_epoch": 37,
                       "pp_width": 128, "pp_depth": 10, "pp_mse": 1.0, "pp_mmd": 5.0, "pp_mmd_alphas": [40.0, 4.0],
                       "pp_top_n": 1000, "pp_window": 150, "pp_stride": 25, "pp_sorted": 10.0, "pp_batch": 1e-4,
                       "kde": True, "kde_bandwidth": 0.1, "kde_max": 100000},
            "training": {"batch_size": 16, "max_epochs": 142},
        },
        "pion-small": {
            "params": {"latent_dim": 24, "noise_dim": 488, "width": 16, "n_critic": 5, "lambda_gp": 10.0,
                       "beta_critic": 1.0, "beta_latent_critic": 100.0, "beta_kld": 0.01, "beta_latent_mmd": 100.0,
                       "lr": 5e-5, "lr_latent_critic": 2e-4, "lr_decay": 0.97, "betas": [0.5, 0.9],
                       "reset_critic": True, "minibatch": True, "train_cut_mev": 0.05, "pp_mode": "frozen",
                       "pp_start_epoch": 8, "pp_width": 32, "pp_depth": 4, "pp_mse": 1.0, "pp_mmd": 5.0,
                       "pp_mmd_alphas": [40.0, 4.0], "pp_top_n": 1000, "pp_window": 150, "pp_stride": 25,
                       "pp_sorted": 10.0, "pp_batch": 1e-4, "kde": True, "kde_bandwidth": 0.1, "kde_max": 100000},
            "training": {"batch_size": 16, "max_epochs": 12},
        },
    }
    # Test-beam BIB-AE (Diefenbacher thesis Sec. 8.2 and App. A; docs/testbeam_study.md): the pion model on the
    # CALICE AHCAL 24 x 24 x 37 grid with the visible energy (GeV in the thesis; MeV here, log-standardised) as a
    # second label of encoder, decoder and critics, drawn at generation jointly with the latent from the KDE and
    # the output rescaled so that its cells above the 0.2 MIP cut (5.36 MeV) sum to it; 82 epochs BIB-AE then 19
    # epochs Post-Processor; PP kernel widths alpha 1 and 0.1 in 1/MIP^2 = 1/718.24 and 0.1/718.24 in 1/MeV^2
    # (1 MIP = 26.8 MeV); 0.2 MIP training cut. Otherwise the pion numbers. "testbeam-small": pion-small sizes, 5 epochs
    # BIB-AE + 1 epoch Post-Processor (the thesis's ratio 82 : 19 ~ 4 : 1; about 3 s per batch of 16 on one CPU thread
    # at 24 x 24 x 37, so that ~250 training showers per energy fit 15 minutes).
    _TESTBEAM = {"labels": ["visible_energy"]}
    _TB_PARAMS = {"train_cut_mev": 0.2 * 26.8, "mip_cut_mev": 0.2 * 26.8, "rescale_visible": True,
                  "pp_mmd_alphas": [1.0 / 26.8 ** 2, 0.1 / 26.8 ** 2]}
    config_presets["testbeam"] = {"params": {**config_presets["pion"]["params"], **_TB_PARAMS, "pp_start_epoch": 82},
                                  "training": {"batch_size": 16, "max_epochs": 101}, **_TESTBEAM}
    config_presets["testbeam-small"] = {"params": {**config_presets["pion-small"]["params"], **_TB_PARAMS,
                                                   "pp_start_epoch": 5},
                                        "training": {"batch_size": 16, "max_epochs": 6}, **_TESTBEAM}
    del _TESTBEAM, _TB_PARAMS
    # "seed-size": the photon BIB-AE + Post-Processor of E. Buhmann, S. Diefenbacher, E. Eren, F. Gaede,
    # G. Kasieczka, A. Korol, K. Krüger, "Getting High: High Fidelity Simulation of High Granularity Calorimeters
    # with High Speed", arXiv:2005.05334, as in S. Diefenbacher's thesis (U. Hamburg 2022) Sec. 6.3 and App. A
    # (docs/seed_size_presets.md). Thesis: latent 24 + 488 noise, Adam lr 5e-4 (encoder, decoder, critic, PP) and 2e-3
    # (latent critic), x 0.95 per epoch, 5 critic updates, 35 epochs BIB-AE then 4 epochs with the Post-Processor in
    # parallel; betas critic 1, latent critic 100, KLD 0.05, latent MMD 100; PP: MSE 1, sorted-kernel MMD 5 with
    # alpha 200 on the top 2000 hits, window 100, stride 50; latent sampled from N(0, 1) (no KDE, no training cut).
    # Public code of the paper (the thesis is silent): batch 8, lambda_gp 10, encoder convolutions of 8, 16, 32, 64
    # channels (width 128: 8, 16, 32, 64, 128 on calochallenge-2's five levels; decoder and critics share it),
    # Post-Processor of 6 kernel-1 layers of 128. No key: the code's dense layers (8000 -> 4000 -> 768 and back,
    # about 70 M of its weights), the critics' fixed 128 channels, the PP's 64-wide condition branch.
    # hepgen defaults (the thesis is silent): Adam betas (0.5, 0.9).
    config_presets["seed-size"] = {
        "params": {"latent_dim": 24, "noise_dim": 488, "width": 128, "n_critic": 5, "lambda_gp": 10.0,
                   "beta_critic": 1.0, "beta_latent_critic": 100.0, "beta_kld": 0.05, "beta_latent_mmd": 100.0,
                   "lr": 5e-4, "lr_latent_critic": 2e-3, "lr_decay": 0.95, "pp_mode": "parallel",
                   "pp_start_epoch": 35, "pp_width": 128, "pp_depth": 6, "pp_mse": 1.0, "pp_mmd": 5.0,
                   "pp_mmd_alphas": [200.0], "pp_top_n": 2000, "pp_window": 100, "pp_stride": 50, "kde": False},
        "training": {"batch_size": 8, "max_epochs": 35 + 4},
    }

    def __init__(self, data_shape, n_cond, config, geometry=None) -> None:
        super().__init__(data_shape, n_cond, config, geometry)
        c = self.config
        circ = circular_dim(geometry) if len(self.data_shape) == 3 else None
        self.encoder_trunk = GridEncoder(self.data_shape, c["width"], 1, circ)
        self.encoder_head = mlp([self.encoder_trunk.out_features + n_cond, 256, 2 * c["latent_dim"]])
        self.decoder = GridDecoder(c["latent_dim"] + c["noise_dim"] + n_cond, self.data_shape, c["width"], circ,
                                   c["light_output"])
        if c["reset_critic_mode"] not in ("reinitialise", "optimizer"):
            raise InputError(f"params: reset_critic_mode must be 'reinitialise' or 'optimizer', "
                             f"got '{c['reset_critic_mode']}'")
        self.critic = DifferenceCritic(self.data_shape, n_cond, c["width"], circ, c["minibatch"])
        self.reset_critic = (DifferenceCritic(self.data_shape, n_cond, c["width"], circ, c["minibatch"])
                             if c["reset_critic"] else None)
        self.latent_critic = mlp([1, 50, 100, 50, 1])
        self.postprocessor = (PostProcessor(n_cond, c["pp_width"], c["pp_depth"]) if c["pp_mode"] != "off"
                              else None)
        self.register_buffer("critic_steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("pp_active", torch.zeros((), dtype=torch.bool))
        self.kde = LatentKDE(c["kde_bandwidth"])   # fitted by after_training; its buffers are in the state dict
        self._fresh_reset_optimizer = False   # set by the epoch hook; the next step clears that Adam state

    # -- networks ---------------------------------------------------------------------------
    def encode(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder_head(torch.cat([self.encoder_trunk(x), cond], dim=1))
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar.clamp(-20, 10)

    def decode(self, z: torch.Tensor, cond: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = standard_normal((z.shape[0], self.config["noise_dim"]), z.device, z.dtype, generator)
        return torch.relu(self.decoder(torch.cat([z, noise, cond], dim=1)))

    def _latent_score(self, z: torch.Tensor) -> torch.Tensor:
        return self.latent_critic(z.reshape(-1, 1)).reshape(z.shape).mean(dim=1)

    # -- training ---------------------------------------------------------------------------
    def configure_optimizers(self):
        c = self.config
        betas = tuple(c["betas"])
        opts = {
            "autoencoder": torch.optim.Adam(list(self.encoder_trunk.parameters()) + list(self.encoder_head.parameters())
                                            + list(self.decoder.parameters()), lr=c["lr"], betas=betas),
            "critic": torch.optim.Adam(self.critic.parameters(), lr=c["lr"], betas=betas),
            "latent_critic": torch.optim.Adam(self.latent_critic.parameters(), lr=c["lr_latent_critic"], betas=betas),
        }
        if self.reset_critic is not None:
            opts["reset_critic"] = torch.optim.Adam(self.reset_critic.parameters(), lr=c["lr"], betas=betas)
        if self.postprocessor is not None:
            opts["postprocessor"] = torch.optim.Adam(self.postprocessor.parameters(), lr=c["lr"], betas=betas)
        return opts

    def lr_decay(self):
        return {k: self.config["lr_decay"] for k in ("autoencoder", "critic", "latent_critic", "reset_critic",
                                                     "postprocessor")}

    def on_train_epoch_end(self, epoch: int) -> None:
        """The resetting critic of the pion BIB-AE (Diefenbacher thesis Sec. 7.3): after every epoch all its
        weights are drawn anew (``reset_critic_mode: reinitialise``) and its Adam state is cleared at the next
        step (a fresh Adam; its learning rate keeps the per-epoch decay, as the public script's
        lr · γ^(epoch−1)). The main critic, the latent critic and the autoencoder are untouched. The loop calls
        this when the next epoch starts, also after a resume, so a resumed run resets as an uninterrupted one."""
        if self.reset_critic is None:
            return
        if self.config["reset_critic_mode"] == "reinitialise":
            reinitialise(self.reset_critic)
        self._fresh_reset_optimizer = True

    def _critic_update(self, critic, opt, x, recon, cond) -> torch.Tensor:
        real = torch.stack([x, torch.zeros_like(x)], dim=1)
        fake = torch.stack([recon, x - recon], dim=1)
        loss, w, _ = wasserstein_critic_loss(critic, real, fake, cond, weight=self.config["lambda_gp"])
        optimizer_step(loss, opt)
        return w.detach()

    def training_step(self, batch, optimizers, step, epoch):
        c = self.config
        x, cond = batch["x"], batch["cond"]
        if c["train_cut_mev"] > 0:   # the pion training cut, on the cells in MeV
            x = x * (self.to_physical(x, cond) >= c["train_cut_mev"]).to(x.dtype)
        if self._fresh_reset_optimizer and "reset_critic" in optimizers:
            opt = optimizers["reset_critic"]
            (opt.optimizer if hasattr(opt, "optimizer") else opt).state.clear()
            self._fresh_reset_optimizer = False
        out: dict[str, torch.Tensor] = {}
        use_pp = self.postprocessor is not None and epoch >= c["pp_start_epoch"]
        if use_pp and not bool(self.pp_active):
            self.pp_active.fill_(True)
        frozen = use_pp and c["pp_mode"] == "frozen"
        if not frozen:
            with torch.no_grad():
                mu, logvar = self.encode(x, cond)
                z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
                recon = self.decode(z, cond)
            out["critic_w"] = self._critic_update(self.critic, optimizers["critic"], x, recon, cond)
            if self.reset_critic is not None:
                out["reset_critic_w"] = self._critic_update(self.reset_critic, optimizers["reset_critic"], x, recon,
                                                            cond)
            prior = torch.randn_like(z)
            loss, lw, _ = wasserstein_critic_loss(self._latent_score, prior, z, weight=c["lambda_gp"])
            optimizer_step(loss, optimizers["latent_critic"], counter=self.critic_steps)
            out["latent_critic_w"] = lw.detach()
            if int(self.critic_steps) % c["n_critic"] != 0:
                return out
            mu, logvar = self.encode(x, cond)
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            recon = self.decode(z, cond)
            pair = torch.stack([recon, x - recon], dim=1)
            adv = -self.critic(pair, cond).mean()
            if self.reset_critic is not None:
                adv = adv - self.reset_critic(pair, cond).mean()
            terms = {
                "ae_critic": c["beta_critic"] * adv,
                "ae_latent_critic": -c["beta_latent_critic"] * self._latent_score(z).mean(),
                "ae_kld": c["beta_kld"] * kl_divergence(mu, logvar),
                "ae_latent_mmd": c["beta_latent_mmd"] * latent_mmd(z),
            }
            if c["beta_reconstruction"]:
                terms["ae_mse"] = c["beta_reconstruction"] * ((recon - x) ** 2).mean()
            optimizer_step(sum(terms.values()), optimizers["autoencoder"], counter=self.generator_steps)
            out.update({k: v.detach() for k, v in terms.items()})
            recon = recon.detach()
        else:
            with torch.no_grad():
                mu, logvar = self.encode(x, cond)
                recon = self.decode(mu + torch.randn_like(mu) * (0.5 * logvar).exp(), cond)
        if use_pp:
            pp = self.postprocessor(recon, cond)
            terms = postprocessor_loss(pp, recon, x, self.to_physical(pp, cond), self.to_physical(x, cond), c)
            optimizer_step(sum(terms.values()), optimizers["postprocessor"])
            out.update({k: v.detach() for k, v in terms.items()})
        return out

    # -- sampling ---------------------------------------------------------------------------
    def sample(self, cond, generator=None):
        z = self._latent_for(cond, generator)
        x = self.decode(z, cond, generator)
        if self.postprocessor is not None and bool(self.pp_active):
            x = self.postprocessor(x, cond)
        return x

    @property
    def kde_points(self) -> torch.Tensor | None:
        """The latent KDE's points [latent mean, conditions] (None before :meth:`after_training`); setting them
        (an (N, latent_dim + n_cond) array, or None) refits the KDE."""
        return self.kde.points if self.kde.fitted else None

    @kde_points.setter
    def kde_points(self, points) -> None:
        dev = self.device
        if points is None:
            self.kde.points = torch.zeros(0, 0, device=dev)
            self.kde.chol = torch.zeros(0, 0, device=dev)
        else:
            self.kde.fit(torch.as_tensor(points, dtype=torch.float32, device=dev))

    def _kde_draw(self, target: torch.Tensor, dims: list[int], generator: torch.Generator | None) -> torch.Tensor:
        """KDE draws (n, latent_dim + n_cond) whose label columns ``dims`` lie within ``kde_tolerance`` of
        ``target`` (n, len(dims)): the rejection sampling of Diefenbacher (2022), Sec. 7.3."""
        d = self.config["latent_dim"]
        return self.kde.sample_conditional(target, [d + k for k in dims], float(self.config["kde_tolerance"]),
                                           generator)

    def _latent_for(self, cond: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        d = self.config["latent_dim"]
        if self.config["kde"] and self.kde.fitted:
            draws = self._kde_draw(cond, list(range(cond.shape[1])), generator)
            return draws[:, :d].to(cond.device, cond.dtype)
        return standard_normal((cond.shape[0], d), cond.device, cond.dtype, generator)

    def sample_labels(self, incident_energy: np.ndarray, names: list[str], kind, generator=None
                      ) -> dict[str, np.ndarray]:
        """Draw missing conditioning labels (e.g. visible energy) jointly with the incident energy
        from the latent KDE (needs ``kde: true``)."""
        if not self.kde.fitted:
            raise InputError(f"labels {names} must be given: this run has no latent KDE (train with kde: true)")
        target = np.asarray(kind.encode_energy(incident_energy), dtype=np.float64)
        draws = self._kde_draw(torch.as_tensor(target[:, None], device=self.kde.points.device), [0], generator)
        cond = draws[:, self.config["latent_dim"]:].double().cpu().numpy()
        cond[:, 0] = target
        labels = kind.labels_of_conditions(cond)
        return {k: labels[k] for k in names}

    def postprocess_physical(self, showers):
        """Rescale each shower so that its cells above ``mip_cut_mev`` sum to the visible-energy label."""
        if not (self.config["rescale_visible"] and "visible_energy" in showers.labels):
            return showers
        cut = self.config["mip_cut_mev"]
        energy = np.where(showers.energy > cut, showers.energy, 0.0)
        total = energy.sum(axis=1)
        factor = np.divide(showers.labels["visible_energy"], total, out=np.ones_like(total), where=total > 0)
        showers.energy = (energy * factor[:, None]).astype(np.float32)
        return showers

    # -- after training: the latent KDE -----------------------------------------------------
    @torch.no_grad()
    def after_training(self, data):
        """Fit the latent KDE on (μ, conditions) of (up to ``kde_max``) encoded training showers (Sec. 7.3)."""
        if not self.config["kde"]:
            return {}
        n = int(self.config["kde_max"])
        x, cond = data["x"][:n], data["cond"][:n]
        dev = self.device
        mus = []
        for start in range(0, len(x), 512):
            cb = cond[start:start + 512].to(dev)
            mus.append(torch.cat([self.encode(x[start:start + 512].to(dev), cb)[0], cb], dim=1))
        return self.kde.fit(torch.cat(mus).float()).extra()

    def load_extra(self, extra):
        self.kde.load_extra(extra)   # older runs stored only the points: the kernel is refitted

    def export_graph(self):
        """Latent (N(0, 1) or the latent KDE) and decoder noise drawn outside; decoder and Post-Processor in
        the graph; the visible-energy rescaling (:meth:`postprocess_physical`) stays outside."""
        from hepgen.models.export import ExportGraph, GraphModule

        def draw(cond, generator):
            z = self._latent_for(cond, generator)
            return [z, torch.randn(z.shape[0], self.config["noise_dim"], generator=generator, dtype=z.dtype)]

        def network(m, cond, z, noise):
            x = torch.relu(m.decoder(torch.cat([z, noise, cond], dim=1)))
            if m.postprocessor is not None and bool(m.pp_active):
                x = m.postprocessor(x, cond)
            return x

        return ExportGraph(GraphModule(self, network), draw,
                           "noise_0: latent (N(0, 1) or the run's latent KDE, drawn outside); "
                           "noise_1: decoder noise; visible-energy rescaling is applied outside")
