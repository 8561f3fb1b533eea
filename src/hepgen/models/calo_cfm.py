"""CaloCFM: energy first, shape second — two conditional flow-matching networks for voxel showers.

The design of the CaloChallenge's best models (Krause et al., "CaloChallenge 2022: A Community Challenge for
Fast Calorimeter Simulation", arXiv:2410.21611): first the energy deposited in each layer given the incident
energy, then the normalised shape of each layer given its energy — CaloFlow (Krause, Shih, arXiv:2106.05285;
iCaloFlow arXiv:2210.14245) with normalising flows, CaloDREAM (Favaro et al., arXiv:2405.09629) with
conditional flow matching. The response and the longitudinal profile are right from the first steps because
the first network learns nothing else; the second network is shared by all layers (one row per layer,
conditioned on the layer's index, its energy and E_inc), so a 45-layer detector trains it 45 times per shower.

Both networks are MLPs trained with conditional flow matching (Lipman et al., arXiv:2210.02747;
:func:`hepgen.models.objectives.conditional_flow_matching_loss`) and sampled with the midpoint rule
(:func:`hepgen.models.solvers.integrate`) in ``steps`` steps:

* energies: the response r = E_tot / E_inc and the layer fractions f_l = E_layer / E_tot, as
  y = ((log r, log(f_l + 1e-7)) − μ) / σ (μ, σ per coordinate from the first training batch, stored with the
  weights): the response is one coordinate, so the energy scale cannot drift with the sum of 45 errors
  (CaloFlow's u_0 = E_tot / E_inc, arXiv:2106.05285);
* shapes: s = E_voxel / E_layer in a layer (padded to the largest layer), as v = (log(s + 1e-7) − μ) / σ with
  one μ, σ per layer; generated shapes are clipped at 0 and renormalised to 1, so a layer's energy is exactly its
  generated r f_l E_inc; empty layers (f_l below 1e-7) stay empty and do not enter the shape loss.

Generated voxels below the geometry's readout threshold are set to zero, as the reference simulation does.
The model works on any geometry with layers (regular or irregular: layers are padded); the transverse cells
are a vector (no convolution, no circular alpha symmetry): the price of speed on a CPU.

>>> import torch
>>> from hepgen.geometry import get_geometry
>>> g = get_geometry("calochallenge-1-photons")
>>> m = CaloCFM((g.n_voxels,), n_cond=1, config={**CaloCFM.default_config, **CaloCFM.tiny_config}, geometry=g)
>>> m.sample(torch.zeros(3, 1), torch.Generator().manual_seed(0)).shape
torch.Size([3, 368])
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hepgen.models.layers import mlp, standard_normal, time_embedding
from hepgen.models.objectives import conditional_flow_matching_loss, optimizer_step
from hepgen.models.registry import GenerativeModel, register_model
from hepgen.models.solvers import integrate

__all__ = ["CaloCFM"]

ENERGY_EPS, SHAPE_EPS, EMPTY = 1e-7, 1e-7, 1e-7


def time_features(t: torch.Tensor, n: int) -> torch.Tensor:
    """(B,) times in [0, 1] -> (B, 1 + 2n) features [t, sin(π k t), cos(π k t)] for k = 1 .. n
    (:func:`hepgen.models.layers.time_embedding` with t in front).

    >>> time_features(torch.zeros(2), 2).tolist()
    [[0.0, 0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0, 1.0]]
    """
    cos, sin = time_embedding(t, n).chunk(2, dim=1)
    return torch.cat([t[:, None], sin, cos], dim=1)


def _layer_index(geometry, n_voxels: int) -> tuple[torch.Tensor, int]:
    """(gather index (L, F) into [voxels..., a zero column] and F): layer l's voxels in its first cells."""
    if geometry is None or not getattr(geometry, "n_layers", 0):
        return torch.arange(n_voxels).reshape(1, n_voxels), n_voxels
    slices = [geometry.layer_slice(layer) for layer in range(geometry.n_layers)]
    width = max(1, max(s.stop - s.start for s in slices))
    index = torch.full((len(slices), width), n_voxels, dtype=torch.long)
    for layer, s in enumerate(slices):
        index[layer, : s.stop - s.start] = torch.arange(s.start, s.stop)
    return index, width


