"""VAE-WGAN of the Belle II ECL thesis: encoder + decoder/generator + WGAN-GP critic + energy (and position)
regressor, cyclical β annealing, the mutual-information term and KDE latent sampling.

J. Irakkathil Jabbar, "Fast Simulation of Electromagnetic Calorimeter Responses using Deep Learning", PhD thesis,
KIT (2022), §4.3 (5×5), §5.2 (10×10), §5.3 (30×30), Tables A.6–A.21; VAE-GAN of Larsen et al., "Autoencoding
beyond pixels using a learned similarity metric", arXiv:1512.09300; WGAN-GP of Gulrajani et al., arXiv:1704.00028;
cyclical annealing of Fu et al., arXiv:1903.10145; I_q of He et al., arXiv:1901.05534.

Training (``epoch`` counted by the shared loop):

1. epochs < ``vae_epochs`` (thesis: 50): the conditional VAE alone (encoder and decoder see the labels: E, and
   P_x, P_y when given), loss = MSE per pixel + β KL − γ I_q (eq. 4.3, signs as a minimisation: see the thesis
   report's note; γ = 0.6), β from :func:`~hepgen.models.objectives.cyclical_beta`; Adam at ``lr_vae``.
2. then the WGAN: the decoder is the generator, its latent the encoded real shower (reparameterised);
   critic loss eq. 3.4 (λ = 5, RMSProp), generator loss eq. 4.4 = −α E[C(G(z))] + κ_E L_E (+ κ_P L_P) + β KL
   with α = 7.5, κ_E = 0.0425 (RMSProp; the encoder keeps its Adam and is trained by the same loss). β keeps
   cycling until ``beta_fixed_after`` (thesis variant 1: about epoch 250, then 1; ``None``: variant 2, cyclic
   throughout). Step learning rates of §5.3 (``lr_generator_steps``, ``lr_critic_steps``).

The energy (and position) regressors (:class:`~hepgen.models.regressors.FeedbackRegressors`, Table A.3 / A.12 /
A.13 / A.17) train on real showers from the first epoch until ``regressor_epochs`` (thesis 250). The position
regressor is off by default (κ_P = 0): the thesis removed it for 5×5 (§3.4.2) and uses κ_P = 0.0425 on 10×10,
0.01 on 30×30. Not stated in the thesis, chosen here: critic steps per generator step (``n_critic``), LeakyReLU
slope 0.2, the KDE bandwidth (Scott's rule), the energy window (``kde_tolerance`` in standardised log-energy units).
hepgen choice: the showers are preprocessed by dividing by the incident energy (the thesis: GeV pixels).

Generation: z from the :class:`~hepgen.models.latent_kde.LatentKDE` of the encoded training set (latents and
conditions), drawn within ``kde_tolerance`` of the requested energy (§4.3.3, §5.3; ``kde: false`` or an unfitted
KDE: z ~ N(0, 1)), then the decoder. Network sizes: :mod:`hepgen.models.crystal_nets` (``width`` 1 = the thesis's).

>>> import torch
>>> m = VAEWGAN((1, 5, 5), n_cond=3, config={**VAEWGAN.default_config, "width": 0.1}).eval()
>>> m.sample(torch.zeros(4, 3)).shape
torch.Size([4, 1, 5, 5])
"""

from __future__ import annotations

import torch

from hepgen.models.crystal_nets import VAE_WGAN, ConvTrunk, DenseHead, ImageDecoder, tables_for
from hepgen.models.latent_kde import LatentKDE
from hepgen.models.layers import standard_normal
from hepgen.models.objectives import (cyclical_beta, kl_divergence, mutual_information, optimizer_step,
                                      step_learning_rate, wasserstein_critic_loss, wasserstein_generator_loss)
from hepgen.models.registry import GenerativeModel, register_model
from hepgen.models.regressors import FeedbackRegressors

__all__ = ["VAEWGAN", "LatentModelMixin", "LATENT_KDE_CONFIG"]

#: the latent-KDE settings of :class:`LatentModelMixin` (defaults of the models that use it)
LATENT_KDE_CONFIG = {
    "kde": True,
    "kde_bandwidth": None,       # None: Scott's factor
    "kde_tolerance": 0.05,       # window half-width on the KDE columns (standardised conditions)
    "kde_columns": [0],          # the energy
    "kde_max": 50000,
}


