"""The fully connected GAN of the GANplification study (A. Butter et al., "GANplifying event samples", arXiv:2008.06545;
S. Diefenbacher, "Topics in Generative Modeling of Particle Physics Data", PhD thesis, U. Hamburg (2022), Sec. 5.1).

Generator: 1000-dim uniform noise in [−1, 1], 7 dense layers of 256 ELU units with 50 % dropout that
stays **on at sampling** (it is part of the generator's randomness). Discriminator: minibatch
discrimination by the standard deviation over the batch of an embedding of the differences x − B
(kernel-1 convolutions = dense layers of 256, 256, m filters), concatenated with x and fed to a
7-layer LeakyReLU(0.01) network with 50 % dropout and a sigmoid output. The discriminator loss adds
the gradient regulariser of Roth et al. (arXiv:1705.09367) with the gradient taken in data units
(as the paper trained on raw points; on standardised camel points it was 16× too strong and the
discriminator learnt nothing); training points are smeared by U[−smear, smear] (data units). Adam(5e-5, β = 0.5,
0.9), batch 10,
lr × 0.9 every 1000 passes over the data. Used on arrays (``data_kind = "arrays"``).

>>> import torch
>>> m = GANplifyGAN((2,), 0, {**GANplifyGAN.default_config, "width": 16, "noise_dim": 8})
>>> m.eval().sample(torch.zeros(5, 0)).shape
torch.Size([5, 2])
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from hepgen.models.layers import MinibatchStatistics, uniform
from hepgen.models.objectives import discriminator_bce_loss, generator_bce_loss, optimizer_step, roth_penalty
from hepgen.models.registry import GenerativeModel, register_model

__all__ = ["GANplifyGAN"]


class Discriminator(nn.Module):
    def __init__(self, dim: int, width: int, m: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.mbd = MinibatchStatistics(dim, m, width)
        sizes = [dim + m] + [width] * (layers - 1)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(width, 1)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (n,); the sigmoid is in the loss."""
        h = torch.cat([x, self.mbd(x)], dim=1)
        for lin in self.hidden:
            h = F.dropout(F.leaky_relu(lin(h), 0.01), self.dropout, self.training)
        return self.out(h).squeeze(1)


class Generator(nn.Module):
    def __init__(self, noise_dim: int, dim: int, width: int, layers: int, dropout: float) -> None:
        super().__init__()
        sizes = [noise_dim] + [width] * (layers - 1)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(width, dim)
        self.dropout = dropout

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = z
        for lin in self.hidden:                  # dropout always active: also when sampling
            h = F.dropout(F.elu(lin(h)), self.dropout, training=True)
        return self.out(h)


