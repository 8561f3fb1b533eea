"""CaloCFM: energy first, shape second — three conditional flow-matching networks for voxel showers.

The design of the CaloChallenge's best models (Krause et al., "CaloChallenge 2022: A Community Challenge for
Fast Calorimeter Simulation", arXiv:2410.21611): first the energy deposited in each layer given the incident
energy, then the normalised shape of each layer given its energy — CaloFlow (Krause, Shih, arXiv:2106.05285;
iCaloFlow arXiv:2210.14245) with normalising flows, CaloDREAM (Favaro et al., arXiv:2405.09629) with
conditional flow matching. The response and the longitudinal profile are right from the first steps because
the first network learns nothing else. The shape is split once more along the geometry: the energy of each
transverse ring of a layer (the radial bins of a cylindrical readout, concentric square rings of a cell grid),
then the split of a ring's energy over its cells (the α bins of a cylinder). The radial profile — what the
energy-weighted observables (centres, widths) see — is then a low-dimensional vector learnt by its own network
and cannot be diluted by the fluctuations of single halo cells; the ring and cell networks are each shared by all
their rows (one row per layer, one per layer and ring), so a 45-layer detector trains them 45 (405) times per shower
(the cell network on the rows of the rings that hold energy: 24 % of calochallenge-2's at 1-100 GeV).

The networks are MLPs trained with conditional flow matching (Lipman et al., arXiv:2210.02747;
:func:`hepgen.models.objectives.conditional_flow_matching_loss`) and sampled with the midpoint rule
(:func:`hepgen.models.solvers.integrate`) in ``steps`` steps, with the moving average of the weights (training
option ``ema_decay``, 0.999 by default for this model; :mod:`hepgen.training.averaging`):

* energies: the response r = E_tot / E_inc and the layer fractions f_l = E_layer / E_tot, as
  y = ((log r, log f_l) − μ) / σ (μ, σ per coordinate, stored with the weights; the fraction of an empty layer
  dequantised to U(0, 1] x the layer's smallest deposit / E_vis, right below the smallest real fraction, and
  emptied again when generated below it, see :meth:`CaloCFM.postprocess_physical`): the response is one
  coordinate, so the energy scale cannot drift with the sum of 45 errors (CaloFlow's u_0 = E_tot / E_inc,
  arXiv:2106.05285); the network learns these in units of the spread expected at the shower's E_inc (mean and
  spread interpolated between ``energy_scale_knots`` points in log E_inc, fitted with μ, σ; the resolution
  narrows tenfold over the challenge's range, :meth:`CaloCFM.energy_scale`); the energy network has one
  row per shower (1-2 % of a step's work), so it has an optimiser of its own and takes ``energy_updates`` updates
  per step on ``energy_batch`` showers drawn from the whole training set (its layer energies and counts are
  computed once before training, :meth:`CaloCFM.before_training`; why: :meth:`CaloCFM.energy_updates_for`);
* rings: q_lg = E_ring / E_layer given the whole energy vector (a late shower is narrower in a given layer than an
  early one of the same layer energy) and the layer's own fraction, as (√q − μ) / σ per (layer, ring): bounded,
  so a velocity error moves a little energy between rings instead of the factor e^(σ δ) of a log coordinate
  (which put a third of the core's energy into the halo); cells: c = E_voxel / E_ring given the ring's
  fraction and its layer's, as (log c − μ) / σ per cell (CaloFlow's per-voxel standardisation: the voxel spectrum
  spans orders of magnitude; preset ``cell-centred``: log c centred on the mean over the ring's filled cells, see
  :meth:`CaloCFM._log_cells`), μ, σ of the showers that fill the cell, empty cells dequantised into a band below
  the filled ones (as CaloFlow adds noise below the readout threshold; :meth:`CaloCFM.encode_cells`), so every
  coordinate is continuous and the filled cells' spread, not the gap to the empty ones, sets the scale. μ, σ are
  fitted on ``fit_showers`` training showers before the first step. Generated entries below ε = ``shape_floor``
  are set to 0 (never the largest of a row) and the rest renormalised to 1, so a layer's energy is exactly its
  generated r f_l E_inc;
  empty layers (f_l below 1e-7) and rings stay empty and do not enter the losses of their children.

Hit counts (``hits``, the default): the energy network also generates, per layer, the number of hits n_l (voxels
holding at least the layer's floor, below), as L more coordinates (log(1 + n_l + u) − μ) / σ, u ~ U[0.01, 0.99)
dequantising the integer (as the point-cloud models learn the number of points of a shower: CaloClouds, Buhmann
et al., arXiv:2305.04847, with a flow conditioned on E_inc; here jointly with the response and the layer fractions,
whose correlation with the counts the classifier sees). At sampling ⌊exp(σ z + μ) − 1⌋ is decoded; a layer with
count 0 is empty (the count decides, not the fraction band), one with energy keeps exactly its count (≥ 1, ≤ its
cells) of largest voxels, renormalised to its generated energy (:meth:`CaloCFM.keep_largest`, sort + gather, in the
exported graph too). Without the count the cell network's dequantisation decides which voxels are hits, and the
floor then removes the small ones: generated GFlash showers had 3-5 % too few hits per layer.

Ring counts and sorted cells (``ring_hits``, ``cell_sorted``; by default where a ring's cells are exchangeable,
:meth:`CaloCFM.alpha_exchangeable`; preset ``alpha-ordered``: neither): the ring network also generates each ring's
number of hits (G more coordinates per layer row, dequantised and standardised as the layer counts; at sampling a
ring with one hit skips the cell network, :meth:`CaloCFM.one_hit_rings`, and with ``ring_count_gates`` a ring with
none is empty, :meth:`CaloCFM.gate_rings`), the cell network gets it as context, and it generates a ring's cells in
descending order — the k-th coordinate is the ring's k-th largest cell (:meth:`CaloCFM.sort_cells`), filled below
the count and empty above, one mode per coordinate —
whose values are then placed on uniformly drawn α cells (:meth:`CaloCFM.unsort_cells`). Point-cloud and set
generators avoid order statistics by symmetric networks (CaloClouds, arXiv:2305.04847); here the row is short and an
MLP over sorted values is the cheap way to give the hottest cell a coordinate of its own. Measured on
calochallenge-3 (50 α cells per ring, 30-minute benchmark): the cell network over α-ordered rows spread a ring's
filled cells twice as wide as the reference (the ring's largest cell 42 % of its energy, reference 12 %; E_max
separation 0.289); sorted, AUC 0.544 / 0.745 against 0.766 / 0.849 and E_max 0.058. What is lost is the order around
a ring (neighbouring α cells sharing a cluster); α correlations between rings and layers are not generated either
way (each ring's row has its own noise).

Generated voxels below the geometry's readout threshold, or below the smallest deposit a voxel of their layer
records in the training showers (learnt in MeV), are emptied and their energy given to the layer's other voxels
(:meth:`CaloCFM.postprocess_physical`; with ``hits``, hits below it are lifted to it instead, so the count stays
as generated unless the layer's energy cannot pay the floor for each). Sampling integrates the cell network only
for the rings that hold energy. Works on any geometry with layers (regular or irregular: rows are padded; without a
geometry one ring holds every voxel); no convolution: MLPs over rows are the fastest shape networks on a CPU.

>>> import torch
>>> from hepgen.geometry import get_geometry
>>> g = get_geometry("calochallenge-1-photons")
>>> m = CaloCFM((g.n_voxels,), n_cond=1, config={**CaloCFM.default_config, **CaloCFM.tiny_config}, geometry=g)
>>> m.sample(torch.zeros(3, 1), torch.Generator().manual_seed(0)).shape
torch.Size([3, 368])
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from hepgen.errors import InputError
from hepgen.models.layers import mlp, standard_normal, time_embedding, uniform
from hepgen.models.objectives import conditional_flow_matching_loss, optimizer_step
from hepgen.models.registry import GenerativeModel, register_model
from hepgen.models.solvers import integrate

__all__ = ["CaloCFM"]

ENERGY_EPS, EMPTY = 1e-7, 1e-7
# cells (cell_band): the lowest standardised filled value (lower ones are clipped to it), the gap below it to the
# empty cells' band and the band's width; a cell filled fewer times than CELL_MIN_FILLS takes its ring's μ, σ
CELL_LOW, CELL_GAP, CELL_MIN_FILLS = -4.0, 0.5, 10


def time_features(t: torch.Tensor, n: int) -> torch.Tensor:
    """(B,) times in [0, 1] -> (B, 1 + 2n) features [t, sin(π k t), cos(π k t)] for k = 1 .. n
    (:func:`hepgen.models.layers.time_embedding` with t in front).

    >>> time_features(torch.zeros(2), 2).tolist()
    [[0.0, 0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0, 1.0]]
    """
    cos, sin = time_embedding(t, n).chunk(2, dim=1)
    return torch.cat([t[:, None], sin, cos], dim=1)


def _ring_of_voxels(geometry) -> np.ndarray:
    """(n_voxels,) transverse ring of each voxel within its layer: the radial bin of a cylindrical readout
    (CaloChallenge), the concentric square ring (Chebyshev distance from the layer's centre in cells) of a
    cell grid, 0 for everything else.

    >>> from hepgen.geometry import get_geometry
    >>> np.bincount(_ring_of_voxels(get_geometry("belle2-ecl-5x5"))).tolist()
    [1, 8, 16]
    """
    n = int(geometry.n_voxels)
    if getattr(geometry, "r_edges", None) is not None:
        pos = geometry.voxel_positions()
        ring = np.zeros(n, dtype=np.int64)
        for layer in range(geometry.n_layers):
            sl = geometry.layer_slice(layer)
            edges = np.asarray(geometry.r_edges[layer], dtype=float)
            ring[sl] = np.clip(np.searchsorted(edges, pos["r"][sl], side="right") - 1, 0, max(0, len(edges) - 2))
        return ring
    pos = geometry.voxel_positions()
    cell = getattr(geometry, "cell_size_mm", None)
    if cell is None or "x" not in pos or "y" not in pos:
        return np.zeros(n, dtype=np.int64)
    ring = np.zeros(n, dtype=np.int64)
    for layer in range(geometry.n_layers):
        sl = geometry.layer_slice(layer)
        x, y = pos["x"][sl], pos["y"][sl]
        dx = np.abs(x - 0.5 * (x.min() + x.max())) / cell[0]
        dy = np.abs(y - 0.5 * (y.min() + y.max())) / cell[1]
        ring[sl] = np.floor(np.maximum(dx, dy) + 1e-6).astype(np.int64)
    return ring


def _cell_index(geometry, n_voxels: int) -> torch.Tensor:
    """(L, G, C) gather index into [voxels..., one zero column]: layer l, ring g, its cells first (padded
    with ``n_voxels``, the zero column)."""
    if geometry is None or not getattr(geometry, "n_layers", 0):
        return torch.arange(n_voxels).reshape(1, 1, n_voxels)
    rings = _ring_of_voxels(geometry)
    groups = []
    for layer in range(geometry.n_layers):
        sl = geometry.layer_slice(layer)
        voxels = np.arange(sl.start, sl.stop)
        groups.append([voxels[rings[sl] == g] for g in range(int(rings[sl].max()) + 1)] if len(voxels) else [])
    n_rings = max(1, max(len(g) for g in groups))
    width = max(1, max((len(c) for g in groups for c in g), default=1))
    index = torch.full((len(groups), n_rings, width), n_voxels, dtype=torch.long)
    for layer, g in enumerate(groups):
        for ring, cells in enumerate(g):
            index[layer, ring, : len(cells)] = torch.from_numpy(cells)
    return index


def _standardisation(log_x: torch.Tensor, weight: torch.Tensor, min_std: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and spread over the batch (dim 0) of ``log_x`` where ``weight`` (broadcastable) is 1; coordinates
    with fewer than two entries take the statistics of all entries; the spread clipped below at ``min_std``."""
    w = weight.to(log_x.dtype).expand_as(log_x)
    n = w.sum(dim=0)
    mean = (log_x * w).sum(dim=0) / n.clamp_min(1.0)
    var = ((log_x - mean) ** 2 * w).sum(dim=0) / n.clamp_min(1.0)
    n_all = w.sum().clamp_min(1.0)
    mean_all = (log_x * w).sum() / n_all
    std_all = (((log_x - mean_all) ** 2 * w).sum() / n_all).sqrt()
    few = n < 2
    return torch.where(few, mean_all, mean), torch.where(few, std_all, var.sqrt()).clamp_min(min_std)


def _integer_option(config: dict, name: str, default: int, expected: str, valid) -> None:
    """Refuse a model parameter that is not an integer (YAML ``2.5``, ``"abc"``, ``true``) or fails ``valid``.

    >>> _integer_option({"energy_repeats": 2.5}, "energy_repeats", 1, ">= 1", lambda n: n >= 1)
    Traceback (most recent call last):
    ...
    hepgen.errors.InputError: params: energy_repeats must be >= 1, got 2.5 (an integer expected)
    """
    value = config.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not valid(value):
        raise InputError(f"params: {name} must be {expected}, got {value!r} (an integer expected)")


def _switch(config: dict, name: str, auto: bool) -> bool:
    """A model parameter that is true, false or ``"auto"`` (then ``auto``); anything else refused.

    >>> _switch({"cell_sorted": "auto"}, "cell_sorted", True), _switch({"cell_sorted": False}, "cell_sorted", True)
    (True, False)
    >>> _switch({"cell_sorted": "yes"}, "cell_sorted", True)
    Traceback (most recent call last):
    ...
    hepgen.errors.InputError: params: cell_sorted must be true, false or auto, got 'yes'
    """
    value = config.get(name, False)
    if value == "auto":
        return auto
    if not isinstance(value, bool):
        raise InputError(f"params: {name} must be true, false or auto, got {value!r}")
    return value


def _lift_hits_to_floor(e: np.ndarray, floor: float) -> np.ndarray:
    """Voxel energies of one layer (B, V) -> the same hits, each at least ``floor``, with the same layer energy:
    the count is first cut to ⌊E / floor⌋ (the smallest hits go, their energy to the rest in proportion), then hits
    below the floor are raised to it and the others give up the difference in proportion to their energy above it.

    >>> _lift_hits_to_floor(np.array([[10.0, 1.0, 1.0, 0.0], [2.0, 1.5, 1.0, 0.0]]), 3.0).round(6).tolist()
    [[6.0, 3.0, 3.0, 0.0], [4.5, 0.0, 0.0, 0.0]]
    >>> _lift_hits_to_floor(np.array([[1.0, 1.0, 1.0, 1.0]]), 1.5).tolist()     # ties: exactly 2 stay, no energy made
    [[2.0, 2.0, 0.0, 0.0]]
    """
    total = e.sum(axis=1, keepdims=True)
    hit = e > 0
    cap = np.floor(total / floor + 1e-9)
    n_hit = hit.sum(axis=1, keepdims=True)
    n = np.minimum(n_hit, np.maximum(cap, 1.0)).astype(np.int64)
    cut = np.flatnonzero(n[:, 0] < n_hit[:, 0])           # only these rows lose hits: only they are sorted
    if len(cut):
        some = e[cut]
        rank = np.empty_like(some, dtype=np.int64)        # 0 for the largest; ties broken by position, so that
        np.put_along_axis(rank, np.argsort(-some, axis=1, kind="stable"), np.arange(e.shape[1])[None, :], axis=1)
        e = e.copy()
        e[cut] = np.where(rank < n[cut], some, 0.0)       # exactly n stay (equal values would all pass a threshold)
        e *= total / np.where(e.sum(axis=1, keepdims=True) > 0, e.sum(axis=1, keepdims=True), 1.0)
    low = (e > 0) & (e < floor)
    deficit = np.where(low, floor - e, 0.0).sum(axis=1, keepdims=True)
    excess = np.where(e >= floor, e - floor, 0.0)
    scale = 1.0 - deficit / np.maximum(excess.sum(axis=1, keepdims=True), 1e-300)
    lifted = np.where(low, floor, np.where(e >= floor, floor + excess * np.clip(scale, 0.0, 1.0), 0.0))
    return np.where(cap >= 1, lifted, e)


@register_model("calo-cfm")
class CaloCFM(GenerativeModel):
    """Layer energies given E_inc, ring fractions given the layer energies, cell fractions given the ring's
    energy; each by flow matching."""

    data_kind = "showers"
    tiny_config = {"hidden_energy": 16, "hidden_ring": 16, "hidden_cell": 16, "embedding": 2, "steps": 2,
                   "cell_steps": 2}
    # runs trained before the hit counts were generated, before the cells' empty band, before the per-energy scales and
    # before the rings' counts and the sorted cells, before one-hit rings skipped the cell network
    config_of_older_runs = {"hits": False, "cell_band": False, "energy_scale_knots": 0, "ring_hits": False,
                            "cell_sorted": False, "energy_batch": 0, "cell_ode_one_hit": True}
    config_presets = {
        # the default before the sorted cells: each ring's cells in α order, no ring counts (calochallenge-3: E_max
        # sep. 0.289, AUC 0.766 / 0.849; sorted 0.058, 0.544 / 0.745)
        "alpha-ordered": {"params": {"ring_hits": False, "cell_sorted": False}},
        # the cells' log c centred on their ring's mean (see _log_cells), α-ordered, measured on calochallenge-3 and
        # not adopted (E_max sep. 0.289 -> 0.251, voxel_energy 0.251 -> 0.130, high-level AUC 0.849 -> 0.885)
        "cell-centred": {"params": {"cell_centred": True, "ring_hits": False, "cell_sorted": False}},
        # the default before the energy network's own updates: one update of the shared optimiser per step on the
        # step's showers, each repeated energy_repeats times (calochallenge-3: high-level AUC 0.745)
        "energy-in-batch": {"params": {"energy_batch": 0}},
    }
    # generate with the moving average of the weights (hepgen.training.averaging): batches of 64 at a constant rate
    training_defaults = {"ema_decay": 0.999}
    default_config = {
        "hidden_energy": 256,     # units of the 3 hidden layers of the layer-energy network
        "hidden_ring": 256,       # ... of the ring-fraction network (one row per layer)
        "hidden_cell": 128,       # ... of the cell-fraction network (one row per layer and ring)
        "embedding": 8,           # size of the learnt embeddings of the layer and of the (layer, ring)
        "time_frequencies": 4,
        # midpoint steps (2 network calls each) at sampling: 4 + 4 against 10 + 8, the same 30-minute ds2 run, same
        # showers: AUC 0.616 / 0.708 against 0.607 / 0.701 (± 0.009), 2.7 against 6.9 ms/shower at batch 100;
        # 4 + 2 against 4 + 4 (the 30-minute runs, same draws): ds2 0.549 / 0.726 against 0.543 / 0.731, ds3
        # 0.540 / 0.722 against 0.548 / 0.732 (± 0.008)
        "steps": 4,               # ... of the energy and ring networks
        "cell_steps": 2,          # ... of the cell network (the most expensive one: a row per layer and ring)
        "hits": True,             # the energy network also generates each layer's number of hits (see the docstring)
        "energy_scale_knots": 8,  # energy coordinates standardised per E_inc: points in log E_inc (0: not at all)
        "shape_floor": 1e-7,      # empty cells dequantised to U(0, 1] x this fraction of their ring's energy
        "cell_band": True,        # cells standardised on the filled ones, empty ones in a band below (see encode_cells)
        "cell_centred": False,    # ... log c of the filled cells centred on their ring's mean (with cell_band only)
        # the ring network also generates each ring's hit count, given to the cell network, and the cell network a
        # ring's cells in descending order (see sort_cells); "auto": both where a ring's cells are exchangeable
        "ring_hits": "auto",
        "cell_sorted": "auto",
        # with both, at sampling: rings whose generated count is one skip the cell network, their energy in one cell
        # (true: the cell network integrates them too, as in runs trained before 2026-12-08)
        "cell_ode_one_hit": False,
        # with ring_hits: a ring whose generated count is 0 is empty, whatever its fraction (measured and not
        # adopted, see gate_rings)
        "ring_count_gates": False,
        "fit_showers": 4096,      # training showers the standardisations are fitted on
        # the energy network's own updates (see energy_updates_for): rows drawn from the whole training set's layer
        # energies and counts per update, and updates per step ("auto": 1 per 10^4 voxels, at most 4). 0: the older
        # way, the step's own showers repeated energy_repeats times in one update of the shared optimiser
        "energy_batch": 1024,
        "energy_updates": "auto",
        "energy_repeats": 8,      # (energy_batch 0 only) flow times (and dequantisations) per shower per step
        "sample_chunk": 256,      # showers per network call when sampling
        "lr": 1e-3,
        "lr_decay": 1.0,          # per-epoch factor
        "preprocessing": [{"name": "divide_by_incident"}],
    }

    def __init__(self, data_shape, n_cond, config, geometry=None) -> None:
        super().__init__(data_shape, n_cond, config, geometry)
        c = self.config
        self.n_voxels = math.prod(self.data_shape)
        index = _cell_index(geometry, self.n_voxels)
        self.n_layers, self.n_rings, self.width = index.shape
        flat = index.reshape(-1)
        real = flat < self.n_voxels
        self.register_buffer("gather_index", flat)                                    # (L G C) -> flat voxel
        cell = torch.zeros(self.n_voxels, dtype=torch.long)
        cell[flat[real]] = torch.arange(flat.numel())[real]
        self.register_buffer("scatter_index", cell)                                   # flat voxel -> (L G C)
        self.register_buffer("cell_real", real.reshape(index.shape).float())
        self.register_buffer("ring_real", (self.cell_real.sum(dim=2) > 0).float())
        L, G, C = index.shape
        _integer_option(c, "energy_repeats", 1, ">= 1", lambda n: n >= 1)
        _integer_option(c, "energy_batch", 0, ">= 0", lambda n: n >= 0)
        self.energy_batch = int(c.get("energy_batch", 0))
        self.energy_updates = self.energy_updates_for(c.get("energy_updates", "auto"), self.n_voxels)
        self.energy_table: tuple[torch.Tensor, ...] | None = None     # see before_training
        _integer_option(c, "energy_scale_knots", 0, "0 (off) or 2..64", lambda n: n == 0 or 2 <= n <= 64)
        for name in ("cell_ode_one_hit", "ring_count_gates"):       # read when sampling: refused here
            if not isinstance(c.get(name, False), bool):
                raise InputError(f"params: {name} must be true or false, got {c[name]!r}")
        self.hits = bool(c.get("hits", False))
        self.cell_band = bool(c.get("cell_band", False))
        self.cell_centred = bool(c.get("cell_centred", False))
        if self.cell_centred and not self.cell_band:
            raise InputError("params: cell_centred: true needs cell_band: true (it centres the filled cells only)")
        exchangeable = self.alpha_exchangeable(geometry, self.n_cond)
        self.ring_hits = _switch(c, "ring_hits", exchangeable) and G > 1    # one ring: its count is the layer's (in z)
        self.cell_sorted = _switch(c, "cell_sorted", exchangeable and (self.ring_hits or G == 1))
        if self.cell_sorted and not (self.ring_hits or G == 1):
            raise InputError("params: cell_sorted: true needs ring_hits: true (the count says where the order ends)")
        for name, shape in (("response", (1,)), ("energy", (L,)), ("hits", (L,)), ("ring", (L, G)),
                            ("cell", (L, G, C))):
            if name != "hits" or self.hits:     # runs trained without hit counts have no hits_mean / hits_std
                self.register_buffer(f"{name}_mean", torch.zeros(shape))
                self.register_buffer(f"{name}_std", torch.ones(shape))
        if self.ring_hits:
            self.register_buffer("ring_hits_mean", torch.zeros(L, G))
            self.register_buffer("ring_hits_std", torch.ones(L, G))
        self.scale_knots = c.get("energy_scale_knots", 0) if self.n_cond else 0
        n_energy = L + 1 + (L if self.hits else 0)                # response + fractions (+ hit counts)
        if self.scale_knots:                 # runs trained before have no energy_scale_* (identity)
            self.register_buffer("energy_scale_mean", torch.zeros(self.scale_knots, n_energy))
            self.register_buffer("energy_scale_std", torch.ones(self.scale_knots, n_energy))
            self.register_buffer("energy_scale_range", torch.tensor([-1.0, 1.0]))
            self.register_buffer("energy_scale_grid", torch.arange(float(self.scale_knots)), persistent=False)
        self.register_buffer("scales_fitted", torch.zeros((), dtype=torch.bool))
        layer_of_voxel = torch.zeros(self.n_voxels, dtype=torch.long)
        layer_of_voxel[flat[real]] = torch.arange(L).repeat_interleave(G * C)[real]
        self.register_buffer("layer_of_voxel", layer_of_voxel)
        self.register_buffer("voxel_floor_mev", torch.zeros(L))        # smallest recorded deposit per layer (MeV)
        position = torch.arange(G * C, dtype=torch.float32).expand(L, -1)
        self.register_buffer("cells_of_layer", self.cell_real.sum(dim=(1, 2)), persistent=False)
        # rank of a cell among the cells of its layer that the cell stage left empty (inner rings first); padding last
        self.register_buffer("empty_cell_key", torch.where(self.cell_real.reshape(L, G * C) > 0, -1.0 - position,
                                                           torch.full_like(position, -1e9)), persistent=False)
        n_time = 1 + 2 * int(c["time_frequencies"])
        he, hr, hc, emb = int(c["hidden_energy"]), int(c["hidden_ring"]), int(c["hidden_cell"]), int(c["embedding"])
        self.energy_net = mlp([n_energy + self.n_cond + n_time, he, he, he, n_energy], nn.SiLU)
        self.layer_embedding = nn.Embedding(L, emb)
        self.n_ring_coordinates = G * (2 if self.ring_hits else 1)               # √q (and the rings' hit counts)
        self.ring_net = mlp([self.n_ring_coordinates + 1 + emb + self.n_cond + n_energy + n_time, hr, hr, hr,
                             self.n_ring_coordinates], nn.SiLU)
        self.ring_embedding = nn.Embedding(L * G, emb)
        n_context = 2 + int(self.hits) + int(self.ring_hits) + emb + self.n_cond  # see cell_context
        self.cell_net = mlp([C + n_context + n_time, hc, hc, hc, C], nn.SiLU)   # v, context, t

    # -- representation -----------------------------------------------------------------------
    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """E_voxel / E_inc (B, n_voxels) -> layer energies u (B, L), ring fractions q (B, L, G) of each layer and
        cell fractions c (B, L, G, C) of each ring (each summing to 1 where the parent is not empty)."""
        flat = torch.cat([x.reshape(x.shape[0], -1), x.new_zeros(x.shape[0], 1)], dim=1).clamp_min(0.0)
        cells = flat[:, self.gather_index].reshape((x.shape[0],) + tuple(self.cell_real.shape))
        rings = cells.sum(dim=3)
        u = rings.sum(dim=2)
        return u, rings / u.clamp_min(1e-30).unsqueeze(-1), cells / rings.clamp_min(1e-30).unsqueeze(-1)

    def join(self, u: torch.Tensor, q: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`split`: -> E_voxel / E_inc of shape (B, *data_shape)."""
        cells = (u[:, :, None, None] * q.unsqueeze(-1) * c).reshape(u.shape[0], -1)
        return cells[:, self.scatter_index].reshape((u.shape[0],) + self.data_shape)

    def _dequantised_log(self, fractions: torch.Tensor) -> torch.Tensor:
        """log of fractions with the empty entries replaced by U(0, 1] x ``shape_floor``."""
        noise = float(self.config["shape_floor"]) * (1.0 - uniform(fractions.shape, fractions.device,
                                                                   fractions.dtype))
        return torch.log(torch.where(fractions > 0, fractions, noise))

    def _log_cells(self, c: torch.Tensor) -> torch.Tensor:
        """Cell fractions (..., C) of rings -> log c of the filled cells, with ``cell_centred`` minus the mean log c of
        their ring's filled cells (a centred log-ratio; empty cells: undefined, masked by the callers).

        Why it was tried: a third of calochallenge-3's filled (layer, ring) rows hold a single cell (c = 1 exactly,
        log c = 0 against a median of −3.4 over the 50 cells of the core ring), the rest tens of cells; given the
        reference's own ring and layer energies, the 30-minute benchmark model's cell network put one core-ring cell
        near the single-cell value beside tens of others and gave it 43 % of the ring's energy (reference 12 %;
        E_max separation 0.29). Centred, the lone cell of a single-cell ring and the cells of a full ring both lie
        near 0. Measured (30-minute calochallenge-3 benchmark): E_max separation 0.251, the voxel spectrum's 0.130
        (from 0.251), but the high-level AUC 0.885 (from 0.849), and the largest generated core-ring value still
        overshoots the reference's (median of the row maxima 4.1 σ against 2.2 σ): the mixing is not the whole cause.

        >>> from hepgen.geometry import get_geometry
        >>> g = get_geometry("belle2-ecl-5x5")
        >>> m = CaloCFM((g.n_voxels,), 1, {**CaloCFM.default_config, **CaloCFM.tiny_config, "cell_centred": True},
        ...             geometry=g)
        >>> [round(x, 3) for x in m._log_cells(torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.25, 0.25]]))[:, 0].tolist()]
        [0.0, 0.462]
        """
        log_c = torch.log(c.clamp_min(1e-30))
        if not self.cell_centred:
            return log_c
        filled = (c > 0).to(c.dtype)
        mean = (log_c * filled).sum(dim=-1, keepdim=True) / filled.sum(dim=-1, keepdim=True).clamp_min(1.0)
        return log_c - mean

    def _normalised(self, f: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Fractions >= 0 -> fractions summing to 1 over the last axis (padding and entries below the floor set
        to 0, but never the largest entry: a filled parent keeps its energy)."""
        f = f * real
        keep = (f > float(self.config["shape_floor"])) | (f >= f.amax(dim=-1, keepdim=True))
        f = f * (keep & real.bool()).to(f.dtype)
        return f / f.sum(dim=-1, keepdim=True).clamp_min(1e-30)

    def before_training(self, data: dict[str, torch.Tensor]) -> None:
        """Fit the smallest deposit a voxel of each layer records (MeV; layers without a deposit take the smallest
        of all) and the standardisations, on the first ``fit_showers`` training showers."""
        x = data["x"][: int(self.config["fit_showers"])].to(self.device)
        cond = data["cond"][: len(x)].to(self.device)
        if getattr(self, "fitted_kind", None) is not None:
            energy = self.to_physical(x, cond).reshape(len(x), -1)
            energy = torch.where(energy > 0, energy, torch.full_like(energy, math.inf))
            floor = torch.full((self.n_layers,), math.inf, device=energy.device, dtype=energy.dtype)
            floor = floor.scatter_reduce(0, self.layer_of_voxel, energy.amin(dim=0), "amin")
            smallest = floor[torch.isfinite(floor)]
            if len(smallest):
                self.voxel_floor_mev.copy_(torch.where(torch.isfinite(floor), floor, smallest.min()))
        u, q, c = self.split(x)
        c = self.sort_cells(c)
        filled = u > EMPTY
        self._fit_scales(u, q.sqrt(), c, filled, (q > 0) & filled.unsqueeze(-1), cond,
                         self._empty_layer_edge(x, cond), self.hit_counts(x, cond) if self.hits else None,
                         self.ring_hit_counts(x, cond) if self.ring_hits else None)
        if self.energy_batch:
            self.energy_table = self._energy_rows(data["x"], data["cond"])

    @torch.no_grad()
    def _energy_rows(self, x: torch.Tensor, cond: torch.Tensor, chunk: int = 4096) -> tuple:
        """What the energy network learns from, for every training shower: (layer energies u (N, L), empty-layer
        edges (N, L), hit counts (N, L) or None, conditions (N, n_cond)), on the model's device (not saved: a
        resumed run computes it again)."""
        parts = []
        for start in range(0, len(x), chunk):
            xs, cs = x[start:start + chunk].to(self.device), cond[start:start + chunk].to(self.device)
            edge = self._empty_layer_edge(xs, cs)
            u = self.split(xs)[0]
            parts.append((u, edge if torch.is_tensor(edge) else torch.full_like(u, edge),
                          self.hit_counts(xs, cs) if self.hits else None, cs))
        return tuple(None if p[0] is None else torch.cat(p) for p in zip(*parts))

    def _fit_scales(self, u: torch.Tensor, sqrt_q: torch.Tensor, c: torch.Tensor, filled: torch.Tensor,
                    ring_filled: torch.Tensor, cond: torch.Tensor, empty_edge: torch.Tensor | float = EMPTY,
                    hits: torch.Tensor | None = None, ring_hits: torch.Tensor | None = None) -> None:
        """Standardisations (before training, or from the first batch): the log response; log layer fractions
        per layer; √ ring fractions (and dequantised log ring hit counts) per (layer, ring) over the showers that
        fill the layer; log cell fractions c per cell (per rank with ``cell_sorted``) over the showers that fill its
        ring: with ``cell_band`` over the showers that fill the cell
        itself, otherwise over all of them, the empty ones dequantised (a cell never filled there has the spread
        of its dequantisation noise, so the first shower that fills it is not blown up)."""
        r, y = self._energy_coordinates(u, empty_edge)
        self.response_mean.copy_(r.mean(0))
        self.response_std.copy_(r.std(0).nan_to_num(1.0).clamp_min(1e-3))
        self.energy_mean.copy_(y.mean(0))
        self.energy_std.copy_(y.std(0).nan_to_num(1.0).clamp_min(0.05))
        if hits is not None:
            log_n = self._dequantised_log_hits(hits)
            self.hits_mean.copy_(log_n.mean(0))
            self.hits_std.copy_(log_n.std(0).nan_to_num(1.0).clamp_min(0.05))
        if self.scale_knots:
            z = self.encode_energy(u, empty_edge)
            self._fit_energy_scale(z if hits is None else torch.cat([z, self.encode_hits(hits)], dim=1), cond)
        mean, std = _standardisation(sqrt_q, filled.unsqueeze(-1) & self.ring_real.bool(), 0.01)
        self.ring_mean.copy_(mean)
        self.ring_std.copy_(std)
        if ring_hits is not None:
            mean, std = _standardisation(self._dequantised_log_hits(ring_hits),
                                         filled.unsqueeze(-1) & self.ring_real.bool(), 0.05)
            self.ring_hits_mean.copy_(mean)
            self.ring_hits_std.copy_(std)
        weight = ring_filled.unsqueeze(-1) & self.cell_real.bool()
        if self.cell_band:
            self._fit_cell_band(c, weight & (c > 0))
        else:
            mean, std = _standardisation(self._dequantised_log(c), weight, 0.05)
            self.cell_mean.copy_(mean)
            self.cell_std.copy_(std)
        self.scales_fitted.fill_(True)

    def _fit_cell_band(self, c: torch.Tensor, filled: torch.Tensor) -> None:
        """μ, σ of log c per cell over the showers that fill it (a cell filled fewer than ``CELL_MIN_FILLS`` times:
        over its ring's filled cells; a ring filled fewer than twice: over all filled cells)."""
        log_c = self._log_cells(c)
        mean, std = _standardisation(log_c, filled, 0.05)
        b, n_layers, n_rings, width = log_c.shape          # the ring's statistics: its cells as more samples
        ring_mean, ring_std = _standardisation(log_c.permute(0, 3, 1, 2).reshape(b * width, n_layers, n_rings),
                                               filled.permute(0, 3, 1, 2).reshape(b * width, n_layers, n_rings),
                                               0.05)
        few = filled.sum(dim=0) < CELL_MIN_FILLS
        mean = torch.where(few, ring_mean.unsqueeze(-1), mean)
        std = torch.where(few, ring_std.unsqueeze(-1), std)
        self.cell_mean.copy_(mean)
        self.cell_std.copy_(std)

    def energy_scale(self, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Conditions (B, n_cond) -> the mean and spread (B, 1 + L (+ L)) of the standardised energy coordinates
        expected at each shower's incident energy, interpolated linearly between ``energy_scale_knots`` equidistant
        points of the first condition (the standardised log E_inc) over the fitted range (clipped there: no
        extrapolation). The energy network learns (z − μ(E_inc)) / σ(E_inc).

        Why: a calorimeter's relative resolution falls tenfold from 1 GeV to 1 TeV, and so do the spreads of the
        layer fractions and hit counts at fixed E_inc; standardised over all energies, the network had to contract
        its noise to a few hundredths at 1 TeV, and on calochallenge-2 (30-minute benchmark) the generated hit counts
        of the shower-maximum layers above 100 GeV spread 1.5-2.5x as much as the reference's, the layer energies 1.2x
        (hepgen's high-level classifier, whose inputs are the same residuals in units of the local spread: AUC 0.93
        on the per-layer sparsities alone). In units of the local spread every energy asks for the same precision.
        Knots, not a polynomial in log E_inc: where a deep layer turns from mostly empty to mostly filled its
        spread falls within a fraction of a decade, and a cubic for log σ overestimated it there (layer energies
        2x too spread in ``hepgen demo``).

        >>> from hepgen.geometry import get_geometry
        >>> g = get_geometry("calochallenge-1-photons")
        >>> m = CaloCFM((g.n_voxels,), 1, {**CaloCFM.default_config, **CaloCFM.tiny_config}, geometry=g)
        >>> s = torch.linspace(-2, 2, 8000).unsqueeze(1)
        >>> z = torch.randn(8000, m.energy_scale_mean.shape[1]) * torch.exp(-s / 2) + 3 * s    # spread 2.7 ... 0.37
        >>> m._fit_energy_scale(z, s)
        >>> mean, std = m.energy_scale(s)
        >>> r = (z - mean) / std
        >>> [round(float(r[a:a + 1000].std()), 1) for a in (0, 7000)], abs(float(r.mean())) < 0.05
        ([1.0, 1.0], True)
        """
        if not self.scale_knots:
            return cond.new_zeros(()), cond.new_ones(())
        weights = self._knot_weights(cond)
        return weights @ self.energy_scale_mean, weights @ self.energy_scale_std

    def _knot_weights(self, cond: torch.Tensor) -> torch.Tensor:
        """(B, n_cond) -> (B, knots) linear-interpolation weights (hat functions, summing to 1) of the first
        condition on the knots; sort-free, so the exported graph holds it."""
        lo, hi = self.energy_scale_range[0], self.energy_scale_range[1]
        position = ((cond[:, :1] - lo) / (hi - lo).clamp_min(1e-6)).clamp(0.0, 1.0) * (self.scale_knots - 1)
        return (1.0 - (position - self.energy_scale_grid).abs()).clamp_min(0.0)

    def _fit_energy_scale(self, z: torch.Tensor, cond: torch.Tensor) -> None:
        """Mean and variance of :meth:`energy_scale` at each knot from the standardised coordinates z (B, n) of
        showers with conditions ``cond``: least-squares piecewise-linear fits (to z, then to the squared residuals;
        unbiased at the ends of the range, unlike local averages), with a small ridge towards the mean and variance
        of all showers that decides knots without showers; spreads at least 0.01."""
        self.energy_scale_range.copy_(torch.stack([cond[:, 0].min(), cond[:, 0].max()]))
        weights = self._knot_weights(cond)                                           # (B, K)
        normal = weights.T @ weights
        normal = normal + 1e-3 * normal.diagonal().mean() * torch.eye(len(normal), device=z.device, dtype=z.dtype)

        def fit(y: torch.Tensor) -> torch.Tensor:
            overall = y.mean(dim=0)
            return overall + torch.linalg.solve(normal, weights.T @ (y - overall))

        self.energy_scale_mean.copy_(fit(z))
        variance = fit((z - weights @ self.energy_scale_mean) ** 2)
        self.energy_scale_std.copy_(variance.clamp_min(1e-4).sqrt())

    def voxel_floor(self) -> torch.Tensor:
        """(L,) the smallest energy a voxel of each layer holds (MeV): the geometry's readout threshold or the
        smallest deposit of the layer in the training showers, whichever is larger (0 before either is known)."""
        threshold = float(getattr(self.geometry, "readout_threshold_mev", 0.0) or 0.0)
        return self.voxel_floor_mev.clamp_min(threshold)

    def hit_counts(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Preprocessed showers (B, *data_shape) -> (B, L) number of hits of each layer: voxels holding at least
        their layer's :meth:`voxel_floor` (MeV, the units :meth:`postprocess_physical` empties in; any energy > 0
        before the floor is known)."""
        counts = torch.zeros(len(x), self.n_layers, device=x.device, dtype=x.dtype)
        return counts.index_add_(1, self.layer_of_voxel, self._hits(x, cond).to(x.dtype))

    def _hits(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Preprocessed showers (B, *data_shape) -> (B, n_voxels) bool: the voxels :meth:`hit_counts` counts."""
        energy = self.to_physical(x, cond).reshape(len(x), -1) if self.fitted_kind is not None else \
            x.reshape(len(x), -1)
        return (energy > 0) & (energy >= self.voxel_floor()[self.layer_of_voxel])

    def ring_hit_counts(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Preprocessed showers (B, *data_shape) -> (B, L, G) number of hits (as :meth:`hit_counts`) of each ring
        of each layer; they sum over the rings to the layer's count.

        >>> from hepgen.geometry import get_geometry
        >>> g = get_geometry("belle2-ecl-5x5")             # one layer: rings of 1, 8 and 16 crystals
        >>> m = CaloCFM((g.n_voxels,), 1, {**CaloCFM.default_config, **CaloCFM.tiny_config}, geometry=g)
        >>> x = torch.zeros(1, 25); x[0, 12] = 0.5; x[0, [6, 7]] = 0.2; x[0, 0] = 0.1      # the centre is voxel 12
        >>> m.ring_hit_counts(x, torch.zeros(1, 1)).tolist(), m.hit_counts(x, torch.zeros(1, 1)).tolist()
        ([[[1.0, 2.0, 1.0]]], [[4.0]])
        """
        hit = torch.cat([self._hits(x, cond), x.new_zeros(len(x), 1, dtype=torch.bool)], dim=1)
        return hit[:, self.gather_index].reshape((len(x),) + tuple(self.cell_real.shape)).sum(dim=3).to(x.dtype)

    def encode_cells(self, c: torch.Tensor) -> torch.Tensor:
        """Cell fractions of each ring (B, L, G, C) -> standardised coordinates v of the cell network.

        With ``cell_band`` (the default): a filled cell at v = (log c − μ) / σ, μ and σ of the cell fitted on the
        showers that fill it (of its ring for a cell filled fewer than ``CELL_MIN_FILLS`` times), clipped to
        [−4, 20] (a fraction more than 4 σ below the cell's mean is raised to that: a few per mille of the ring's
        energy in the core); an empty one uniform in the band (−5, −4.5] right below. The
        filled cells' own spread sets the scale: with the empty ones dequantised at 1e-7 (below) σ was that of
        the two modes (median 5.9 in log c over calochallenge-2's core-ring cells, half of them empty; 0.84 for
        the filled ones alone), so a velocity error of 0.1 scaled a cell by 1.8 and the largest cell of a core
        ring held twice its share of the ring's energy (30 % against 14 %; 22 % with the band, 18 % once the cell
        network trained on the filled rows only, ``hepgen demo``).
        Which cells are hits is still an order: every empty cell decodes below every filled one.
        With ``cell_centred`` (preset ``cell-centred``) log c is taken relative to the mean log c of the ring's
        filled cells (:meth:`_log_cells`) and decoded relative to the ring's largest cell (the ring's sum sets the
        scale).
        Without the band (runs trained before): v = (log c' − μ) / σ, c' = c or, empty, U(0, 1] x ``shape_floor``.

        >>> from hepgen.geometry import get_geometry
        >>> g = get_geometry("belle2-ecl-5x5")
        >>> m = CaloCFM((g.n_voxels,), 1, {**CaloCFM.default_config, **CaloCFM.tiny_config}, geometry=g)
        >>> c = torch.tensor([0.5, 0.25, 0.25, 0.0] + [0.0] * 12).expand(1, 1, 3, 16) * m.cell_real
        >>> c = c / c.sum(dim=-1, keepdim=True)
        >>> v = m.encode_cells(c)
        >>> d = m.decode_cells(v) * m.cell_real
        >>> torch.allclose(d / d.sum(dim=-1, keepdim=True), c, atol=1e-6), bool((v[0, 0, 2, 3:] <= -4.5).all())
        (True, True)
        """
        if not self.cell_band:
            return (self._dequantised_log(c) - self.cell_mean) / self.cell_std
        filled = ((self._log_cells(c) - self.cell_mean) / self.cell_std).clamp(CELL_LOW, 20.0)
        empty = CELL_LOW - CELL_GAP - CELL_GAP * uniform(c.shape, c.device, c.dtype)
        return torch.where(c > 0, filled, empty)

    def decode_cells(self, v: torch.Tensor, log_max: float = 0.0) -> torch.Tensor:
        """Inverse of :meth:`encode_cells`: (B, L, G, C) -> cell fractions (not yet normalised), log c clipped
        at ``log_max``; with ``cell_band`` a cell below −4.25 (the middle of the gap) decodes to ``shape_floor``
        x e^(v + 4.25) (below every filled cell, in the order of v), a filled one to at least ``shape_floor``; with
        ``cell_centred`` the ring's largest filled cell decodes to 1 (fractions up to the ring's normalisation)."""
        log_c = v * self.cell_std + self.cell_mean
        if not self.cell_band:
            return torch.exp(log_c.clamp_max(log_max))
        floor = float(self.config["shape_floor"])
        cut = CELL_LOW - 0.5 * CELL_GAP
        if self.cell_centred:       # relative to the ring's largest filled cell (the scale is the ring's own)
            filled = (v > cut) & (self.cell_real > 0)
            largest = torch.where(filled, log_c, torch.full_like(log_c, -1e30)).amax(dim=-1, keepdim=True)
            log_c = log_c - torch.where(largest > -1e29, largest, torch.zeros_like(largest))
        log_c = log_c.clamp_max(log_max)
        return torch.where(v > cut, torch.exp(log_c).clamp_min(floor), floor * torch.exp((v - cut).clamp_max(0.0)))

    def _dequantised_log_hits(self, n: torch.Tensor) -> torch.Tensor:
        """Hit counts (B, L) -> log(1 + n + u), u ~ U[0.01, 0.99) (a continuous density whose floor is n again;
        the 1 % margins keep the float32 round trip exact)."""
        return torch.log1p(n + 0.01 + 0.98 * uniform(n.shape, n.device, n.dtype))

    def encode_hits(self, n: torch.Tensor) -> torch.Tensor:
        """Hit counts (B, L) -> standardised dequantised log(1 + n + u) (B, L), u ~ U[0.01, 0.99)."""
        return (self._dequantised_log_hits(n) - self.hits_mean) / self.hits_std

    def decode_hits(self, z: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`encode_hits`: (B, L) -> hit counts ⌊exp(z σ + μ) − 1⌋ clipped to [0, cells of the
        layer] (float tensor of integers).

        >>> from hepgen.geometry import get_geometry
        >>> g = get_geometry("calochallenge-2")             # 45 layers of 144 cells
        >>> m = CaloCFM((g.n_voxels,), 1, {**CaloCFM.default_config, **CaloCFM.tiny_config}, geometry=g)
        >>> n = 3.0 * torch.arange(45.0).expand(1000, -1)
        >>> bool((m.decode_hits(m.encode_hits(n)) == n).all()), m.decode_hits(torch.full((1, 45), 99.0))[0, 0].item()
        (True, 144.0)
        """
        m = torch.exp((z * self.hits_std + self.hits_mean).clamp_max(30.0)) - 1.0
        return torch.minimum(torch.floor(m).clamp_min(0.0), self.cells_of_layer)

    def _empty_layer_edge(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor | float:
        """Upper edge of the dequantised fraction of an empty layer: the layer's smallest deposit over the shower's
        visible energy (B, L; MeV / MeV), so the empty band ends where the smallest real deposit begins and the
        flow sees one continuous density across the boundary (with a gap below it, its blur turned a tenth of the
        late layers holding one or two GFlash spots into empty ones); 1e-7 before the floor is known."""
        if self.fitted_kind is None or not bool((self.voxel_floor_mev > 0).all()):
            return EMPTY
        visible = self.to_physical(x, cond).reshape(len(x), -1).sum(dim=1, keepdim=True)
        return (self.voxel_floor_mev / visible.clamp_min(1e-30)).clamp(EMPTY, 1.0)

    def _energy_coordinates(self, u: torch.Tensor, empty_edge: torch.Tensor | float = EMPTY
                            ) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer energies / E_inc (B, L) -> (log response (B, 1), log layer fractions (B, L)); the fraction of
        an empty layer dequantised to U(0, 1] x ``empty_edge`` (a continuous density instead of a spike)."""
        total = u.sum(dim=1, keepdim=True)
        f = u / total.clamp_min(1e-30)
        empty = empty_edge * (1.0 - uniform(f.shape, f.device, f.dtype))
        return torch.log(total + ENERGY_EPS), torch.log(torch.where(f > 0, f, empty))

    def encode_energy(self, u: torch.Tensor, empty_edge: torch.Tensor | float = EMPTY) -> torch.Tensor:
        """Layer energies / E_inc (B, L) -> standardised (log response, log fractions) (B, 1 + L)."""
        r, y = self._energy_coordinates(u, empty_edge)
        return torch.cat([(r - self.response_mean) / self.response_std, (y - self.energy_mean) / self.energy_std],
                         dim=1)

    def decode_energy(self, z: torch.Tensor, filled: torch.Tensor | None = None) -> torch.Tensor:
        """Inverse of :meth:`encode_energy`: (B, 1 + L) -> layer energies / E_inc (B, L) (in the units of the
        preprocessing); the response's z-score clipped at ±10, fractions clipped at 0 and renormalised, fractions
        below 1e-7 set to 0 (empty layers) or, given ``filled`` (B, L), the layers not filled."""
        # clipped z and log f <= 0: no overflow from an unconverged network
        r = torch.exp(z[:, :1].clamp(-10.0, 10.0) * self.response_std + self.response_mean)
        f = torch.exp((z[:, 1:] * self.energy_std + self.energy_mean).clamp_max(0.0))
        f = f * ((f > EMPTY) if filled is None else filled).to(f.dtype)
        return r * f / f.sum(dim=1, keepdim=True).clamp_min(1e-30)

    # -- networks ---------------------------------------------------------------------------------
    def energy_velocity(self, y: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """d y / d t of the standardised energy coordinates y (B, 1, 1 + L) at times t (B,)."""
        tf = time_features(t, int(self.config["time_frequencies"]))
        return self.energy_net(torch.cat([y[:, 0], cond, tf], dim=1)).unsqueeze(1)

    def ring_velocity(self, v: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """d v / d t of the ring coordinates v (B, L, G (+ G)) — the standardised √ ring fractions (and, with
        ``ring_hits``, the rings' standardised log hit counts) — given conditions and the standardised energy
        coordinates z (B, 1 + L (+ L)): the whole vector for every layer (a late shower is narrower in a given
        layer than an early one of the same layer energy), and each layer's own fraction."""
        t_rows = t.unsqueeze(1).expand(-1, self.n_layers).reshape(-1)
        return self.ring_row_velocity(v.flatten(0, 1), t_rows, self.ring_context(cond, z).flatten(0, 1)
                                      ).reshape(v.shape)

    def ring_row_velocity(self, v: torch.Tensor, t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """d v / d t of N independent (shower, layer) rows v (N, G (+ G)) at times t (N,), given their
        :meth:`ring_context` rows (N, k)."""
        return self.ring_net(torch.cat([v, context, time_features(t, int(self.config["time_frequencies"]))], dim=1))

    def ring_context(self, cond: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """(B, L, k) what the ring network knows of each (shower, layer) row besides its coordinates and the flow
        time: the layer's own fraction, the layer's embedding, the conditions and the whole energy vector z."""
        b, n_layers = z.shape[0], self.n_layers
        layer = self.layer_embedding.weight.unsqueeze(0).expand(b, -1, -1)
        shower = torch.cat([cond, z], dim=1).unsqueeze(1).expand(-1, n_layers, -1)
        return torch.cat([z[:, 1:n_layers + 1].unsqueeze(-1), layer, shower], dim=2)

    def _integrate_rings(self, cond: torch.Tensor, z: torch.Tensor, z_ring: torch.Tensor,
                         filled: torch.Tensor | None = None) -> torch.Tensor:
        """The ring ODE from z_ring (B, L, G (+ G)) given the energies z; with ``filled`` (B, L) bool only the rows
        of the layers that hold energy (the others keep z_ring: nothing of them reaches the shower)."""
        steps = int(self.config["steps"])
        if filled is None:
            return integrate(lambda x, t: self.ring_velocity(x, t, cond, z), z_ring, steps, "midpoint")
        rows = filled.reshape(-1).nonzero().squeeze(1)
        context = self.ring_context(cond, z).flatten(0, 1)[rows]
        w = z_ring.reshape(-1, z_ring.shape[-1])
        moved = integrate(lambda x, t: self.ring_row_velocity(x, t, context), w[rows], steps, "midpoint")
        return w.index_put((rows,), moved).reshape(z_ring.shape)

    def cell_context(self, cond: torch.Tensor, z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """(B L G, k) what the cell network knows of each (shower, layer, ring) row besides the flow time: its ring
        coordinates from w (B, L, G (+ G)) — the standardised ring fraction (and, with ``ring_hits``, hit count) —,
        its layer's fraction (and hit count) from z (B, 1 + L (+ L)), the (layer, ring) embedding and the
        conditions."""
        b, n_layers, n_rings = w.shape[0], self.n_layers, self.n_rings
        ring = self.ring_embedding.weight.reshape(1, n_layers, n_rings, -1).expand(b, -1, -1, -1)
        shower = cond[:, None, None, :].expand(-1, n_layers, n_rings, -1)
        own = w.reshape(b, n_layers, -1, n_rings).transpose(2, 3)
        layer_fraction = z[:, 1:].reshape(b, -1, n_layers).transpose(1, 2)[:, :, None, :].expand(-1, -1, n_rings, -1)
        return torch.cat([own, layer_fraction, ring, shower], dim=3).reshape(b * n_layers * n_rings, -1)

    def cell_velocity(self, v: torch.Tensor, t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """d v / d t of the standardised log cell fractions v (N, C) of N rows at times t (N,), given their
        :meth:`cell_context` (N, k); rows are independent (a row is one ring of one layer of one shower)."""
        return self.cell_net(torch.cat([v, context, time_features(t, int(self.config["time_frequencies"]))], dim=1))

    # -- GenerativeModel ----------------------------------------------------------------------------
    def configure_optimizers(self):
        lr = float(self.config["lr"])
        if not self.energy_batch:
            return {"model": torch.optim.Adam(self.parameters(), lr=lr)}
        energy = {id(p) for p in self.energy_net.parameters()}
        return {"model": torch.optim.Adam([p for p in self.parameters() if id(p) not in energy], lr=lr),
                "energy": torch.optim.Adam(self.energy_net.parameters(), lr=lr)}

    def lr_decay(self) -> dict[str, float]:
        return {"model": float(self.config["lr_decay"]), "energy": float(self.config["lr_decay"])}

    def _energy_loss(self, u: torch.Tensor, edge: torch.Tensor | float, hits: torch.Tensor | None,
                     cond: torch.Tensor) -> torch.Tensor:
        """Flow-matching loss of the energy network on showers' layer energies u (B, L), empty-layer edges and hit
        counts (B, L) at conditions cond (B, n_cond); one flow time and dequantisation per row."""
        z = self.encode_energy(u, edge)
        if hits is not None:
            z = torch.cat([z, self.encode_hits(hits)], dim=1)
        mean, std = self.energy_scale(cond)
        ones = torch.ones(z.shape[0], 1, dtype=torch.bool, device=z.device)
        return conditional_flow_matching_loss(lambda x, t: self.energy_velocity(x, t, cond),
                                              ((z - mean) / std).unsqueeze(1), ones)

    def training_step(self, batch, optimizers, step, epoch):
        cond = batch["cond"]
        u, q, c = self.split(batch["x"])
        c = self.sort_cells(c)
        filled = u > EMPTY
        ring_filled = (q > 0) & filled.unsqueeze(-1)
        edge = self._empty_layer_edge(batch["x"], cond)
        hits = self.hit_counts(batch["x"], cond) if self.hits else None
        ring_hits = self.ring_hit_counts(batch["x"], cond) if self.ring_hits else None
        if not bool(self.scales_fitted):
            self._fit_scales(u, q.sqrt(), c, filled, ring_filled, cond, edge, hits, ring_hits)
        # the energy network is 1-2 % of a step's work (one row per shower): it takes its own ``energy_updates``
        # steps on ``energy_batch`` showers drawn from the whole training set (see energy_updates_for); the ring and
        # cell networks take this batch's energy coordinates as their context
        z = self.encode_energy(u, edge)
        if hits is not None:
            z = torch.cat([z, self.encode_hits(hits)], dim=1)
        if self.energy_batch and self.energy_table is not None and "energy" in optimizers:
            if self.energy_table[0].device != u.device:       # computed before the trainer moved the model
                self.energy_table = tuple(None if a is None else a.to(u.device) for a in self.energy_table)
            table, n = self.energy_table, len(self.energy_table[0])
            for _ in range(self.energy_updates):
                rows = torch.randint(0, n, (self.energy_batch,), device=table[0].device)
                energy_loss = optimizer_step(self._energy_loss(*(None if a is None else a[rows] for a in table)),
                                             optimizers["energy"])
        else:       # older runs, or called without the training set: this batch, energy_repeats times, one update
            k = int(self.config.get("energy_repeats", 1))
            energy_loss = self._energy_loss(u.repeat(k, 1), edge.repeat(k, 1) if torch.is_tensor(edge) else edge,
                                            None if hits is None else hits.repeat(k, 1), cond.repeat(k, 1))
            if "energy" in optimizers:       # the energy network is not in the shared optimiser
                energy_loss = optimizer_step(energy_loss, optimizers["energy"])
        w = (q.sqrt() - self.ring_mean) / self.ring_std
        if ring_hits is not None:
            w = torch.cat([w, (self._dequantised_log_hits(ring_hits) - self.ring_hits_mean) / self.ring_hits_std], 2)
        v = self.encode_cells(c)
        losses = {"energy_cfm": energy_loss}
        if self.n_rings > 1:
            losses["ring_cfm"] = conditional_flow_matching_loss(lambda x, t: self.ring_velocity(x, t, cond, z), w,
                                                                filled)
        # the cell network learns on the rings that hold energy only (a quarter to two fifths of the (layer, ring)
        # rows of calochallenge-2 showers): each row its own flow time, the same loss in expectation as every row
        # at its shower's time with the empty ones masked, at a fraction of the cost
        width = v.shape[-1]
        rows = ring_filled.reshape(-1).nonzero().squeeze(1)
        context = self.cell_context(cond, z, w)[rows]
        losses["cell_cfm"] = conditional_flow_matching_loss(
            lambda x, t: self.cell_velocity(x[:, 0], t, context).unsqueeze(1), v.reshape(-1, width)[rows].unsqueeze(1),
            torch.ones(len(rows), 1, dtype=torch.bool, device=v.device)) if len(rows) else v.new_zeros(())
        optimizer_step(sum(losses.values()), optimizers["model"], counter=self.generator_steps)
        return {k: x.detach() for k, x in losses.items()}

    def transform(self, cond: torch.Tensor, z_energy: torch.Tensor, z_ring: torch.Tensor,
                  z_cell: torch.Tensor, skip_empty_rings: bool = False) -> torch.Tensor:
        """Examples from noise: integrate the energy ODE from z_energy (B, 1, 1 + L (+ L)), the ring ODE from z_ring
        (B, L, G (+ G)) given those energies, the cell ODE from z_cell (B, L, G, C) given the rings; returns
        E_voxel / E_inc (B, *data_shape). ``skip_empty_rings``: integrate the ring ODE only for the layers and the
        cell ODE only for the rings that hold energy (the same showers, a fraction of the work; the exported graph
        integrates every row)."""
        steps = int(self.config["steps"])
        b, n_layers, n_rings, width = z_cell.shape
        mean, std = self.energy_scale(cond)
        z = integrate(lambda x, t: self.energy_velocity(x, t, cond), z_energy, steps, "midpoint")[:, 0] * std + mean
        n_hits = self.decode_hits(z[:, n_layers + 1:]) if self.hits else None
        u = self.decode_energy(z[:, :n_layers + 1], None if n_hits is None else n_hits > 0.5)
        w = (self._integrate_rings(cond, z, z_ring, u > 0 if skip_empty_rings else None)
             if n_rings > 1 else torch.zeros_like(z_ring))
        q = (self._normalised(self.gate_rings((w[..., :n_rings] * self.ring_std + self.ring_mean).clamp(0.0, 1.0)
                                              ** 2, w), self.ring_real)
             if n_rings > 1 else self.ring_real.expand(b, -1, -1))
        context, v = self.cell_context(cond, z, w), z_cell.reshape(-1, width)
        one_hit = self.one_hit_rings(w)
        rows = None
        if skip_empty_rings:
            filled = ((u.unsqueeze(-1) * q) > 0).reshape(-1)
            ode = (filled & ~one_hit if one_hit is not None else filled).nonzero().squeeze(1)
            v = v.index_put((ode,), self._integrate_cells(v[ode], context[ode]))
            rows = filled.nonzero().squeeze(1)
        else:
            v = self._integrate_cells(v, context)
        if one_hit is not None:
            v = torch.where(one_hit.unsqueeze(1), self.one_hit_cells, v)
        v = v.reshape(b, n_layers, n_rings, width)
        if n_hits is not None:       # not clipped at c = 1: cells clipped to the same value would tie for a hit
            c = self.unsort_cells(self.decode_cells(v, 20.0) * self.cell_real, z_cell, rows)
            return self.keep_largest(u, q, c / c.sum(dim=-1, keepdim=True).clamp_min(1e-30), n_hits)
        return self.join(u, q, self.unsort_cells(self._normalised(self.decode_cells(v), self.cell_real), z_cell,
                                                 rows))

    def ring_counts(self, w: torch.Tensor) -> torch.Tensor:
        """Ring coordinates w (B, L, G + G) -> the rings' generated hit counts (B, L, G) (``ring_hits`` only)."""
        log_n = w[..., self.n_rings:] * self.ring_hits_std + self.ring_hits_mean
        return torch.floor(torch.exp(log_n.clamp_max(30.0)) - 1.0)

    def gate_rings(self, q: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """With ``ring_hits`` and ``ring_count_gates``: ring fractions q (B, L, G) (not yet normalised) -> the
        same where the ring's generated count is at least one, 0 where it is 0 (a counted ring whose fraction came
        out at 0 keeps a trace, 1e-30, which :meth:`_normalised` drops unless no counted ring holds more); a layer
        whose rings are all counted empty keeps q as it is. Otherwise q as it is.

        Why: √q of an empty ring is a spike at 0 that the flow blurs, half of it to small positive fractions; the
        count's coordinate separates 0 from 1 hit by a gap (see :meth:`_dequantised_log_hits`). On calochallenge-3
        (30-minute benchmark run, the reference's layer energies given) 58 % of the rings of a filled layer were
        empty in the reference, 31 % had q = 0 as generated and 56 % a count of 0; the rings' radial mean and width
        per layer (EC_r, width_r from q) against the reference's: AUC 0.880 as generated, 0.712 gated. Not adopted:
        in the showers :meth:`keep_largest` already leaves those rings empty (a layer holds its count of largest
        cells): high-level AUC 0.737 ± 0.008 gated, 0.732 without (the same run and draws, 10k vs 10k).

        >>> from hepgen.geometry import get_geometry
        >>> g = get_geometry("calochallenge-2")
        >>> m = CaloCFM((g.n_voxels,), 1, {**CaloCFM.default_config, **CaloCFM.tiny_config, "ring_count_gates": True},
        ...            geometry=g)
        >>> n = torch.zeros(1, 45, 9)
        >>> n[0, 0, :3] = torch.tensor([2.0, 0.0, 1.0])        # layer 0: rings 0 and 2 counted; layer 1: none
        >>> w = torch.cat([torch.zeros(1, 45, 9), m._dequantised_log_hits(n)], dim=2)  # ring_hits_mean 0, std 1
        >>> q = torch.zeros(1, 45, 9)
        >>> q[0, 0, :4], q[0, 1, :2] = torch.tensor([0.5, 0.3, 0.0, 0.2]), torch.tensor([0.75, 0.25])
        >>> m.gate_rings(q, w)[0, 0, :4].tolist(), m.gate_rings(q, w)[0, 1, :2].tolist()
        ([0.5, 0.0, 1.0000000031710769e-30, 0.0], [0.75, 0.25])
        """
        if not (self.ring_hits and self.config.get("ring_count_gates", False)):
            return q
        counted = self.ring_counts(w) >= 1
        gated = torch.where(counted, q.clamp_min(1e-30), torch.zeros_like(q))
        return torch.where(counted.any(dim=-1, keepdim=True), gated, q)

    def one_hit_rings(self, w: torch.Tensor) -> torch.Tensor | None:
        """(B L G,) bool: the rings whose generated count (the ring coordinates w (B, L, G + G) decoded) is at most
        one, or None where the cell network decides every ring (without ``ring_hits`` and ``cell_sorted``, or with
        ``cell_ode_one_hit``). Their cells are not integrated: with the cells sorted, a one-hit ring's energy is in
        its first cell and the rest are empty (:attr:`one_hit_cells`), which is what a cell network that obeyed
        the count would give. A third of the rings that hold energy in calochallenge-3 showers have one hit, and
        the cell network is half of the sampling time there.

        >>> from hepgen.geometry import get_geometry
        >>> g = get_geometry("calochallenge-2")
        >>> m = CaloCFM((g.n_voxels,), 1, {**CaloCFM.default_config, **CaloCFM.tiny_config}, geometry=g)
        >>> n = torch.tensor([0.0, 1.0, 2.0, 7.0]).repeat(45 * 9 // 4 + 1)[:45 * 9].reshape(1, 45, 9)
        >>> w = torch.cat([torch.zeros(1, 45, 9), m._dequantised_log_hits(n)], dim=2)   # ring_hits_mean 0, std 1
        >>> m.one_hit_rings(w)[:8].tolist()
        [True, True, False, False, True, True, False, False]
        """
        if not (self.ring_hits and self.cell_sorted) or bool(self.config.get("cell_ode_one_hit", False)):
            return None
        return (self.ring_counts(w) <= 1).reshape(-1)

    @property
    def one_hit_cells(self) -> torch.Tensor:
        """(C,) the cell coordinates of a ring with one hit: the first cell filled (at its mean), the others in the
        empty band, descending (distinct within the ring; ties between rings are resolved by :meth:`keep_largest`)."""
        k = torch.arange(self.width, device=self.cell_std.device, dtype=self.cell_std.dtype)
        return torch.where(k == 0, torch.zeros_like(k), CELL_LOW - CELL_GAP - CELL_GAP * k / self.width)

    @staticmethod
    def energy_updates_for(value, n_voxels: int) -> int:
        """Updates of the energy network per training step: an integer >= 1, or ``"auto"`` = 1 per 10^4 voxels
        (rounded up, at most 4), so that its share of a step's time stays near a fifth while the shape networks'
        cost grows with the voxels.

        Why it gets updates of its own: the energy network is 1-2 % of a step's work, and on calochallenge-3 it was
        what the high-level classifier saw. Trained alone for the 7347 steps of the 30-minute benchmark (20k
        showers), its layer energies and counts against the reference's gave AUC 0.756 (the step's 64 showers
        repeated 8 times), 0.715 with 1024 showers of the training set per update, 0.684 with 30000 such updates;
        the counts alone 0.815 / 0.772 / 0.673 (10k vs 10k, default classifier). More flow steps at sampling (16
        instead of 4) changed nothing, a wider network (512) less than more updates at the same cost.

        >>> [CaloCFM.energy_updates_for(v, n) for v, n in (("auto", 6480), ("auto", 40500), (2, 9))]
        [1, 4, 2]
        >>> CaloCFM.energy_updates_for(0, 9)
        Traceback (most recent call last):
        ...
        hepgen.errors.InputError: params: energy_updates must be an integer >= 1 or auto, got 0
        """
        if value == "auto":
            return min(4, max(1, -(-int(n_voxels) // 10_000)))
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"params: energy_updates must be an integer >= 1 or auto, got {value!r}")
        return value

    @staticmethod
    def alpha_exchangeable(geometry, n_cond: int) -> bool:
        """Whether the cells of a ring are exchangeable, so ``cell_sorted`` and ``ring_hits`` are on by default
        (``"auto"``): a cylindrical readout (radial and α bins about the particle's axis, CaloChallenge) and the
        incident energy as the only condition. Not on a cell grid (the corners of a square ring lie farther out
        than its edges) nor with more conditions (a tilted shower's axis moves across the rings: with random α its
        generated slope was 0 instead of tan 40°, ``tests/test_conditioning_direction.py``).

        >>> from hepgen.geometry import get_geometry
        >>> [CaloCFM.alpha_exchangeable(get_geometry(n), k) for n, k in (("calochallenge-2", 1),
        ...  ("calochallenge-2", 2), ("belle2-ecl-5x5", 1))]
        [True, False, False]
        """
        return geometry is not None and getattr(geometry, "r_edges", None) is not None and n_cond == 1

    def sort_cells(self, c: torch.Tensor) -> torch.Tensor:
        """With ``cell_sorted``: cell fractions (B, L, G, C) -> each ring's fractions in descending order (the
        padding of an irregular readout, zero, stays behind the real cells); otherwise ``c`` as it is.

        Why: the cell network of the calochallenge-3 benchmark (50 α cells per ring) generated the filled cells of a
        ring spread twice as wide as the reference's (standardised spread within a row 2.1 against 1.0, a tenth of
        the filled values just above the empty band), so the ring's largest cell held 42 % of its energy
        instead of 12 %. Sorted, the k-th coordinate is the ring's k-th largest cell, one mode per coordinate given
        the ring's count (``ring_hits``: coordinates below the count are filled, the rest empty), and the hottest
        cell has a coordinate of its own. The α of each value is then drawn uniformly (:meth:`unsort_cells`): right
        for showers symmetric about their axis (CaloChallenge electrons at normal incidence); what is lost is the
        order around the ring (neighbouring α cells sharing a cluster). α correlations between rings and layers are
        not generated either way: each ring's row has its own noise and no α from the others.

        >>> from hepgen.geometry import get_geometry
        >>> g = get_geometry("belle2-ecl-5x5")
        >>> m = CaloCFM((g.n_voxels,), 1, {**CaloCFM.default_config, **CaloCFM.tiny_config, "ring_hits": True,
        ...                                "cell_sorted": True}, geometry=g)
        >>> m.sort_cells(torch.tensor([0.2, 0.0, 0.5, 0.3] + [0.0] * 12).expand(1, 1, 3, 16))[0, 0, 1, :4].tolist()
        [0.5, 0.30000001192092896, 0.20000000298023224, 0.0]
        """
        return c.sort(dim=-1, descending=True).values if self.cell_sorted else c

    def unsort_cells(self, c: torch.Tensor, z_cell: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """With ``cell_sorted``: sorted cell values (B, L, G, C) -> the same values on the ring's real cells in a
        uniformly random order, the rank of the cell's starting noise z_cell (i.i.d.: every order equally likely;
        argsort exports to ONNX); otherwise ``c`` as it is. ``rows``: indices into the B L G rings of those that
        hold energy; the others come back as zeros (their cells carry no energy either way) and are not sorted.

        >>> from hepgen.geometry import get_geometry
        >>> g = get_geometry("belle2-ecl-5x5")             # the rings of 1, 8 and 16 crystals, padded to 16
        >>> m = CaloCFM((g.n_voxels,), 1, {**CaloCFM.default_config, **CaloCFM.tiny_config, "ring_hits": True,
        ...                                "cell_sorted": True}, geometry=g)
        >>> c = m.sort_cells(torch.rand(1, 1, 3, 16) * m.cell_real)
        >>> d = m.unsort_cells(c, torch.randn(1, 1, 3, 16))
        >>> torch.equal(m.sort_cells(d), c), bool((d * (1 - m.cell_real) == 0).all())
        (True, True)
        """
        if not self.cell_sorted:
            return c
        key = torch.where(self.cell_real > 0, z_cell, torch.full_like(z_cell, -1e30))
        if rows is None:
            return torch.zeros_like(c).scatter(-1, key.argsort(dim=-1, descending=True), c)
        width = c.shape[-1]
        some, key = c.reshape(-1, width)[rows], key.reshape(-1, width)[rows]
        out = torch.zeros_like(c).reshape(-1, width)
        out[rows] = torch.zeros_like(some).scatter(-1, key.argsort(dim=-1, descending=True), some)
        return out.reshape(c.shape)

    def keep_largest(self, u: torch.Tensor, q: torch.Tensor, c: torch.Tensor, n_hits: torch.Tensor) -> torch.Tensor:
        """Layer energies u (B, L), ring fractions q (B, L, G), cell fractions c (B, L, G, C) of each ring and hit
        counts (B, L) -> E_voxel / E_inc (B, *data_shape) where each layer holds exactly its count of voxels (at
        least 1 if it holds energy, at most its cells): its largest q c, renormalised to its energy u. A count
        above the cells of the layer's filled rings takes the empty rings' cells, inner rings first (a fixed
        order: the same whether or not the cell ODE ran for them). Sort and gather: it exports to ONNX.

        >>> from hepgen.geometry import get_geometry
        >>> g = get_geometry("belle2-ecl-5x5")
        >>> m = CaloCFM((g.n_voxels,), 1, {**CaloCFM.default_config, **CaloCFM.tiny_config}, geometry=g)
        >>> c = torch.rand((2,) + m.cell_real.shape) * m.cell_real
        >>> q = m.ring_real.expand(2, -1, -1) / m.ring_real.sum(dim=1, keepdim=True)
        >>> x = m.keep_largest(torch.tensor([[0.5], [0.0]]), q, c, torch.tensor([[7.0], [3.0]]))
        >>> (x > 0).sum(dim=1).tolist(), round(float(x.sum()), 6)
        ([7, 0], 0.5)
        """
        b, n_layers = u.shape
        s = (q.unsqueeze(-1) * c).reshape(b, n_layers, -1)
        real = self.cell_real.reshape(1, n_layers, -1) > 0
        key = torch.where(real & (s > 0), s, self.empty_cell_key.unsqueeze(0))
        n = torch.where(u > 0, torch.minimum(n_hits.clamp_min(1.0), self.cells_of_layer), torch.zeros_like(u))
        rank = (n.long() - 1).clamp_min(0).unsqueeze(-1)
        threshold = key.sort(dim=-1, descending=True).values.gather(2, rank)
        # exactly n: the cells above the n-th largest and, of those equal to it (one-hit rings' cells can tie),
        # the first ones in the layer's order
        above = key > threshold
        tied = key == threshold
        room = n.unsqueeze(-1) - above.sum(dim=-1, keepdim=True).to(n.dtype)
        keep = (above | (tied & (tied.to(n.dtype).cumsum(dim=-1) <= room))) & (n.unsqueeze(-1) > 0.5) & real
        e = torch.where(keep, s.clamp_min(1e-12), torch.zeros_like(s))
        e = e * (u / e.sum(dim=-1).clamp_min(1e-30)).unsqueeze(-1)
        return e.reshape(b, -1)[:, self.scatter_index].reshape((b,) + self.data_shape)

    def _integrate_cells(self, v: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return integrate(lambda x, t: self.cell_velocity(x, t, context), v, int(self.config["cell_steps"]), "midpoint")

    def _noise(self, n: int, device, dtype, generator):
        n_energy = self.n_layers + 1 + (self.n_layers if self.hits else 0)
        return (standard_normal((n, 1, n_energy), device, dtype, generator),
                standard_normal((n, self.n_layers, self.n_ring_coordinates), device, dtype, generator),
                standard_normal((n, self.n_layers, self.n_rings, self.width), device, dtype, generator))

    def sample(self, cond, generator=None):
        """Showers for the conditions ``cond`` in chunks of ``sample_chunk`` (the cell network's activations of
        a chunk stay in the CPU's caches: at batch 10000 in one piece they would not)."""
        chunk = int(self.config["sample_chunk"])
        return torch.cat([self.transform(c, *self._noise(c.shape[0], c.device, c.dtype, generator),
                                         skip_empty_rings=True) for c in cond.split(chunk)]) if len(cond) else \
            self.transform(cond, *self._noise(0, cond.device, cond.dtype, generator))

    def postprocess_physical(self, data):
        """Voxels below the geometry's readout threshold, or below the smallest deposit a voxel of their layer
        records in the training showers, are emptied and their energy given to the layer's other voxels in
        proportion (to its largest voxel if none is left), so the layer energies of the first network stay as
        generated; a layer holding less than its floor in all is first emptied and its energy given to the
        shower's other layers in proportion (it is the band the fraction of an empty layer is dequantised into, see
        :meth:`_empty_layer_edge`; the response stays as generated). The floor is the reference's readout:
        a Geant4 file's smallest deposit is its readout threshold; GFlash deposits whole spots (≈ 2.8 MeV on
        calochallenge-2), and a flow smears a few per cent of a layer's energy into the empty range below.

        With ``hits`` the generated count decides which voxels are hits (:meth:`keep_largest`); the floor step
        then keeps every hit and lifts the ones below the floor to it, the energy taken from the layer's others
        in proportion to what they hold above it, so no hit is removed and the layer energy stays as generated.
        The count is first cut to ⌊E_layer / floor⌋ (the smallest hits go): a layer cannot hold more hits of at
        least the floor than its energy pays for, and one holding less than its floor is emptied as above."""
        if not hasattr(data, "energy"):
            return data
        floor = self.voxel_floor().cpu().numpy()
        energy = data.energy.reshape(len(data.energy), -1).astype(np.float64)
        layer_of_voxel = self.layer_of_voxel.cpu().numpy()
        # each layer's voxels: a slice where they are contiguous (every CaloChallenge file), else their indices
        edges = np.searchsorted(layer_of_voxel, np.arange(self.n_layers + 1))
        contiguous = bool((np.diff(layer_of_voxel) >= 0).all())
        of_layer = [slice(int(edges[k]), int(edges[k + 1])) if contiguous else np.flatnonzero(layer_of_voxel == k)
                    for k in range(self.n_layers)]
        visible = energy.sum(axis=1)
        layers = np.stack([energy[:, voxels].sum(axis=1) for voxels in of_layer], 1)
        below = layers < floor[None, :]                    # the band an empty layer is dequantised into
        energy[below[:, layer_of_voxel]] = 0.0
        left = energy.sum(axis=1)
        energy *= np.where(left > 0, visible / np.where(left > 0, left, 1.0), 0.0)[:, None]
        n_voxels = np.bincount(layer_of_voxel, minlength=self.n_layers)
        for layer, voxels in enumerate(of_layer):
            if not n_voxels[layer] or floor[layer] <= 0:
                continue
            e = energy[:, voxels].astype(np.float64)
            total = e.sum(axis=1, keepdims=True)
            if self.hits:
                energy[:, voxels] = _lift_hits_to_floor(e, float(floor[layer]))
                continue
            kept = np.where(e >= floor[layer], e, 0.0)
            kept_sum = kept.sum(axis=1, keepdims=True)
            largest = np.zeros_like(e)
            np.put_along_axis(largest, e.argmax(axis=1)[:, None], total, axis=1)
            e = np.where(kept_sum > 0, kept * (total / np.where(kept_sum > 0, kept_sum, 1.0)), largest)
            energy[:, voxels] = e
        data.energy = energy.reshape(data.energy.shape).astype(data.energy.dtype, copy=False)
        return data

    def export_graph(self):
        """Noise of the three stages drawn outside; the graph holds the three ODEs (``steps`` midpoint steps
        each) unrolled."""
        from hepgen.models.export import ExportGraph, GraphModule

        def draw(cond, generator):
            return list(self._noise(cond.shape[0], cond.device, cond.dtype, generator))

        return ExportGraph(GraphModule(self, lambda m, cond, ze, zr, zc: m.transform(cond, ze, zr, zc)), draw,
                           "noise_0: N(0, 1) response, layer fractions (and hit counts) (B, 1, 1 + L (+ L)); "
                           "noise_1: N(0, 1) ring fractions (and hit counts) (B, L, G (+ G)); "
                           "noise_2: N(0, 1) cell fractions (B, L, G, C); "
                           "readout threshold applied outside")
