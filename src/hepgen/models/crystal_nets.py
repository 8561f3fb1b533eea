"""The network tables of the Belle II ECL models, built for any crystal-array size (not a registered model).

J. Irakkathil Jabbar, "Fast Simulation of Electromagnetic Calorimeter Responses using Deep Learning", PhD thesis,
KIT (2022), Appendix A: per array size (5×5, 10×10, 30×30) the layers of the VAE-WGAN (Tables A.1, A.2, A.6–A.9,
A.11, A.14–A.16) and of the ID-GAN (A.22–A.24, A.26–A.30). A table is a list of :data:`Layer` rows
``(op, channels, kernel, stride, padding, norm, activation)`` exactly as printed there (``"same"``/``"valid"``
are TensorFlow paddings, an int is PyTorch's); ``width`` multiplies every channel count but the output's
(1 = the thesis's sizes; smaller for CPU runs). Where the thesis gives no table (the ID-GAN's discriminator and
generator on 5×5 and 10×10) the VAE-WGAN's critic and decoder of that size stand in; grids without any table
(other geometries) get the shared :class:`~hepgen.models.layers.GridEncoder` / ``GridDecoder``. LeakyReLU slope
0.2 (not stated in the thesis).

Three building blocks, each taking or giving examples of the geometry's ``data_shape``:
:class:`ConvTrunk` (image -> features, then the labels are concatenated, as in every table),
:class:`DenseHead` and :class:`ImageDecoder` (vector -> dense layers -> reshape -> convolutions -> image).

>>> import torch
>>> enc = ConvTrunk((1, 5, 5), VAE_WGAN[(5, 5)]["encoder"], width=0.25)
>>> enc(torch.zeros(2, 1, 5, 5)).shape                     # Table A.6: 3×3×64 = 576 at width 1
torch.Size([2, 144])
>>> dec = ImageDecoder(13, (1, 5, 5), VAE_WGAN[(5, 5)]["decoder"], width=0.25)
>>> dec(torch.zeros(2, 13)).shape
torch.Size([2, 1, 5, 5])
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn

from hepgen.models.layers import GridDecoder, GridEncoder

__all__ = ["Layer", "VAE_WGAN", "ID_GAN", "ConvTrunk", "ImageDecoder", "DenseHead", "grid_of", "tables_for"]

#: (op "conv" | "tconv", out channels, kernel, stride, padding "same" | "valid" | int, norm "bn" | "ln" | None,
#: activation "lrelu" | "relu" | None)
Layer = tuple[str, int, int, int, Any, Any, Any]
LR, RE = "lrelu", "relu"

#: VAE-WGAN tables per (ny, nx): encoder convolutions (then labels, Dense 2 × latent), decoder (dense sizes,
#: reshape, convolutions; its input is z and the labels), critic (convolutions, then labels, dense sizes, 1)
VAE_WGAN: dict[tuple[int, int], dict[str, Any]] = {
    (5, 5): {
        "encoder": [("conv", 128, 2, 1, "valid", "bn", LR), ("conv", 64, 2, 1, "valid", "bn", LR)],      # A.6
        "decoder": {"dense": [10, 144], "reshape": (16, 3, 3),                                           # A.7 = A.2
                    "layers": [("tconv", 64, 5, 2, "valid", "bn", LR), ("conv", 128, 3, 1, "valid", "bn", LR),
                               ("conv", 1, 3, 1, "valid", "bn", RE)]},
        "critic": {"layers": [("conv", 256, 3, 1, "same", None, LR), ("conv", 128, 3, 1, "same", None, LR),   # A.1
                              ("conv", 64, 3, 1, "valid", None, LR), ("conv", 32, 2, 1, "valid", "ln", LR)],
                   "dense": [], "dense_act": None},
    },
    (10, 10): {
        "encoder": [("conv", 256, 3, 1, "same", "bn", LR), ("conv", 128, 3, 1, "valid", "bn", LR),           # A.9
                    ("conv", 64, 3, 1, "valid", "bn", LR), ("conv", 32, 3, 1, "valid", None, LR)],
        "decoder": {"dense": [10, 144], "reshape": (16, 3, 3),                                               # A.11
                    "layers": [("tconv", 16, 3, 2, "same", "bn", LR), ("tconv", 32, 3, 2, "same", "bn", LR),
                               ("tconv", 64, 3, 2, "same", "bn", LR), ("conv", 128, 5, 1, "valid", "bn", LR),
                               ("conv", 64, 3, 1, "valid", "bn", LR), ("conv", 32, 5, 1, "valid", "bn", LR),
                               ("conv", 16, 3, 1, "valid", "bn", LR), ("conv", 1, 3, 1, "valid", None, RE)]},
        "critic": {"layers": [("conv", 256, 5, 1, "same", None, LR), ("conv", 128, 3, 1, "same", "ln", LR),  # A.8
                              ("conv", 64, 3, 1, "same", "ln", LR), ("conv", 32, 3, 1, "same", "ln", LR)],
                   "dense": [10], "dense_act": None},
    },
    (30, 30): {
        "encoder": [("conv", 256, 10, 1, "valid", "bn", LR), ("conv", 128, 5, 1, "valid", "bn", LR),         # A.15
                    ("conv", 64, 5, 1, "valid", "bn", LR), ("conv", 32, 5, 1, "valid", "ln", LR),
                    ("conv", 32, 5, 1, "valid", None, LR)],
        "decoder": {"dense": [10, 144], "reshape": (16, 3, 3),                                               # A.16
                    "layers": [("tconv", 16, 3, 2, "same", "bn", LR), ("tconv", 32, 3, 2, "same", "bn", LR),
                               ("tconv", 64, 3, 2, "same", "bn", LR), ("tconv", 64, 3, 2, "same", "bn", LR),
                               ("conv", 64, 5, 1, "valid", "bn", LR), ("conv", 32, 5, 1, "valid", "bn", LR),
                               ("conv", 16, 7, 1, "valid", "bn", LR), ("conv", 1, 5, 1, "valid", None, RE)]},
        "critic": {"layers": [("conv", 256, 5, 1, "same", None, LR), ("conv", 128, 3, 1, "same", "ln", LR),  # A.14
                              ("conv", 64, 3, 1, "same", "ln", LR), ("conv", 32, 3, 1, "same", "ln", LR),
                              ("conv", 16, 3, 1, "same", "ln", LR)],
                   "dense": [10], "dense_act": LR},
    },
}

#: ID-GAN tables per (ny, nx): the β-VAE's encoder (convolutions, then labels, ``dense`` sizes, 2 × latent) and
#: decoder, the discriminator and the generator (VAE-WGAN critic / decoder where the thesis gives none)
ID_GAN: dict[tuple[int, int], dict[str, Any]] = {
    (5, 5): {
        "encoder": [("conv", 256, 3, 1, "same", "ln", LR), ("conv", 128, 3, 1, "same", "ln", LR),             # A.28
                    ("conv", 64, 3, 1, "valid", "ln", LR), ("conv", 32, 2, 1, "valid", "ln", LR)],
        "encoder_dense": [],
        "decoder": {"dense": [144], "reshape": (16, 3, 3),                                                    # A.27
                    "layers": [("tconv", 64, 5, 2, 0, "ln", LR), ("conv", 128, 3, 1, "valid", "ln", LR),
                               ("conv", 1, 3, 1, "valid", None, RE)]},
        "discriminator": VAE_WGAN[(5, 5)]["critic"],
        "generator": VAE_WGAN[(5, 5)]["decoder"],
    },
    (10, 10): {
        "encoder": [("conv", 256, 3, 1, "same", "ln", LR), ("conv", 128, 3, 1, "same", "ln", LR),             # A.29
                    ("conv", 64, 3, 1, "same", "ln", LR), ("conv", 32, 2, 1, "same", "ln", LR)],
        "encoder_dense": [500],
        "decoder": {"dense": [10, 256], "reshape": (16, 4, 4),                                                # A.30
                    "layers": [("tconv", 16, 3, 2, 0, "ln", LR), ("tconv", 32, 3, 2, 0, "ln", LR),
                               ("conv", 64, 5, 1, "valid", "ln", LR), ("conv", 32, 5, 1, "valid", None, LR),
                               ("conv", 1, 2, 1, "valid", None, RE)]},
        "discriminator": VAE_WGAN[(10, 10)]["critic"],
        "generator": VAE_WGAN[(10, 10)]["decoder"],
    },
    (30, 30): {
        "encoder": [("conv", 32, 2, 2, 1, None, RE), ("conv", 64, 4, 2, 1, None, RE),                         # A.22
                    ("conv", 64, 4, 2, 1, None, RE), ("conv", 256, 4, 1, 0, None, RE)],
        "encoder_dense": [],
        "decoder": {"dense": [256], "dense_act": RE, "reshape": (256, 1, 1),                                  # A.23
                    "layers": [("tconv", 64, 4, 1, 0, None, RE), ("tconv", 64, 4, 2, 1, None, RE),
                               ("tconv", 32, 4, 2, 1, None, RE), ("tconv", 1, 2, 2, 1, None, RE)]},
        "discriminator": {"layers": [("conv", 256, 10, 1, "same", "ln", LR), ("conv", 128, 3, 1, "same", "ln", LR),
                                     ("conv", 64, 3, 1, "same", "ln", LR), ("conv", 32, 2, 1, "same", "ln", LR),
                                     ("conv", 16, 3, 1, "same", "ln", LR)],                                  # A.24
                          "dense": [100], "dense_act": LR},
        "generator": {"dense": [10, 256], "reshape": (16, 4, 4),                                              # A.26
                      "layers": [("tconv", 16, 3, 2, 0, "bn", LR), ("tconv", 32, 3, 2, 0, "bn", LR),
                                 ("tconv", 64, 3, 2, 0, "bn", LR), ("conv", 32, 5, 1, "valid", "bn", LR),
                                 ("conv", 16, 5, 1, "valid", None, LR), ("conv", 1, 2, 1, "valid", None, RE)]},
    },
}


def grid_of(data_shape: Sequence[int]) -> tuple[int, int] | None:
    """(ny, nx) of a one-layer crystal array's ``data_shape`` ((1, ny, nx) or (ny, nx)), else None.

    >>> grid_of((1, 5, 5)), grid_of((45, 16, 9)), grid_of((25,))
    ((5, 5), None, None)
    """
    shape = tuple(int(s) for s in data_shape)
    if len(shape) == 3 and shape[0] == 1:
        return shape[1], shape[2]
    return (shape[0], shape[1]) if len(shape) == 2 else None


def tables_for(data_shape: Sequence[int], family: dict) -> dict | None:
    """The tables of ``family`` (:data:`VAE_WGAN` or :data:`ID_GAN`) for the grid of ``data_shape``, or None."""
    return family.get(grid_of(data_shape))


def _ch(c: int, width: float) -> int:
    return max(2, int(round(c * width)))


def _act(name: str | None) -> nn.Module:
    return {"lrelu": nn.LeakyReLU(0.2), "relu": nn.ReLU(), None: nn.Identity()}[name]


def _conv_stack(layers: Sequence[Layer], shape: tuple[int, int, int], width: float, out_channels: int | None = None
                ) -> tuple[nn.Sequential, tuple[int, int, int]]:
    """Convolutions of a table on (C, H, W) inputs; the last layer keeps ``out_channels`` unscaled when given."""
    mods: list[nn.Module] = []
    c, h, w = shape
    for i, (op, ch, k, s, pad, norm, act) in enumerate(layers):
        last = i == len(layers) - 1
        co = out_channels if (last and out_channels is not None) else _ch(ch, width)
        if op == "conv":
            if pad == "same":   # TensorFlow SAME, stride 1 in every table
                conv = nn.Conv2d(c, co, k, s, padding="same")
                h, w = math.ceil(h / s), math.ceil(w / s)
            else:
                p = 0 if pad == "valid" else int(pad)
                conv = nn.Conv2d(c, co, k, s, padding=p)
                h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        else:
            if pad == "same":   # TensorFlow SAME: output = input × stride
                p = math.ceil((k - s) / 2)
                op_ = 2 * p - (k - s)
            else:
                p, op_ = (0 if pad == "valid" else int(pad)), 0
            conv = nn.ConvTranspose2d(c, co, k, s, padding=p, output_padding=op_)
            h, w = (h - 1) * s - 2 * p + k + op_, (w - 1) * s - 2 * p + k + op_
        mods.append(conv)
        if norm == "bn":
            mods.append(nn.BatchNorm2d(co))
        elif norm == "ln":
            mods.append(nn.LayerNorm([co, h, w]))
        mods.append(_act(act))
        c = co
    return nn.Sequential(*mods), (c, h, w)


class ConvTrunk(nn.Module):
    """Examples (B, *data_shape) -> flat features (B, out_features) through a table's convolutions (the
    shared :class:`~hepgen.models.layers.GridEncoder` when ``layers`` is None)."""

    def __init__(self, data_shape: Sequence[int], layers: Sequence[Layer] | None, width: float = 1.0,
                 fallback_width: int = 16) -> None:
        super().__init__()
        self.data_shape = tuple(data_shape)
        grid = grid_of(self.data_shape)
        if layers is None or grid is None:
            self.net: nn.Module = GridEncoder(self.data_shape, fallback_width)
            self.out_features = self.net.out_features
            self.image = False
        else:
            self.net, (c, h, w) = _conv_stack(layers, (1, *grid), width)
            self.out_features = c * h * w
            self.image = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.image:
            grid = grid_of(self.data_shape)
            return self.net(x.reshape(x.shape[0], 1, *grid)).flatten(1)
        return self.net(x.reshape((x.shape[0],) + self.data_shape))


class DenseHead(nn.Module):
    """Features and labels (concatenated) -> ``dense`` hidden sizes (activation ``act``) -> ``n_out``."""

    def __init__(self, in_features: int, dense: Sequence[int], n_out: int, act: str | None = LR) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        n = in_features
        for d in dense:
            mods += [nn.Linear(n, d), _act(act)]
            n = d
        mods.append(nn.Linear(n, n_out))
        self.net = nn.Sequential(*mods)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([features, labels], dim=1))


class ImageDecoder(nn.Module):
    """Vector (B, in_features) -> examples (B, *data_shape) ≥ 0: a table's dense layers (LeakyReLU, or the
    table's ``dense_act``), reshape and convolutions ending in ReLU; without a table the shared
    :class:`~hepgen.models.layers.GridDecoder` followed by a ReLU."""

    def __init__(self, in_features: int, data_shape: Sequence[int], table: dict | None, width: float = 1.0,
                 fallback_width: int = 16) -> None:
        super().__init__()
        self.data_shape = tuple(data_shape)
        grid = grid_of(self.data_shape)
        if table is None or grid is None:
            self.dense, self.reshape = None, None
            self.net: nn.Module = GridDecoder(in_features, self.data_shape, fallback_width)
            return
        mods: list[nn.Module] = []
        n = in_features
        for d in table["dense"]:
            mods += [nn.Linear(n, d), _act(table.get("dense_act", LR))]
            n = d
        self.dense = nn.Sequential(*mods)
        self.reshape = tuple(table["reshape"])
        self.net, (c, h, w) = _conv_stack(table["layers"], self.reshape, width, out_channels=1)
        if (h, w) != grid:
            raise ValueError(f"decoder table gives {h}x{w}, the grid is {grid}")
        # hepgen choice (the thesis states no initialisation): He-normal weights keep the signal's scale through
        # the deep decoder tables, and the output ReLU starts alive (a dead one gets no gradient)
        for m in list(self.dense) + list(self.net):
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, a=0.2, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)
        out_conv = [m for m in self.net if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))][-1]
        with torch.no_grad():
            out_conv.bias.fill_(0.01)

    @torch.no_grad()
    def match_output_scale(self, v: torch.Tensor, target_mean: float) -> float:
        """Rescale the last affine layer (convolution or batch norm before the output ReLU, which is positively
        homogeneous) so that the mean output on the inputs ``v`` (batch statistics) is ``target_mean``; returns
        the factor. A data-dependent initialisation (hepgen choice): a batch-normalised output starts at
        about 0.4 per pixel whatever the data's scale, and a GAN then spends its first epochs shrinking it."""
        was = self.training
        self.train()
        mean = float(self(v).mean())
        self.train(was)
        if not (mean > 0 and target_mean > 0):
            return 1.0
        factor = target_mean / mean
        kinds = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Conv3d, nn.BatchNorm2d)
        last = [m for m in self.net.modules() if isinstance(m, kinds)][-1]
        last.weight.mul_(factor)
        last.bias.mul_(factor)
        return factor

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        if self.dense is None:
            return torch.relu(self.net(v))
        h = self.dense(v).reshape((v.shape[0],) + self.reshape)
        return self.net(h).reshape((v.shape[0],) + self.data_shape)
