"""Geometry-aware building blocks: circular padding along alpha, and convolutional trunks whose
sizes are derived from the geometry's dense shape (no hard-coded 30x30x30).

The module also holds the small tensor helpers every model shares: :func:`standard_normal`,
:func:`uniform` and :func:`random_seed` (the one rule for random draws and devices, below) and the padding
helpers of particle / hit clouds (:func:`mask_from_cardinality`, :func:`trim`, :func:`pad_clouds`).

A cylindrical geometry (axes ``layer, alpha, radius``) is periodic in alpha, so its convolutions
pad that axis circularly (the first and last angular bins are neighbours) and the others with
zeros. :class:`UpTrunk` maps a vector to a grid of the geometry's shape through nearest-neighbour
upsampling + convolution stages of sizes ``ceil(shape / 2**k)``; :class:`DownTrunk` is the mirror
image (used by critics and encoders). Geometries without a dense shape use plain MLPs.

>>> import torch
>>> conv = GeoConv3d(1, 1, kernel_size=3, circular_dim=1)
>>> conv(torch.zeros(2, 1, 5, 8, 3)).shape
torch.Size([2, 1, 5, 8, 3])
>>> stage_shapes((45, 16, 9))
[(3, 1, 1), (6, 2, 2), (12, 4, 3), (23, 8, 5), (45, 16, 9)]
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GeoConv3d", "circular_dim", "stage_shapes", "UpTrunk", "DownTrunk", "ResNetTrunk", "mlp", "GridDecoder",
           "GridEncoder", "MinibatchDiscrimination", "MinibatchStatistics", "ShowerBatchStatistics",
           "reinitialise", "standard_normal", "uniform", "random_seed", "mask_from_cardinality", "trim",
           "pad_clouds"]


# -- random draws and devices ---------------------------------------------------------------------------------
# The one rule: every tensor a model creates lives on the model's device (the device of its inputs) and has
# the dtype of its inputs. Random numbers come from
#   * the global RNG of that device when no ``torch.Generator`` is given, and
#   * the given generator, on the generator's own device, then moved to the model's device.
# A CPU generator therefore gives the same numbers whether the model runs on the CPU or a GPU, and CPU runs
# draw exactly what ``torch.randn(shape, generator=generator, dtype=dtype)`` draws.

def _draw(fn, shape: Sequence[int], device: torch.device | str, dtype: torch.dtype | None,
          generator: torch.Generator | None) -> torch.Tensor:
    if generator is None:
        return fn(tuple(shape), device=device, dtype=dtype)
    return fn(tuple(shape), generator=generator, device=generator.device, dtype=dtype).to(device)


def standard_normal(shape: Sequence[int], device: torch.device | str, dtype: torch.dtype | None = None,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """N(0, 1) noise of ``shape`` on ``device`` (see the rule above: a generator draws on its own device).

    >>> g = torch.Generator().manual_seed(0)
    >>> bool((standard_normal((2, 3), "cpu", generator=g) == torch.randn(2, 3, generator=g.manual_seed(0))).all())
    True
    >>> standard_normal((2,), "meta", generator=g).device
    device(type='meta')
    """
    return _draw(torch.randn, shape, device, dtype, generator)


def uniform(shape: Sequence[int], device: torch.device | str, dtype: torch.dtype | None = None,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """U[0, 1) noise of ``shape`` on ``device`` (a generator draws on its own device).

    >>> float(uniform((1000,), "cpu", generator=torch.Generator().manual_seed(0)).mean()) < 0.6
    True
    """
    return _draw(torch.rand, shape, device, dtype, generator)


def random_seed(generator: torch.Generator | None = None, high: int = 2**62) -> int:
    """A seed in [0, ``high``) for a host-side RNG (NumPy, a forked torch RNG), drawn on the generator's
    device, or from the global CPU RNG without one (a seed is a host value: no device round trip).

    >>> random_seed(torch.Generator().manual_seed(0)) == random_seed(torch.Generator().manual_seed(0))
    True
    """
    device = generator.device if generator is not None else torch.device("cpu")
    return int(torch.randint(0, high, (1,), generator=generator, device=device))


# -- padded clouds --------------------------------------------------------------------------------------------

def time_embedding(t: torch.Tensor, n_freq: int) -> torch.Tensor:
    """(B,) flow times in [0, 1] -> (B, 2 n_freq) features [cos(π f t)..., sin(π f t)...], f = 1 .. n_freq: the
    time input of the flow-matching networks (MDMA-Flow for hit clouds, CaloCFM).

    >>> time_embedding(torch.zeros(2), 2).tolist()
    [[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]]
    """
    f = torch.arange(n_freq, dtype=t.dtype, device=t.device) + 1.0
    return torch.cat([torch.cos(math.pi * f * t[:, None]), torch.sin(math.pi * f * t[:, None])], 1)


def mask_from_cardinality(n: torch.Tensor, n_max: int) -> torch.Tensor:
    """(B, n_max) bool mask with the first ``n`` slots set, on the device of ``n``.

    >>> mask_from_cardinality(torch.tensor([1, 3]), 4).int().tolist()
    [[1, 0, 0, 0], [1, 1, 1, 0]]
    """
    return torch.arange(n_max, device=n.device).unsqueeze(0) < n.unsqueeze(1)


def trim(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop the padded slots beyond the largest cloud of the batch (particles are stored first; at least
    one slot is kept).

    >>> x = torch.zeros(2, 5, 3); m = torch.tensor([[1, 1, 0, 0, 0], [1, 0, 0, 0, 0]]).bool()
    >>> trim(x, m)[0].shape
    torch.Size([2, 2, 3])
    """
    n = int(mask.sum(1).max()) if mask.numel() else 0
    return x[:, : max(n, 1)], mask[:, : max(n, 1)]


