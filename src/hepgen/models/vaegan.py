"""VAE-GAN of Calomplification (S. Bieringer et al., "Calomplification — the power of generative calorimeter
models", JINST 17 (2022) P09028, arXiv:2202.07352) for unconditioned 10×10 calorimeter images.

Encoder: three convolutions (LeakyReLU, LeakyReLU, ReLU) and two linear heads (mean, log-variance).
Generator/decoder after LAGAN (arXiv:1701.05927): dense -> 5×5 -> upsample -> convolution and
*locally connected* layers (unshared weights per pixel) -> ReLU energies. Discriminator: spectral
norm (arXiv:1802.05957) on the convolution and dense layers (not on the locally connected one: one
norm over all pixels' kernels would shrink each), minibatch discrimination (Salimans et al.,
arXiv:1606.03498; features averaged over the batch so they stay in [0, 1]), and the difference
between the reconstructed and the input image as extra input to its final dense layer (zero for real
images). Loss (paper eq. 2.1): L_GAN + KL(q(z|x) | N(0, 1)); two discriminator steps per
generator+encoder step, non-saturating generator loss, one-sided label smoothing. Layer sizes are not
in the paper: chosen small. hepgen choices (paper silent), each needed for stable CPU training:
encoder and discriminator see log(1 + x / ``log_eps``) / log(1 + 1 / ``log_eps``) of the adapter-scaled
energies (0 to about 1); the difference input is |log difference| (a linear weight on the signed
difference rewards a shift of all pixels, not a reconstruction: E_vis ran off by 2-5x); D's last
layer also sees log E_vis (``sum_weight``), which a log image hides; with ``prior_fakes`` D also sees
decoded prior samples, the sampling path (see default_config). Two further hepgen additions, off by
default here and on in :func:`hepgen.amplify.calomplification.run_calomplification`: ``mbd_total`` (log
E_vis enters the minibatch discrimination, so D can see a too narrow E_vis spread) and ``evis_mmd`` (a
Gaussian-kernel MMD of log E_vis between generated and real batches in the generator loss); with both,
the E_vis amplification went from 2.8-3.9 to 12-24 after 40 CPU minutes (docs/history.md).

>>> import torch
>>> m = VAEGAN((10, 10), 0, dict(VAEGAN.default_config))
>>> x = m.eval().sample(torch.zeros(4, 0))
>>> x.shape, bool((x >= 0).all())
(torch.Size([4, 10, 10]), True)
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from hepgen.models.layers import MinibatchDiscrimination, standard_normal
from hepgen.models.objectives import bce_loss, discriminator_bce_loss, gaussian_mmd, generator_bce_loss, optimizer_step
from hepgen.models.registry import GenerativeModel, register_model

__all__ = ["VAEGAN", "LocallyConnected2d", "MinibatchDiscrimination"]

MMD_ALPHAS = (0.125, 0.5, 2.0, 8.0)   # kernels exp(−α Δ²) on sum_weight × log E_vis: widths 2 ... 0.25


class LocallyConnected2d(nn.Module):
    """Convolution with separate weights at every output pixel ('same' padding, stride 1).

    >>> LocallyConnected2d(2, 3, (10, 10), 3)(torch.zeros(5, 2, 10, 10)).shape
    torch.Size([5, 3, 10, 10])
    """

    def __init__(self, in_channels: int, out_channels: int, size: tuple[int, int], kernel_size: int = 3) -> None:
        super().__init__()
        self.size, self.k = tuple(size), kernel_size
        n_pix, fan_in = size[0] * size[1], in_channels * kernel_size ** 2
        self.weight = nn.Parameter(torch.randn(n_pix, fan_in, out_channels) / fan_in ** 0.5)
        self.bias = nn.Parameter(torch.zeros(out_channels, n_pix))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cols = F.unfold(x, self.k, padding=self.k // 2)                  # (n, fan_in, n_pix)
        out = torch.einsum("nfp,pfo->nop", cols, self.weight) + self.bias
        return out.reshape(x.shape[0], -1, *self.size)  # shape[0]: a dynamic batch in ONNX


class Encoder(nn.Module):
    def __init__(self, size: tuple[int, int], width: int, latent: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.LeakyReLU(0.2),
                                  nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
                                  nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU())
        n = 2 * width * ((size[0] + 1) // 2) * ((size[1] + 1) // 2)
        self.mean, self.logvar = nn.Linear(n, latent), nn.Linear(n, latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv(x).flatten(1)
        return self.mean(h), self.logvar(h).clamp(-10, 10)


class Decoder(nn.Module):
    def __init__(self, size: tuple[int, int], width: int, latent: int, u_max: float = float("inf")) -> None:
        super().__init__()
        self.size, self.half = size, ((size[0] + 1) // 2, (size[1] + 1) // 2)
        self.dense = nn.Sequential(nn.Linear(latent, 2 * width * self.half[0] * self.half[1]), nn.LeakyReLU(0.2))
        self.conv = nn.Conv2d(2 * width, width, 3, padding=1)
        self.lc1 = LocallyConnected2d(width, width // 2, size, 3)
        self.lc2 = LocallyConnected2d(width // 2, 1, size, 3)
        self.u_max = u_max

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.dense(z).reshape(z.shape[0], -1, *self.half)  # shape[0]: a dynamic batch in ONNX
        h = F.interpolate(h, size=self.size, mode="nearest")
        h = F.leaky_relu(self.conv(h), 0.2)
        h = F.leaky_relu(self.lc1(h), 0.2)
        out = F.relu(self.lc2(h))
        return out if math.isinf(self.u_max) else self.u_max * torch.tanh(out / self.u_max)   # softly capped


class Discriminator(nn.Module):
    def __init__(self, size: tuple[int, int], width: int, n_kernels: int, kernel_dim: int,
                 mbd_total: bool = False) -> None:
        super().__init__()
        n_pix = size[0] * size[1]
        self.mbd_total = mbd_total
        self.conv = spectral_norm(nn.Conv2d(1, width, 3, padding=1))
        self.lc = LocallyConnected2d(width, width // 2, size, 3)
        self.dense = spectral_norm(nn.Linear(width // 2 * n_pix, 64))
        self.mbd = MinibatchDiscrimination(64 + int(mbd_total), n_kernels, kernel_dim)
        self.out = spectral_norm(nn.Linear(64 + n_kernels + n_pix + 1, 1))

    def forward(self, x: torch.Tensor, diff: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.conv(x), 0.2)
        h = F.leaky_relu(self.lc(h), 0.2)
        h = F.leaky_relu(self.dense(h.flatten(1)), 0.2)
        total = total.reshape(-1, 1)
        mbd = self.mbd(torch.cat([h, total], dim=1) if self.mbd_total else h)
        return self.out(torch.cat([h, mbd, diff.flatten(1), total], dim=1)).squeeze(1)


@register_model("vaegan")
class VAEGAN(GenerativeModel):
    """VAE-GAN on (N, H, W) images (``data_kind = "arrays"``, adapter scaling ``"scale"``)."""

    data_kind = "arrays"
    tiny_config = {'width': 8}  # seconds-long smoke-test sizes (contract test, GPU check)
    default_config = {
        "latent_dim": 16,
        "width": 16,
        "mbd_kernels": 8,
        "mbd_dim": 4,
        "kl_weight": 1.0,        # eq. 2.1 has no coefficient
        "label_smoothing": 0.9,  # target of real images (value not stated in the paper)
        "log_eps": 1e-4,         # discriminator sees log(1 + x / log_eps)
        "lr": 8e-6,              # the paper's value (for 50k epochs); shorter runs need larger
        "betas": [0.5, 0.999],
        "d_steps": 2,            # discriminator steps per generator+encoder step
        "difference": "abs",     # D's extra input: |log-image difference| ("signed": the literal difference)
        "diff_weight": 1.0,      # factor on that input
        "log_output": False,     # True: the decoder's ReLU output is the log image (E_vis then swings by 10x)
        "sum_weight": 10.0,      # factor on the log image sum given to D's last layer (0: off)
        "mbd_total": False,      # hepgen addition: minibatch discrimination also sees that log sum, so that
                                 # D can tell a too narrow E_vis spread (partial collapse of the energy scale)
        "evis_mmd": 0.0,         # hepgen addition, 0 = off: weight of a Gaussian-kernel MMD between the log E_vis
                                 # of generated and real batches in the generator loss (as the BIB-AE
                                 # post-processor's MMD on energies, arXiv:2005.05334)
        "prior_fakes": True,     # hepgen addition: also show D images decoded from z ~ N(0, 1) (difference
                                 # input 0), so that the sampling path is trained adversarially; the
                                 # literal paper setup (False) lets D win on the difference input alone
    }

    def __init__(self, data_shape, n_cond, config, geometry=None) -> None:
        super().__init__(data_shape, n_cond, config, geometry)
        c, size = self.config, tuple(self.data_shape[-2:])
        self.encoder = Encoder(size, int(c["width"]), int(c["latent_dim"]))
        # log output: capped softly at 1.5 (100x the adapter scale), so that exp() cannot run away
        self.decoder = Decoder(size, int(c["width"]), int(c["latent_dim"]), 1.5 if c["log_output"] else float("inf"))
        self.discriminator = Discriminator(size, int(c["width"]), int(c["mbd_kernels"]), int(c["mbd_dim"]),
                                           bool(c.get("mbd_total", False)))

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        lr, betas = float(self.config["lr"]), tuple(self.config["betas"])
        gen = list(self.encoder.parameters()) + list(self.decoder.parameters())
        return {"generator": torch.optim.Adam(gen, lr=lr, betas=betas),
                "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=betas)}

    def _d_input(self, x: torch.Tensor) -> torch.Tensor:
        """Log image log(1 + x / eps) / log(1 + 1 / eps): 0 for empty pixels, about 1 at the scale."""
        eps = float(self.config["log_eps"])
        return torch.log1p(x.clamp_min(0) / eps) / math.log1p(1 / eps)

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder output as the discriminator's log image."""
        out = self.decoder(z)
        return out if self.config["log_output"] else self._d_input(out)

    def _to_image(self, log_img: torch.Tensor) -> torch.Tensor:
        eps = float(self.config["log_eps"])
        return torch.expm1(log_img * math.log1p(1 / eps)) * eps

    def _log_sum(self, img_in: torch.Tensor) -> torch.Tensor:
        """``sum_weight`` × log of the image sum (~E_vis) of log images (about 0.9 wide for GFlash photons)."""
        return torch.log(self._to_image(img_in).sum(dim=(1, 2, 3)) + 1e-3) * float(self.config["sum_weight"] or 1.0)

    def _d(self, img_in: torch.Tensor, diff: torch.Tensor) -> torch.Tensor:
        """Discriminator logit of log images; its last layer also sees the log of the image sum (~E_vis)."""
        total = self._log_sum(img_in) if self.config["sum_weight"] else \
            torch.zeros(len(img_in), dtype=img_in.dtype, device=img_in.device)
        return self.discriminator(img_in, diff, total)

    def _diff(self, fake_in: torch.Tensor, real_in: torch.Tensor) -> torch.Tensor:
        d = fake_in - real_in
        return float(self.config["diff_weight"]) * (d.abs() if self.config["difference"] == "abs" else d)

    def _reconstruct(self, real_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstructed log image from a log image (one latent sample per input) and the mean KL per example."""
        mean, logvar = self.encoder(real_in)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)        # one sample per input
        kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).sum(dim=1).mean()
        return self._decode(z), kl

    def training_step(self, batch, optimizers, step, epoch):
        x = batch["x"].reshape(len(batch["x"]), 1, *self.data_shape[-2:])
        real_in = self._d_input(x)
        fake_in, kl = self._reconstruct(real_in)
        d_real = self._d(real_in, torch.zeros_like(real_in))
        d_fake = self._d(fake_in.detach(), self._diff(fake_in, real_in).detach())
        smooth = float(self.config["label_smoothing"])
        loss_d = discriminator_bce_loss(d_real, d_fake, real_label=smooth)
        prior = bool(self.config["prior_fakes"])
        if prior:
            z = standard_normal((len(x), int(self.config["latent_dim"])), x.device, x.dtype)
            prior_in = self._decode(z)
            d_prior = self._d(prior_in.detach(), torch.zeros_like(prior_in))
            loss_d = loss_d + bce_loss(d_prior, 0.0)
        out = {"loss_d": optimizer_step(loss_d, optimizers["discriminator"])}
        if step % int(self.config["d_steps"]) == int(self.config["d_steps"]) - 1:
            d_gen = self._d(fake_in, self._diff(fake_in, real_in))
            loss_g = generator_bce_loss(d_gen)
            if prior:
                d_gp = self._d(prior_in, torch.zeros_like(prior_in))
                loss_g = loss_g + generator_bce_loss(d_gp)
            loss = loss_g + float(self.config["kl_weight"]) * kl
            w_mmd = float(self.config.get("evis_mmd") or 0.0)
            if w_mmd > 0:
                real_total = self._log_sum(real_in).detach()
                mmd = sum(gaussian_mmd(self._log_sum(f), real_total, MMD_ALPHAS)
                          for f in [fake_in] + ([prior_in] if prior else []))
                loss = loss + w_mmd * mmd
                out["evis_mmd"] = mmd.detach()
            optimizer_step(loss, optimizers["generator"], counter=self.generator_steps)
            out.update(loss_g=loss_g.detach(), kl=kl.detach())
        return out

    def sample(self, cond: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``len(cond)`` images, z ~ N(0, 1) (the prior), in the adapter's scaled units."""
        w = self.decoder.dense[0].weight                                   # the model's device and dtype
        z = standard_normal((len(cond), int(self.config["latent_dim"])), w.device, w.dtype, generator)
        with torch.no_grad():
            return self._to_image(self._decode(z)).reshape((len(cond),) + self.data_shape)

    def export_graph(self):
        """Latent z ~ N(0, 1) drawn outside; decoder and log-image inverse in the graph (no conditions)."""
        from hepgen.models.export import ExportGraph, GraphModule

        def draw(cond, generator):
            return [torch.randn(len(cond), int(self.config["latent_dim"]), generator=generator)]

        def network(m, cond, z):
            return m._to_image(m._decode(z)).reshape((z.shape[0],) + m.data_shape)

        return ExportGraph(GraphModule(self, network), draw, "noise_0: latent N(0, 1)")
