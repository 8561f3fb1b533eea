"""ID-GAN (information-distillation GAN) of the Belle II ECL thesis: a β-VAE's disentangled latent c plus nuisance
noise s drive a separate GAN generator, which is held to the frozen encoder by the information regulariser R_ID,
with energy and position regressor feedback.

W. Lee, D. Kim, S. Hong, H. Lee, "High-Fidelity Synthesis with Disentangled Representation", ECCV 2020,
arXiv:1910.01413, as used by J. Irakkathil Jabbar, "Fast Simulation of Electromagnetic Calorimeter Responses using
Deep Learning", PhD thesis, KIT (2022), Ch. 6 and Tables A.22–A.30.

Training (``epoch`` counted by the shared loop):

1. epochs < ``vae_epochs`` (thesis: about 280): the conditional β-VAE alone, loss = MSE per pixel + β KL
   (eq. 6.1, β = 0.01), Adam (0.9, 0.999) at 1e-4.
2. then the encoder is frozen and the GAN trains (eq. 6.2): min_G max_D L_GAN − λ R_ID with the standard GAN loss
   of eq. 6.3 (the generator's non-saturating form; the thesis does not say which), the generator input
   (s, c, labels) with s ~ N(0, 1) and c ~ q_φ(c | x) of the batch's real showers (the aggregate posterior),
   R_ID = E log q_φ(c | G(s, c)) (eq. 6.4, :func:`~hepgen.models.objectives.information_regulariser`) with
   λ = 1e-5, and the energy / position regressor feedback with κ_E = κ_P = 0.01. Adam (0, 0.999): generator
   1e-3, discriminator 5e-4, regressors 5e-5 (trained on real showers from the first epoch).

Not stated in the thesis, chosen here: the dimension of s (``noise_dim``), the batch size, LeakyReLU 0.2. hepgen
choice: showers preprocessed by dividing by the incident energy. Generation: c from the
:class:`~hepgen.models.latent_kde.LatentKDE` of the encoded training set within ``kde_tolerance`` of the requested
energy (or N(0, 1) with ``kde: false``), s ~ N(0, 1). Network sizes: :mod:`hepgen.models.crystal_nets` (the 30×30
tables A.22–A.26; on 5×5 and 10×10 the β-VAE of §6.2, A.27–A.30, and the VAE-WGAN's critic and decoder as
discriminator and generator, which the thesis does not give there).

>>> import torch
>>> m = IDGAN((1, 5, 5), n_cond=3, config={**IDGAN.default_config, "width": 0.1}).eval()
>>> m.sample(torch.zeros(4, 3)).shape
torch.Size([4, 1, 5, 5])
"""

from __future__ import annotations

import torch

from hepgen.models.crystal_nets import ID_GAN, ConvTrunk, DenseHead, ImageDecoder, tables_for
from hepgen.models.latent_kde import LatentKDE
from hepgen.models.layers import standard_normal
from hepgen.models.objectives import (discriminator_bce_loss, generator_bce_loss, information_regulariser,
                                      kl_divergence, optimizer_step)
from hepgen.models.registry import GenerativeModel, register_model
from hepgen.models.regressors import FeedbackRegressors
from hepgen.models.vae_wgan import LATENT_KDE_CONFIG, LatentModelMixin

__all__ = ["IDGAN"]