@register_model("calo-cfm")
class CaloCFM(GenerativeModel):
    """Layer energies given E_inc, then layer shapes given their energies; both by flow matching."""

    data_kind = "showers"
    tiny_config = {"hidden_energy": 16, "hidden_shape": 16, "layer_embedding": 2, "steps": 2}
    default_config = {
        "hidden_energy": 256,     # units of the 3 hidden layers of the layer-energy network
        "hidden_shape": 256,      # units of the 3 hidden layers of the shared layer-shape network
        "layer_embedding": 8,     # size of the learnt embedding of the layer index
        "time_frequencies": 4,
        "steps": 12,              # midpoint steps per network at sampling (2 network calls each)
        "lr": 1e-3,
        "lr_decay": 1.0,          # per-epoch factor
        "preprocessing": [{"name": "divide_by_incident"}],
    }

    def __init__(self, data_shape, n_cond, config, geometry=None) -> None:
        super().__init__(data_shape, n_cond, config, geometry)
        c = self.config
        self.n_voxels = math.prod(self.data_shape)
        index, width = _layer_index(geometry, self.n_voxels)
        self.n_layers, self.width = index.shape[0], width
        self.register_buffer("gather_index", index.reshape(-1))                      # (L F) -> flat voxel
        cell = torch.full((self.n_voxels,), 0, dtype=torch.long)
        real = index.reshape(-1) < self.n_voxels
        cell[index.reshape(-1)[real]] = torch.arange(index.numel())[real]
        self.register_buffer("scatter_index", cell)                                  # flat voxel -> (L F)
        self.register_buffer("cell_real", real.reshape(self.n_layers, width).float())
        for name, shape in (("energy_mean", (self.n_layers,)), ("energy_std", (self.n_layers,)),
                            ("shape_mean", (self.n_layers, 1)), ("shape_std", (self.n_layers, 1))):
            self.register_buffer(name, torch.zeros(shape) if "mean" in name else torch.ones(shape))
        self.register_buffer("response_mean", torch.zeros(1))
        self.register_buffer("response_std", torch.ones(1))
        self.register_buffer("scales_fitted", torch.zeros((), dtype=torch.bool))
        n_time = 1 + 2 * int(c["time_frequencies"])
        he, hs, emb = int(c["hidden_energy"]), int(c["hidden_shape"]), int(c["layer_embedding"])
        n_energy = self.n_layers + 1                                                 # response + fractions
        self.energy_net = mlp([n_energy + self.n_cond + n_time, he, he, he, n_energy], nn.SiLU)
        self.layer_embedding = nn.Embedding(self.n_layers, emb)
        self.shape_net = mlp([width + self.n_cond + 1 + emb + n_time, hs, hs, hs, width], nn.SiLU)

    # -- representation -----------------------------------------------------------------------
    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """E_voxel / E_inc (B, n_voxels) -> (layer energies u (B, L), shapes s (B, L, F), each layer summing to 1)."""
        flat = torch.cat([x.reshape(x.shape[0], -1), x.new_zeros(x.shape[0], 1)], dim=1).clamp_min(0.0)
        cells = flat[:, self.gather_index].reshape(x.shape[0], self.n_layers, self.width)
        u = cells.sum(dim=2)
        return u, cells / u.clamp_min(1e-30).unsqueeze(-1)

    def join(self, u: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`split`: (B, L), (B, L, F) -> E_voxel / E_inc of shape (B, *data_shape)."""
        cells = (u.unsqueeze(-1) * s).reshape(u.shape[0], -1)
        return cells[:, self.scatter_index].reshape((u.shape[0],) + self.data_shape)

    def _fit_scales(self, u: torch.Tensor, s: torch.Tensor, filled: torch.Tensor) -> None:
        """Standardisation from the first training batch: log layer energies per layer; log shapes per layer
        over all its cells (one scale per layer: a cell never hit in that batch must not get a tiny spread
        that blows up the first shower that hits it)."""
        r, y = self._energy_coordinates(u)
        self.response_mean.copy_(r.mean(0))
        self.response_std.copy_(r.std(0).nan_to_num(1.0).clamp_min(1e-3))
        self.energy_mean.copy_(y.mean(0))
        self.energy_std.copy_(y.std(0).nan_to_num(1.0).clamp_min(0.05))
        v = torch.log(s + SHAPE_EPS)
        w = (filled.unsqueeze(-1) * self.cell_real.bool()).to(v.dtype)         # real cells of filled layers
        n = w.sum(dim=(0, 2)).clamp_min(1.0)
        mean = (v * w).sum(dim=(0, 2)) / n
        var = ((v - mean[None, :, None]) ** 2 * w).sum(dim=(0, 2)) / n
        self.shape_mean.copy_(mean.unsqueeze(-1))
        self.shape_std.copy_(var.sqrt().clamp_min(0.1).unsqueeze(-1))
        self.scales_fitted.fill_(True)

    @staticmethod
    def _energy_coordinates(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer energies / E_inc (B, L) -> (log response (B, 1), log layer fractions (B, L))."""
        total = u.sum(dim=1, keepdim=True)
        return torch.log(total + ENERGY_EPS), torch.log(u / total.clamp_min(1e-30) + ENERGY_EPS)

    def encode_energy(self, u: torch.Tensor) -> torch.Tensor:
        """Layer energies / E_inc (B, L) -> standardised (log response, log fractions) (B, 1 + L)."""
        r, y = self._energy_coordinates(u)
        return torch.cat([(r - self.response_mean) / self.response_std, (y - self.energy_mean) / self.energy_std],
                         dim=1)

    def decode_energy(self, z: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`encode_energy`: (B, 1 + L) -> layer energies / E_inc (B, L) (in the units of the
        preprocessing); the response's z-score clipped at ±10, fractions clipped at 0 and renormalised, fractions
        below 1e-7 set to 0 (empty layers)."""
        # clipped z and log f <= 0: no overflow from an unconverged network
        r = torch.exp(z[:, :1].clamp(-10.0, 10.0) * self.response_std + self.response_mean)
        f = (torch.exp((z[:, 1:] * self.energy_std + self.energy_mean).clamp_max(0.0)) - ENERGY_EPS).clamp_min(0.0)
        f = f * (f > EMPTY).to(f.dtype)
        return r * f / f.sum(dim=1, keepdim=True).clamp_min(1e-30)

    # -- networks ---------------------------------------------------------------------------------
    def energy_velocity(self, y: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """d y / d t of the standardised energy coordinates y (B, 1, 1 + L) at times t (B,)."""
        tf = time_features(t, int(self.config["time_frequencies"]))
        return self.energy_net(torch.cat([y[:, 0], cond, tf], dim=1)).unsqueeze(1)

    def shape_velocity(self, v: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """d v / d t of the standardised log shapes v (B, L, F), given conditions and standardised log layer
        fractions y (B, L)."""
        b, n_layers = v.shape[0], self.n_layers
        tf = time_features(t, int(self.config["time_frequencies"]))
        layer = self.layer_embedding.weight.unsqueeze(0).expand(b, -1, -1)
        context = torch.cat([cond.unsqueeze(1).expand(-1, n_layers, -1), y.unsqueeze(-1), layer,
                             tf.unsqueeze(1).expand(-1, n_layers, -1)], dim=2)
        return self.shape_net(torch.cat([v, context], dim=2))

    # -- GenerativeModel ----------------------------------------------------------------------------
    def configure_optimizers(self):
        return {"model": torch.optim.Adam(self.parameters(), lr=float(self.config["lr"]))}

    def lr_decay(self) -> dict[str, float]:
        return {"model": float(self.config["lr_decay"])}

    def training_step(self, batch, optimizers, step, epoch):
        cond = batch["cond"]
        u, s = self.split(batch["x"])
        filled = u > EMPTY
        if not bool(self.scales_fitted):
            self._fit_scales(u, s, filled)
        z = self.encode_energy(u)
        v = (torch.log(s + SHAPE_EPS) - self.shape_mean) / self.shape_std
        ones = torch.ones(z.shape[0], 1, dtype=torch.bool, device=z.device)
        energy_loss = conditional_flow_matching_loss(lambda x, t: self.energy_velocity(x, t, cond), z.unsqueeze(1),
                                                     ones)
        shape_loss = conditional_flow_matching_loss(lambda x, t: self.shape_velocity(x, t, cond, z[:, 1:]), v,
                                                    filled)
        optimizer_step(energy_loss + shape_loss, optimizers["model"], counter=self.generator_steps)
        return {"energy_cfm": energy_loss.detach(), "shape_cfm": shape_loss.detach()}

    def transform(self, cond: torch.Tensor, z_energy: torch.Tensor, z_shape: torch.Tensor) -> torch.Tensor:
        """Examples from noise: integrate the energy ODE from z_energy (B, 1, 1 + L), then the shape ODE from
        z_shape (B, L, F) given those energies; returns E_voxel / E_inc (B, *data_shape)."""
        steps = int(self.config["steps"])
        z = integrate(lambda x, t: self.energy_velocity(x, t, cond), z_energy, steps, "midpoint")[:, 0]
        v = integrate(lambda x, t: self.shape_velocity(x, t, cond, z[:, 1:]), z_shape, steps, "midpoint")
        u = self.decode_energy(z)
        s = (torch.exp((v * self.shape_std + self.shape_mean).clamp_max(0.0)) - SHAPE_EPS).clamp_min(0.0)
        s = s * self.cell_real
        s = s / s.sum(dim=2, keepdim=True).clamp_min(1e-30)
        return self.join(u, s)

    def _noise(self, n: int, device, dtype, generator):
        return (standard_normal((n, 1, self.n_layers + 1), device, dtype, generator),
                standard_normal((n, self.n_layers, self.width), device, dtype, generator))

    def sample(self, cond, generator=None):
        return self.transform(cond, *self._noise(cond.shape[0], cond.device, cond.dtype, generator))

    def postprocess_physical(self, data):
        """Voxels below the geometry's readout threshold set to 0 (the reference simulation's readout)."""
        threshold = float(getattr(self.geometry, "readout_threshold_mev", 0.0) or 0.0)
        if threshold > 0 and hasattr(data, "energy"):
            data.energy[data.energy < threshold] = 0.0
        return data

    def export_graph(self):
        """Noise of both stages drawn outside; the graph holds both ODEs (``steps`` midpoint steps each) unrolled."""
        from hepgen.models.export import ExportGraph, GraphModule

        def draw(cond, generator):
            return list(self._noise(cond.shape[0], cond.device, cond.dtype, generator))

        return ExportGraph(GraphModule(self, lambda m, cond, ze, zs: m.transform(cond, ze, zs)), draw,
                           "noise_0: N(0, 1) response and layer fractions (B, 1, 1 + L); "
                           "noise_1: N(0, 1) layer shapes (B, L, F); readout threshold applied outside")