class LatentModelMixin:
    """Encoder, reparameterisation and KDE latent sampling shared by the Belle II latent models (VAE-WGAN,
    ID-GAN): needs ``self.encoder_trunk``, ``self.encoder_head``, ``self.kde`` and the config keys ``latent_dim``,
    ``kde``, ``kde_tolerance``, ``kde_columns``, ``kde_max``."""

    def encode(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, log σ²) of q(z | x, labels)."""
        mu, logvar = self.encoder_head(self.encoder_trunk(x), cond).chunk(2, dim=1)
        return mu, logvar.clamp(-20, 10)

    @staticmethod
    def reparameterise(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        return mu + standard_normal(mu.shape, mu.device, mu.dtype) * (0.5 * logvar).exp()

    def latent_for(self, cond: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Latents for preprocessed conditions: the KDE within the energy window, or N(0, 1)."""
        d = int(self.config["latent_dim"])
        if self.config["kde"] and self.kde.fitted:
            cols = [int(c) for c in self.config["kde_columns"]]
            draws = self.kde.sample_window(cond[:, cols], [d + c for c in cols], float(self.config["kde_tolerance"]),
                                           generator)
            return draws[:, :d].to(cond.device, cond.dtype)
        return standard_normal((cond.shape[0], d), cond.device, cond.dtype, generator)

    @torch.no_grad()
    def after_training(self, data):
        """Fit the latent KDE on (z, conditions) of the encoded training set (z drawn from q(z | x))."""
        if not self.config["kde"]:
            return {}
        n = int(self.config["kde_max"])
        x, cond = data["x"][:n], data["cond"][:n]
        dev = self.device
        was = self.training
        self.eval()
        zs = []
        for start in range(0, len(x), 1024):
            xb, cb = x[start:start + 1024].to(dev), cond[start:start + 1024].to(dev)
            zs.append(torch.cat([self.reparameterise(*self.encode(xb, cb)), cb], dim=1))
        self.train(was)
        return self.kde.fit(torch.cat(zs).float()).extra()

    def load_extra(self, extra):
        self.kde.load_extra(extra)

    def _export_decoder(self, decode):
        from hepgen.models.export import ExportGraph, GraphModule

        def draw(cond, generator):
            return [self.latent_for(cond, generator)]

        return ExportGraph(GraphModule(self, lambda m, cond, z: decode(m, z, cond)), draw,
                           "noise_0: latent (the run's latent KDE in the energy window, or N(0, 1); drawn outside)")