def pad_clouds(x: torch.Tensor, mask: torch.Tensor, n_max: int) -> torch.Tensor:
    """Clouds (B, n, F) with their mask (B, n) -> (B, n_max, F + 1): masked features, zero padding, and
    the mask as the last feature (the layout of the jet and hit-cloud adapters).

    >>> pad_clouds(torch.ones(1, 2, 1), torch.tensor([[True, False]]), 3).tolist()
    [[[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]]
    """
    out = torch.zeros(x.shape[0], n_max, x.shape[2] + 1, dtype=x.dtype, device=x.device)
    out[:, : x.shape[1], :-1] = x * mask.unsqueeze(-1)
    out[:, : x.shape[1], -1] = mask.to(x.dtype)
    return out


def circular_dim(geometry) -> int | None:
    """Index (0-2) of the periodic axis among the geometry's three axes, or ``None``.

    >>> from hepgen.geometry import get_geometry
    >>> circular_dim(get_geometry("calochallenge-2")), circular_dim(get_geometry("ild-ecal"))
    (1, None)
    """
    if geometry is None or "alpha" not in tuple(getattr(geometry, "axes", ())):
        return None
    return tuple(geometry.axes).index("alpha")


class GeoConv3d(nn.Module):
    """3D convolution with 'same' output size: circular padding along ``circular_dim`` (0-2 over
    the spatial axes), zero padding elsewhere.

    >>> import torch
    >>> x = torch.zeros(1, 1, 1, 4, 1); x[0, 0, 0, 0, 0] = 1.0
    >>> conv = GeoConv3d(1, 1, 3, circular_dim=1, bias=False)
    >>> _ = torch.nn.init.ones_(conv.conv.weight)
    >>> conv(x)[0, 0, 0, :, 0].tolist()     # the hit at alpha bin 0 reaches bin 3 (wraps around)
    [1.0, 1.0, 0.0, 1.0]
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, circular_dim: int | None = None,
                 bias: bool = True) -> None:
        super().__init__()
        self.pad = kernel_size // 2
        self.circular_dim = circular_dim
        self.conv = nn.Conv3d(in_channels, out_channels, kernel_size, padding=0, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.pad
        if p:
            # F.pad order: (W_left, W_right, H_left, H_right, D_left, D_right)
            if self.circular_dim is not None:
                pads = [0] * 6
                k = 2 * (2 - self.circular_dim)
                pads[k] = pads[k + 1] = p
                reps = x.shape[2 + self.circular_dim]
                if p <= reps:
                    x = F.pad(x, pads, mode="circular")
                else:  # fewer bins than padding: tile the periodic axis first
                    x = torch.cat([x] * (2 * math.ceil(p / reps) + 1), dim=2 + self.circular_dim)
                    start = (x.shape[2 + self.circular_dim] - reps) // 2 - p
                    x = x.narrow(2 + self.circular_dim, start, reps + 2 * p)
                zero = [0 if i in (k, k + 1) else p for i in range(6)]
            else:
                zero = [p] * 6
            x = F.pad(x, zero)
        return self.conv(x)


def stage_shapes(shape: Sequence[int], coarsest: int = 4) -> list[tuple[int, ...]]:
    """Grid sizes from coarse to fine: ``ceil(shape / 2**k)`` for k = K..0, with K chosen so that
    the largest coarse side is at most ``coarsest``."""
    n = max(0, math.ceil(math.log2(max(shape) / coarsest))) if max(shape) > coarsest else 0
    return [tuple(math.ceil(s / 2 ** k) for s in shape) for k in range(n, -1, -1)]


def mlp(sizes: Sequence[int], act: type[nn.Module] = nn.LeakyReLU, final_act: nn.Module | None = None,
        norm: bool = False, dropout: Sequence[float] = ()) -> nn.Sequential:
    """Fully connected layers ``sizes[0] -> ... -> sizes[-1]`` with activations between them; ``dropout``
    gives a dropout probability after each hidden layer's activation (missing entries: none).

    >>> mlp([3, 8, 1])(__import__("torch").zeros(2, 3)).shape
    torch.Size([2, 1])
    >>> [type(m).__name__ for m in mlp([3, 8, 4, 1], dropout=[0.2])]
    ['Linear', 'LeakyReLU', 'Dropout', 'Linear', 'LeakyReLU', 'Linear']
    """
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            if norm:
                layers.append(nn.LayerNorm(sizes[i + 1]))
            layers.append(act(0.2) if act is nn.LeakyReLU else act())
            if i < len(dropout) and dropout[i] > 0:
                layers.append(nn.Dropout(float(dropout[i])))
    if final_act is not None:
        layers.append(final_act)
    return nn.Sequential(*layers)


def _width(base: int, level: int) -> int:
    return max(4, base // 2 ** level)


class UpTrunk(nn.Module):
    """Vector (B, in_features) -> grid (B, out_channels, *shape) by upsampling stages.

    ``light_output`` skips the convolution block at full resolution (only the output convolution
    runs there): about 5x less work at the finest, most expensive stage, for faster sampling.

    >>> import torch
    >>> UpTrunk(5, (45, 16, 9), width=8, circular_dim=1)(torch.zeros(2, 5)).shape
    torch.Size([2, 1, 45, 16, 9])
    """

    def __init__(self, in_features: int, shape: Sequence[int], width: int = 32, out_channels: int = 1,
                 circular_dim: int | None = None, light_output: bool = False) -> None:
        super().__init__()
        self.shapes = stage_shapes(shape)
        n_blocks = len(self.shapes) - (1 if light_output and len(self.shapes) > 1 else 0)
        c0 = _width(width, 0)
        self.c0 = c0
        self.fc = nn.Sequential(nn.Linear(in_features, c0 * math.prod(self.shapes[0])), nn.LeakyReLU(0.2))
        blocks = []
        for j in range(1, n_blocks + 1):
            cin, cout = _width(width, j - 1), _width(width, j)
            blocks.append(nn.ModuleList([GeoConv3d(cin, cout, 3, circular_dim), nn.GroupNorm(1, cout),
                                         nn.LeakyReLU(0.2)]))
        self.blocks = nn.ModuleList(blocks)
        self.out = GeoConv3d(_width(width, n_blocks), out_channels, 3, circular_dim)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        x = self.fc(v).reshape((v.shape[0], self.c0) + self.shapes[0])
        for j, (conv, norm, act) in enumerate(self.blocks):
            if j > 0:
                x = F.interpolate(x, size=self.shapes[j], mode="nearest")
            x = act(norm(conv(x)))
        if tuple(x.shape[2:]) != self.shapes[-1]:   # light_output: one convolution at full resolution
            x = F.interpolate(x, size=self.shapes[-1], mode="nearest")
        return self.out(x)


class DownTrunk(nn.Module):
    """Grid (B, in_channels, *shape) -> features (B, out_features) by convolution + pooling stages.
    ``residual=True`` with ``norm="instance"`` gives the ResNet-style critic of the pion WGAN.

    >>> import torch
    >>> t = DownTrunk((30, 30, 30), width=8)
    >>> t(torch.zeros(2, 1, 30, 30, 30)).shape == (2, t.out_features)
    True
    """

    def __init__(self, shape: Sequence[int], width: int = 32, in_channels: int = 1,
                 circular_dim: int | None = None, norm: str = "layer", residual: bool = False) -> None:
        super().__init__()
        self.shapes = stage_shapes(shape)[::-1]   # fine to coarse
        self.residual = residual
        levels = len(self.shapes)
        widths = [_width(width, levels - 1 - j) for j in range(levels)]
        self.stem = GeoConv3d(in_channels, widths[0], 3, circular_dim)
        blocks = []
        for j in range(levels):
            c = widths[j]
            cout = widths[min(j + 1, levels - 1)]
            norm_layer = nn.GroupNorm(c, c) if norm == "instance" else nn.GroupNorm(1, c)
            blocks.append(nn.ModuleList([norm_layer, GeoConv3d(c, c, 3, circular_dim), nn.Conv3d(c, cout, 1)]))
        self.blocks = nn.ModuleList(blocks)
        self.act = nn.LeakyReLU(0.2)
        self.out_features = widths[-1] * math.prod(self.shapes[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for j, (norm, conv, proj) in enumerate(self.blocks):
            h = conv(self.act(norm(x)))
            x = x + h if self.residual else h
            x = proj(self.act(x))
            if j + 1 < len(self.shapes):
                x = F.adaptive_avg_pool3d(x, self.shapes[j + 1])
        return x.flatten(1)


class GridDecoder(nn.Module):
    """Vector -> one example of ``data_shape``: :class:`UpTrunk` for dense 3D shapes, an MLP for
    flat (irregular) geometries. No output activation.

    >>> import torch
    >>> GridDecoder(4, (25,), width=16)(torch.zeros(3, 4)).shape
    torch.Size([3, 25])
    """

    def __init__(self, in_features: int, data_shape: Sequence[int], width: int = 32,
                 circular_dim: int | None = None, light_output: bool = False) -> None:
        super().__init__()
        self.data_shape = tuple(data_shape)
        if len(self.data_shape) == 3:
            self.net = UpTrunk(in_features, self.data_shape, width, 1, circular_dim, light_output)
        else:
            n = math.prod(self.data_shape)
            self.net = mlp([in_features, 8 * width, 8 * width, n])

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.net(v).reshape((v.shape[0],) + self.data_shape)


class GridEncoder(nn.Module):
    """Examples of ``data_shape`` (B, *shape) or with channels (B, C, *shape) -> features
    (B, out_features): :class:`DownTrunk` for dense 3D shapes, an MLP otherwise.

    >>> import torch
    >>> enc = GridEncoder((1, 10, 10), width=8)
    >>> enc(torch.zeros(3, 1, 10, 10)).shape == (3, enc.out_features)
    True
    """

    def __init__(self, data_shape: Sequence[int], width: int = 32, in_channels: int = 1,
                 circular_dim: int | None = None, norm: str = "layer", residual: bool = False) -> None:
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.in_channels = in_channels
        if len(self.data_shape) == 3:
            self.net = DownTrunk(self.data_shape, width, in_channels, circular_dim, norm, residual)
            self.out_features = self.net.out_features
        else:
            n = math.prod(self.data_shape) * in_channels
            self.out_features = 4 * width
            self.net = nn.Sequential(nn.Flatten(1), mlp([n, 8 * width, 4 * width]), nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == len(self.data_shape) + 1:
            x = x.unsqueeze(1)
        return self.net(x)


class _BasicBlock(nn.Module):
    """ResNet basic block (He et al., arXiv:1512.03385): two 3x3x3 convolutions with InstanceNorm and a skip
    connection (a kernel-1 projection where the channel number changes)."""

    def __init__(self, c_in: int, c_out: int, circular_dim: int | None) -> None:
        super().__init__()
        self.conv1 = GeoConv3d(c_in, c_out, 3, circular_dim, bias=False)
        self.conv2 = GeoConv3d(c_out, c_out, 3, circular_dim, bias=False)
        self.norm1, self.norm2 = nn.InstanceNorm3d(c_out), nn.InstanceNorm3d(c_out)
        self.skip = (nn.Sequential(nn.Conv3d(c_in, c_out, 1, bias=False), nn.InstanceNorm3d(c_out))
                     if c_in != c_out else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm1(self.conv1(x)))
        return F.relu(self.norm2(self.conv2(h)) + self.skip(x))


class ResNetTrunk(nn.Module):
    """3D ResNet critic trunk of the pion WGAN (Buhmann et al., "Hadrons, better, faster, stronger",
    arXiv:2112.09709; Diefenbacher thesis Sec. 7.2): a stem convolution with InstanceNorm and ReLU, a max-pool
    to half resolution, then one stage of ``blocks[k]`` basic blocks with ``planes[k]`` channels per entry,
    each stage at half the resolution of the one before (adaptive pooling, so any geometry's shape works;
    periodic axes keep circular padding), and a global average pool. The thesis's critic is
    ``planes=(64, 128), blocks=(3, 4)`` (the first two stages of a depth-34 ResNet).

    >>> t = ResNetTrunk((12, 10, 10), planes=(4, 8), blocks=(1, 2))
    >>> t(torch.zeros(2, 1, 12, 10, 10)).shape == (2, t.out_features)
    True
    """

    def __init__(self, shape: Sequence[int], planes: Sequence[int] = (64, 128), blocks: Sequence[int] = (3, 4),
                 circular_dim: int | None = None, in_channels: int = 1) -> None:
        super().__init__()
        if len(planes) != len(blocks) or not planes:
            raise ValueError(f"ResNetTrunk: planes {list(planes)} and blocks {list(blocks)} need the same length")
        shape = tuple(int(s) for s in shape)
        self.shapes = [tuple(math.ceil(s / 2 ** (k + 1)) for s in shape) for k in range(len(planes) + 1)]
        self.stem = nn.Sequential(GeoConv3d(in_channels, planes[0], 3, circular_dim, bias=False),
                                  nn.InstanceNorm3d(planes[0]), nn.ReLU())
        stages, c_in = [], planes[0]
        for c, n in zip(planes, blocks):
            stage = []
            for _ in range(int(n)):
                stage.append(_BasicBlock(c_in, c, circular_dim))
                c_in = c
            stages.append(nn.Sequential(*stage))
        self.stages = nn.ModuleList(stages)
        self.out_features = int(planes[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_max_pool3d(self.stem(x), self.shapes[0])
        for k, stage in enumerate(self.stages):
            if k > 0:
                x = F.adaptive_avg_pool3d(x, self.shapes[k])
            x = stage(x)
        return x.mean(dim=(2, 3, 4))


# -- minibatch discrimination ---------------------------------------------------------------------------------
# Salimans et al., "Improved Techniques for Training GANs", arXiv:1606.03498: the critic sees, for every example,
# features of how it differs from the other examples of its batch, so that a collapsed batch (all alike) is told
# apart from a diverse one. Two forms: the paper's L1 kernel (MinibatchDiscrimination) and the deep-set form of
# the GANplification and pion-BIB-AE critics (MinibatchStatistics; ShowerBatchStatistics applies it to per-shower
# sums and spreads as the pion critic of arXiv:2112.09709 does).

class MinibatchDiscrimination(nn.Module):
    """Salimans et al.: o_b(x_i) = mean_j≠i exp(−|M_i,b − M_j,b|_1), M = x T (B kernels of C dims).

    >>> MinibatchDiscrimination(8, 5, 3)(torch.randn(4, 8)).shape
    torch.Size([4, 5])
    """

    def __init__(self, in_features: int, n_kernels: int, kernel_dim: int) -> None:
        super().__init__()
        self.t = nn.Parameter(torch.randn(in_features, n_kernels * kernel_dim) * 0.1)
        self.n_kernels, self.kernel_dim = n_kernels, kernel_dim

    def reset_parameters(self) -> None:
        """Draw T anew (N(0, 0.1²), as at construction)."""
        with torch.no_grad():
            self.t.normal_(0.0, 0.1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        m = (h @ self.t).reshape(len(h), self.n_kernels, self.kernel_dim)
        dist = (m[:, None] - m[None, :]).abs().sum(dim=3)               # (n, n, B)
        # minus the self term; averaged over the others (not summed) so that the features stay in [0, 1]
        return (torch.exp(-dist).sum(dim=1) - 1.0) / max(len(h) - 1, 1)


class MinibatchStatistics(nn.Module):
    """Deep-set minibatch discrimination: for each example i, a small network φ (three kernel-1 layers, LeakyReLU
    0.01) embeds its difference f_i − f_j to every example j of the batch, and the embeddings are aggregated over
    j by their standard deviation (and mean): output (B, out_features · len(aggregates)). A batch of identical
    examples gives std 0. Used by the GANplification discriminator (Diefenbacher thesis Sec. 5.1, std only) and
    the pion critics (Sec. 7.3, std and mean).

    >>> mbs = MinibatchStatistics(3, 4, hidden=8, aggregates=("std", "mean"))
    >>> mbs(torch.randn(6, 3)).shape
    torch.Size([6, 8])
    >>> float(MinibatchStatistics(3, 4)(torch.ones(5, 3)).detach().abs().max())
    0.0
    """

    AGGREGATES = ("std", "mean")

    def __init__(self, in_features: int, out_features: int, hidden: int = 64, aggregates: Sequence[str] = ("std",),
                 bias: bool = True) -> None:
        super().__init__()
        bad = [a for a in aggregates if a not in self.AGGREGATES]
        if bad or not aggregates:
            raise ValueError(f"MinibatchStatistics: aggregates must be among {self.AGGREGATES}, got {list(aggregates)}")
        self.aggregates = tuple(aggregates)
        self.phi = nn.Sequential(nn.Linear(in_features, hidden, bias=bias), nn.LeakyReLU(0.01),
                                 nn.Linear(hidden, hidden, bias=bias), nn.LeakyReLU(0.01),
                                 nn.Linear(hidden, out_features, bias=bias), nn.LeakyReLU(0.01))
        self.out_features = out_features * len(self.aggregates)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        emb = self.phi(f[:, None, :] - f[None, :, :])           # (n, n, out): φ(f_i − f_j)
        parts = [emb.std(dim=1, unbiased=False) if a == "std" else emb.mean(dim=1) for a in self.aggregates]
        return torch.cat(parts, dim=1)


class ShowerBatchStatistics(nn.Module):
    """The minibatch block of the pion BIB-AE critic (arXiv:2112.09709; Diefenbacher thesis Sec. 7.3): the sum
    and the standard deviation of each shower's cells, on the linear and on the log-scaled image
    (log(x + e⁻⁵) + 5), each embedded by :class:`MinibatchStatistics` (std and mean over the batch; the same
    embeddings serve both scales, as in the public code) and mapped to ``out_features`` per scale.

    >>> block = ShowerBatchStatistics(out_features=8, embed=4, hidden=8)
    >>> block(torch.rand(5, 3, 4, 4)).shape
    torch.Size([5, 16])
    """

    def __init__(self, out_features: int = 64, embed: int = 16, hidden: int = 64) -> None:
        super().__init__()
        self.spread = MinibatchStatistics(1, embed, hidden, ("std", "mean"), bias=False)
        self.total = MinibatchStatistics(1, embed, hidden, ("std", "mean"), bias=False)
        self.head = nn.Sequential(nn.Linear(self.spread.out_features + self.total.out_features, out_features),
                                  nn.LeakyReLU(0.2))
        self.out_features = 2 * out_features

    def _one(self, flat: torch.Tensor) -> torch.Tensor:
        std, total = flat.std(dim=1, keepdim=True), flat.sum(dim=1, keepdim=True)
        return self.head(torch.cat([self.spread(std), self.total(total)], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1)
        log = torch.log(flat.clamp_min(0) + math.exp(-5.0)) + 5.0
        return torch.cat([self._one(flat), self._one(log)], dim=1)


def reinitialise(module: nn.Module) -> list[str]:
    """Draw every parameter of ``module`` anew (each submodule's ``reset_parameters``, from the global RNG of
    the parameters' device) and return their names; a parameter that no submodule can reset is an error,
    so a critic that is meant to be reset is reset completely (the pion BIB-AE's resetting critic).

    >>> net = mlp([2, 3, 1])
    >>> reinitialise(net)
    ['0.weight', '0.bias', '2.weight', '2.bias']
    """
    done: list[str] = []
    for prefix, m in module.named_modules():
        reset = getattr(m, "reset_parameters", None)
        if callable(reset):
            reset()
            done += [f"{prefix}.{n}" if prefix else n for n, _ in m.named_parameters(recurse=False)]
    missed = [n for n, _ in module.named_parameters() if n not in done]
    if missed:
        raise ValueError(f"reinitialise: no reset_parameters() for {missed}")
    return done