@register_model("id-gan")
class IDGAN(LatentModelMixin, GenerativeModel):
    """ID-GAN (module docstring); ``params`` default to the thesis's Chapter 6 values."""

    tiny_config = {"width": 0.1, "latent_dim": 3, "noise_dim": 2, "vae_epochs": 0, "regressor_arch": "compact",
                   "fallback_width": 4}
    default_config = {
        "latent_dim": 10,            # c: "ten variables" (Linear 20 = μ and log σ²)
        "noise_dim": 10,             # s (not stated)
        "width": 1.0,                # channel multiplier of the thesis's tables (crystal_nets)
        "fallback_width": 16,        # grids without a thesis table: shared GridEncoder / GridDecoder width
        "vae_epochs": 280,
        "beta": 0.01,                # β of the β-VAE (eq. 6.1)
        "lambda_id": 1e-5,           # λ of R_ID (eq. 6.2)
        "kappa_e": 0.01,
        "kappa_p": 0.01,
        "lr_vae": 1e-4,
        "lr_generator": 1e-3,
        "lr_discriminator": 5e-4,
        "lr_regressor": 5e-5,
        "regressor_arch": "thesis",  # thesis | compact
        **LATENT_KDE_CONFIG,
        "preprocessing": [{"name": "divide_by_incident"}],
    }

    def __init__(self, data_shape, n_cond, config, geometry=None) -> None:
        super().__init__(data_shape, n_cond, config, geometry)
        c = self.config
        tables = tables_for(self.data_shape, ID_GAN)
        w, fw, d = float(c["width"]), int(c["fallback_width"]), int(c["latent_dim"])
        self.encoder_trunk = ConvTrunk(self.data_shape, tables and tables["encoder"], w, fw)
        self.encoder_head = DenseHead(self.encoder_trunk.out_features + n_cond, tables["encoder_dense"] if tables
                                      else [], 2 * d)
        self.decoder = ImageDecoder(d + n_cond, self.data_shape, tables and tables["decoder"], w, fw)
        self.generator = ImageDecoder(int(c["noise_dim"]) + d + n_cond, self.data_shape,
                                      tables and tables["generator"], w, fw)
        disc = tables["discriminator"] if tables else {"layers": None, "dense": [64], "dense_act": "lrelu"}
        self.disc_trunk = ConvTrunk(self.data_shape, disc["layers"], w, fw)
        self.disc_head = DenseHead(self.disc_trunk.out_features + n_cond, disc["dense"], 1, disc["dense_act"])
        self.regressors = FeedbackRegressors(self.data_shape, n_cond, float(c["kappa_e"]), float(c["kappa_p"]),
                                             c["regressor_arch"])
        self.kde = LatentKDE(c["kde_bandwidth"])

    # -- networks ------------------------------------------------------------------------------------------
    def discriminator(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.disc_head(self.disc_trunk(x), cond).squeeze(1)

    def generate(self, s: torch.Tensor, code: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.generator(torch.cat([s, code, cond], dim=1))

    def _noise(self, n: int, like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return standard_normal((n, int(self.config["noise_dim"])), like.device, like.dtype, generator)

    def sample(self, cond, generator=None):
        code = self.latent_for(cond, generator)
        return self.generate(self._noise(cond.shape[0], cond, generator), code, cond)

    def export_graph(self):
        """c (KDE or N(0, 1)) and s drawn outside; the generator is the graph."""
        from hepgen.models.export import ExportGraph, GraphModule

        def draw(cond, generator):
            code = self.latent_for(cond, generator)
            return [code, self._noise(cond.shape[0], code, generator)]

        return ExportGraph(GraphModule(self, lambda m, cond, code, s: m.generate(s, code, cond)), draw,
                           "noise_0: code c (the run's latent KDE in the energy window, or N(0, 1)); "
                           "noise_1: nuisance noise s ~ N(0, 1)")

    # -- training ------------------------------------------------------------------------------------------
    def configure_optimizers(self):
        c = self.config
        vae = (list(self.encoder_trunk.parameters()) + list(self.encoder_head.parameters())
               + list(self.decoder.parameters()))
        disc = list(self.disc_trunk.parameters()) + list(self.disc_head.parameters())
        gan = {"betas": (0.0, 0.999)}
        opts = {"vae": torch.optim.Adam(vae, lr=c["lr_vae"], betas=(0.9, 0.999)),
                "generator": torch.optim.Adam(self.generator.parameters(), lr=c["lr_generator"], **gan),
                "discriminator": torch.optim.Adam(disc, lr=c["lr_discriminator"], **gan)}
        for name, reg in self.regressors.regressors().items():
            opts[name] = torch.optim.Adam(reg.parameters(), lr=c["lr_regressor"], **gan)
        return opts

    def before_training(self, data):
        """Regressor input scale and the decoder's and generator's output scales
        (:meth:`~hepgen.models.crystal_nets.ImageDecoder.match_output_scale`) from the training set."""
        x, cond = data["x"][:20000].to(self.device), data["cond"][:20000].to(self.device)
        self.regressors.set_input_scale(self.to_physical(x, cond))
        n, d = min(len(x), 1000), int(self.config["latent_dim"])
        z = standard_normal((n, d), x.device, x.dtype)
        self.decoder.match_output_scale(torch.cat([z, cond[:n]], dim=1), float(x[:n].mean()))
        self.generator.match_output_scale(torch.cat([self._noise(n, x), z, cond[:n]], dim=1), float(x[:n].mean()))

    def training_step(self, batch, optimizers, step, epoch):
        c = self.config
        x, cond = batch["x"], batch["cond"]
        real_phys = self.to_physical(x, cond)
        out = dict(self.regressors.fit_step(real_phys, cond, optimizers))
        if epoch < int(c["vae_epochs"]):   # step 1: the β-VAE
            mu, logvar = self.encode(x, cond)
            recon = torch.mean((self.decoder(torch.cat([self.reparameterise(mu, logvar), cond], 1)) - x) ** 2)
            kl = kl_divergence(mu, logvar)
            out["vae"] = optimizer_step(recon + float(c["beta"]) * kl, optimizers["vae"])
            out.update(recon=recon.detach(), kl=kl.detach())
            return out
        with torch.no_grad():              # step 2: the encoder is frozen; c ~ q(c | x) of real showers
            code = self.reparameterise(*self.encode(x, cond))
        fake = self.generate(self._noise(len(x), x), code, cond)
        loss_d = discriminator_bce_loss(self.discriminator(x, cond), self.discriminator(fake.detach(), cond))
        out["discriminator"] = optimizer_step(loss_d, optimizers["discriminator"])
        mu_f, logvar_f = self.encode(fake, cond)
        r_id = information_regulariser(code, mu_f, logvar_f)
        feedback = self.regressors.feedback(real_phys, self.to_physical(fake, cond), cond, float(c["kappa_e"]),
                                            float(c["kappa_p"]))
        loss_g = generator_bce_loss(self.discriminator(fake, cond)) - float(c["lambda_id"]) * r_id + feedback
        out["generator"] = optimizer_step(loss_g, optimizers["generator"], counter=self.generator_steps)
        out.update(r_id=r_id.detach(), regressor_feedback=feedback.detach())
        return out