@register_model("ganplify-gan")
class GANplifyGAN(GenerativeModel):
    """GANplification GAN for (N, d) points; ``params`` as in Diefenbacher 2022, Sec. 5.1, unless noted."""

    data_kind = "arrays"
    # seconds-long smoke-test sizes (contract test, GPU check)
    tiny_config = {'width': 8, 'noise_dim': 8, 'layers': 3, 'mbd_features': 4}
    default_config = {
        "noise_dim": 1000,
        "width": 256,
        "layers": 7,
        "mbd_features": 32,      # m, not stated in the paper
        "dropout": 0.5,          # generator, on at sampling
        "d_dropout": None,       # discriminator; None = same as the generator's (the paper: 0.5 in both)
        "gamma": 2.0,            # Roth regulariser weight (not stated in the paper; Roth et al. use 2), data units
        "smear": 0.1,            # uniform smearing of the training points, data units
        "lr": 5e-5,
        "betas": [0.5, 0.9],
        "lr_decay": 1.0,         # per loop epoch; the toy driver sets 0.9 ** (repeat / 1000)
    }

    def __init__(self, data_shape, n_cond, config, geometry=None) -> None:
        super().__init__(data_shape, n_cond, config, geometry)
        c = self.config
        dim = int(math.prod(self.data_shape))
        self.generator = Generator(int(c["noise_dim"]), dim, int(c["width"]), int(c["layers"]), float(c["dropout"]))
        d_dropout = c.get("d_dropout")
        self.discriminator = Discriminator(dim, int(c["width"]), int(c["mbd_features"]), int(c["layers"]),
                                           float(c["dropout"] if d_dropout is None else d_dropout))
        # 1/s of the adapter (set by the driver): converts the smearing width and the Roth gradient to data units
        self.register_buffer("smear_scale", torch.ones(dim))

    def set_data_scale(self, adapter) -> None:
        """Convert the smearing width from data units to the adapter's standardised units."""
        scale = torch.as_tensor(adapter.scale, dtype=self.smear_scale.dtype, device=self.smear_scale.device).reshape(-1)
        self.smear_scale.copy_(1.0 / scale.expand_as(self.smear_scale))

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = tuple(self.config["betas"])
        return {"generator": torch.optim.Adam(self.generator.parameters(), lr=self.config["lr"], betas=betas),
                "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=self.config["lr"], betas=betas)}

    def lr_decay(self) -> dict[str, float]:
        return {"generator": float(self.config["lr_decay"]), "discriminator": float(self.config["lr_decay"])}

    def _noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """U[−1, 1] noise on the model's device."""
        scale = self.smear_scale
        return uniform((n, int(self.config["noise_dim"])), scale.device, scale.dtype, generator) * 2 - 1

    def training_step(self, batch, optimizers, step, epoch):
        x = batch["x"].reshape(len(batch["x"]), -1)
        smear = float(self.config["smear"])
        if smear > 0:
            x = x + (torch.rand_like(x) * 2 - 1) * smear * self.smear_scale
        fake = self.generator(self._noise(len(x)))
        d_real, d_fake = self.discriminator(x), self.discriminator(fake.detach())
        loss_d = discriminator_bce_loss(d_real, d_fake)
        gamma = float(self.config["gamma"])
        if gamma > 0:
            loss_d = loss_d + 0.5 * gamma * roth_penalty(self.discriminator, x, fake, self.smear_scale)
        out = {"loss_d": optimizer_step(loss_d, optimizers["discriminator"])}
        d_gen = self.discriminator(self.generator(self._noise(len(x))))
        out["loss_g"] = optimizer_step(generator_bce_loss(d_gen), optimizers["generator"], counter=self.generator_steps)
        return out

    def sample(self, cond: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``len(cond)`` points (dropout active even in eval mode, as in the paper)."""
        with torch.no_grad():
            return self.generator(self._noise(len(cond), generator)).reshape((len(cond),) + self.data_shape)

    def export_graph(self):
        """Uniform noise (from ``generator``) and the always-on dropout masks drawn outside: the masks come
        from torch's global generator in the order and with the kernel (``bernoulli_(1 - p)``) of
        ``F.dropout`` on CPU, so ``torch.manual_seed`` fixes both paths alike."""
        from hepgen.models.export import ExportGraph, GraphModule

        gen = self.generator
        keep = 1.0 - gen.dropout

        def draw(cond, generator):
            noise = [self._noise(len(cond), generator)]
            for lin in gen.hidden if gen.dropout > 0 else ():  # F.dropout on CPU: empty_like(h).bernoulli_(1 - p)
                noise.append(torch.empty(len(cond), lin.out_features).bernoulli_(keep).div_(keep))
            return noise

        def network(m, cond, z, *masks):
            h = z
            for k, lin in enumerate(m.generator.hidden):
                h = F.elu(lin(h)) * masks[k] if masks else F.elu(lin(h))
            return m.generator.out(h).reshape((z.shape[0],) + m.data_shape)

        return ExportGraph(GraphModule(self, network), draw,
                           "noise_0: U(-1, 1) noise; noise_1..: dropout masks / (1 - p) (global torch generator)")