@register_model("vae-wgan")
class VAEWGAN(LatentModelMixin, GenerativeModel):
    """VAE-WGAN (module docstring); ``params`` default to the thesis's 5×5 values (Table A.19, §5.3)."""

    tiny_config = {"width": 0.1, "latent_dim": 3, "vae_epochs": 0, "n_critic": 1, "kappa_p": 0.01,
                   "regressor_arch": "compact", "fallback_width": 4}
    default_config = {
        "latent_dim": 10,            # "ten latent space variables" (Dense 20 = μ and log σ²)
        "width": 1.0,                # channel multiplier of the thesis's tables (crystal_nets)
        "fallback_width": 16,        # grids without a thesis table: shared GridEncoder / GridDecoder width
        "vae_epochs": 50,
        "gamma_mi": 0.6,             # γ of the I_q term
        "beta_max": 1.0,
        "beta_period": 10,           # epochs per annealing cycle (not stated; Figure 4.8 shows several cycles)
        "beta_ratio": 0.5,           # fraction of a cycle with rising β (Fu et al.'s R)
        "beta_fixed_after": 250,     # variant 1; None: variant 2 (cyclic throughout)
        "alpha": 7.5,
        "kappa_e": 0.0425,
        "kappa_p": 0.0,              # 10×10: 0.0425; 30×30: 0.01
        "lambda_gp": 5.0,
        "n_critic": 5,               # not stated ("a few times")
        "lr_vae": 1e-5,
        "lr_generator": 1e-3,
        "lr_critic": 5e-4,
        "lr_regressor": 5e-5,
        "lr_generator_steps": [[70, 5e-4], [90, 2e-4], [100, 1e-4]],
        "lr_critic_steps": [[60, 2e-4], [80, 1e-4], [100, 5e-5]],
        "regressor_epochs": 250,
        "regressor_arch": "thesis",  # thesis | compact
        **LATENT_KDE_CONFIG,
        "preprocessing": [{"name": "divide_by_incident"}],
    }

    def __init__(self, data_shape, n_cond, config, geometry=None) -> None:
        super().__init__(data_shape, n_cond, config, geometry)
        c = self.config
        tables = tables_for(self.data_shape, VAE_WGAN)
        w, fw, d = float(c["width"]), int(c["fallback_width"]), int(c["latent_dim"])
        self.encoder_trunk = ConvTrunk(self.data_shape, tables and tables["encoder"], w, fw)
        self.encoder_head = DenseHead(self.encoder_trunk.out_features + n_cond, [], 2 * d)
        self.decoder = ImageDecoder(d + n_cond, self.data_shape, tables and tables["decoder"], w, fw)
        critic = tables["critic"] if tables else {"layers": None, "dense": [64], "dense_act": "lrelu"}
        self.critic_trunk = ConvTrunk(self.data_shape, critic["layers"], w, fw)
        self.critic_head = DenseHead(self.critic_trunk.out_features + n_cond, critic["dense"], 1, critic["dense_act"])
        self.regressors = FeedbackRegressors(self.data_shape, n_cond, float(c["kappa_e"]), float(c["kappa_p"]),
                                             c["regressor_arch"])
        self.kde = LatentKDE(c["kde_bandwidth"])
        self.register_buffer("critic_steps", torch.zeros((), dtype=torch.long))

    # -- networks ------------------------------------------------------------------------------------------
    def critic(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.critic_head(self.critic_trunk(x), cond).squeeze(1)

    def decode(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([z, cond], dim=1))

    def sample(self, cond, generator=None):
        return self.decode(self.latent_for(cond, generator), cond)

    def export_graph(self):
        """Latent drawn outside (KDE or N(0, 1)); the decoder is the graph."""
        return self._export_decoder(lambda m, z, cond: m.decode(z, cond))

    # -- training ------------------------------------------------------------------------------------------
    def configure_optimizers(self):
        c = self.config
        enc = list(self.encoder_trunk.parameters()) + list(self.encoder_head.parameters())
        critic = list(self.critic_trunk.parameters()) + list(self.critic_head.parameters())
        opts = {"encoder": torch.optim.Adam(enc, lr=c["lr_vae"]),
                "decoder": torch.optim.Adam(self.decoder.parameters(), lr=c["lr_vae"]),
                "generator": torch.optim.RMSprop(self.decoder.parameters(), lr=c["lr_generator"]),
                "critic": torch.optim.RMSprop(critic, lr=c["lr_critic"])}
        for name, reg in self.regressors.regressors().items():   # RMSProp (energy), Adam (position): §5.3
            kind = torch.optim.RMSprop if name == "energy_regressor" else torch.optim.Adam
            opts[name] = kind(reg.parameters(), lr=c["lr_regressor"])
        return opts

    def before_training(self, data):
        """Regressor input scale and the decoder's output scale (:meth:`ImageDecoder.match_output_scale`) from
        the training set."""
        x, cond = data["x"][:20000].to(self.device), data["cond"][:20000].to(self.device)
        self.regressors.set_input_scale(self.to_physical(x, cond))
        n = min(len(x), 1000)
        z = standard_normal((n, int(self.config["latent_dim"])), x.device, x.dtype)
        self.decoder.match_output_scale(torch.cat([z, cond[:n]], dim=1), float(x[:n].mean()))

    def beta(self, epoch: int) -> float:
        c = self.config
        return cyclical_beta(epoch, float(c["beta_period"]), float(c["beta_ratio"]), float(c["beta_max"]),
                             fixed_after=c["beta_fixed_after"])

    def training_step(self, batch, optimizers, step, epoch):
        c = self.config
        x, cond = batch["x"], batch["cond"]
        out: dict[str, torch.Tensor] = {}
        real_phys = self.to_physical(x, cond)
        if epoch < int(c["regressor_epochs"]):
            out.update(self.regressors.fit_step(real_phys, cond, optimizers))
        beta = self.beta(epoch)
        mu, logvar = self.encode(x, cond)
        z = self.reparameterise(mu, logvar)
        kl = kl_divergence(mu, logvar)
        if epoch < int(c["vae_epochs"]):   # step 1: the VAE with cyclical β and the I_q term
            recon = torch.mean((self.decode(z, cond) - x) ** 2)
            iq = mutual_information(mu, logvar)
            loss = recon + beta * kl - float(c["gamma_mi"]) * iq
            optimizers["encoder"].zero_grad()
            out["vae"] = optimizer_step(loss, optimizers["decoder"], counter=self.generator_steps)
            optimizers["encoder"].step()
            out.update(recon=recon.detach(), kl=kl.detach(), iq=iq.detach())
            return out
        for name, key in (("generator", "lr_generator"), ("critic", "lr_critic")):
            lr = step_learning_rate(epoch, c[key], c[f"{key}_steps"])
            for group in optimizers[name].param_groups:
                group["lr"] = lr
        fake = self.decode(z, cond)
        loss_c, w_dist, gp = wasserstein_critic_loss(self.critic, x, fake.detach(), cond, weight=float(c["lambda_gp"]))
        optimizer_step(loss_c, optimizers["critic"], counter=self.critic_steps)
        out.update(wasserstein=w_dist.detach(), gradient_penalty=gp.detach())
        if int(self.critic_steps) % int(c["n_critic"]) == 0:
            loss_g = float(c["alpha"]) * wasserstein_generator_loss(self.critic(fake, cond)) + beta * kl
            feedback = self.regressors.feedback(real_phys, self.to_physical(fake, cond), cond,
                                                float(c["kappa_e"]), float(c["kappa_p"]))
            optimizers["encoder"].zero_grad()
            out["generator"] = optimizer_step(loss_g + feedback, optimizers["generator"], counter=self.generator_steps)
            optimizers["encoder"].step()
            out.update(kl=kl.detach(), regressor_feedback=feedback.detach())
        return out
