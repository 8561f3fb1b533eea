"""Energy and impact-position regressors of shower images (not generative models: they are not registered).

J. Irakkathil Jabbar, "Fast Simulation of Electromagnetic Calorimeter Responses using Deep Learning", PhD
thesis, KIT (2022), §3.4.1–3.4.2 and Appendix A: a small CNN trained on reference (GEANT4 there, GFlash here)
showers reconstructs the incident energy E (or the deposited energy E_T, the thesis's Belle II variant) and the
impact point (P_x, P_y) from the crystal energies. Used two ways:

* as auxiliary losses of a generator: the regressor is trained on reference showers only and the generator
  gets κ·|L_fake − L_real| (:func:`hepgen.models.objectives.regressor_feedback_loss`, with the thesis's
  κ_E, κ_P);
* on its own: calibrate and check a sample (``hepgen regress``): :func:`fit_regressor`, :func:`predict`,
  :func:`regression_summary`.

Architectures (``arch``): ``thesis`` takes the thesis's tables where the grid has one (5×5: Table A.3;
10×10: A.12/A.13; 30×30: A.17, heavy on a CPU), with LeakyReLU slope 0.2 (the thesis does not state it);
``compact`` (any grid; the default for grids without a thesis table) is two 3×3 convolutions of 32
channels (stride 2 on grids wider than 12), then a 64-unit dense layer. Inputs are the crystal energies in
MeV divided by a scale fitted on the training sample; outputs are standardised inside, so
``forward`` returns physical units (MeV, mm). Everything lives on the regressor's device: inputs are moved
there.

>>> import numpy as np, torch
>>> from hepgen.data import ShowerData
>>> rng = np.random.default_rng(0)
>>> e = rng.uniform(500, 2500, 64)
>>> s = ShowerData(e, rng.random((64, 25)) * e[:, None] / 25, "belle2-ecl-5x5")
>>> reg = fit_regressor(s, ["incident_energy"], steps=5, batch_size=16, seed=0)
>>> predict(reg, s).shape, reg(torch.as_tensor(s.energy[:2])).shape
((64, 1), torch.Size([2, 1]))
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from hepgen.data import ShowerData
from hepgen.errors import InputError

__all__ = ["ShowerRegressor", "FeedbackRegressors", "fit_regressor", "predict", "regression_summary", "targets_of",
           "save_regressor", "load_regressor", "ENERGY_TARGETS", "POSITION_TARGETS", "ARCHITECTURES"]

#: energy targets: the incident energy E (§3.4.1) or the deposited energy E_T (the thesis's Belle II variant)
ENERGY_TARGETS = ("incident_energy", "visible_energy")
#: the impact point (mm), stored by ``hepgen simulate --impact`` (:mod:`hepgen.simulate.impact`)
POSITION_TARGETS = ("impact_x_mm", "impact_y_mm")
ARCHITECTURES = ("thesis", "compact")

# the thesis's conv stacks: (out channels, kernel, padding, norm) per layer; "bn" batch norm, None no norm
_THESIS: dict[tuple[int, int], list[tuple[int, int, str, str | None]]] = {
    (5, 5): [(256, 3, "valid", "bn"), (128, 2, "valid", "bn")],                               # Table A.3
    (10, 10): [(256, 3, "valid", "bn"), (128, 2, "valid", "bn"), (64, 2, "valid", "bn"),
               (32, 2, "valid", None)],                                                      # Tables A.12/A.13
    (30, 30): [(256, 10, "valid", "bn"), (128, 5, "valid", "bn"), (64, 5, "valid", "bn"),
               (32, 5, "valid", "bn"), (32, 5, "valid", None)],                              # Table A.17
}


def targets_of(showers: ShowerData, targets: Sequence[str]) -> np.ndarray:
    """(N, T) float64 target values of a sample: incident_energy, visible_energy (MeV) or labels (their units).

    >>> from hepgen.data import ShowerData
    >>> s = ShowerData([1e3], np.full((1, 25), 2.0), "belle2-ecl-5x5", {"impact_x_mm": [-4.0]})
    >>> targets_of(s, ["incident_energy", "visible_energy", "impact_x_mm"]).tolist()
    [[1000.0, 50.0, -4.0]]
    """
    cols = []
    for t in targets:
        if t == "incident_energy":
            cols.append(showers.incident_energy)
        elif t == "visible_energy":
            cols.append(showers.visible_energy)
        elif t in showers.labels:
            cols.append(np.asarray(showers.labels[t], dtype=np.float64))
        else:
            hint = " (simulate with --impact to store the impact point)" if t in POSITION_TARGETS else ""
            raise InputError(f"regression target '{t}' is not in the sample (labels: {sorted(showers.labels)}){hint}")
    return np.column_stack(cols).astype(np.float64) if cols else np.zeros((len(showers), 0))


class ShowerRegressor(nn.Module):
    """CNN from the (ny, nx) crystal energies (MeV) of a one-layer grid to ``targets`` in physical units.

    ``input_scale`` (MeV), ``target_mean`` and ``target_std`` are buffers (saved with the weights), set by
    :func:`fit_regressor` from the training sample.
    """

    def __init__(self, grid_shape: Sequence[int], targets: Sequence[str], arch: str = "thesis",
                 slope: float = 0.2) -> None:
        super().__init__()
        if arch not in ARCHITECTURES:
            raise InputError(f"regressor architecture '{arch}': expected one of {', '.join(ARCHITECTURES)}")
        if not targets:
            raise InputError("a regressor needs at least one target")
        self.grid_shape = tuple(int(v) for v in grid_shape)
        self.targets = list(targets)
        self.arch = arch if (arch == "compact" or self.grid_shape in _THESIS) else "compact"
        layers: list[nn.Module] = []
        ny, nx = self.grid_shape
        c_in = 1
        if self.arch == "thesis":
            for c_out, k, pad, norm in _THESIS[self.grid_shape]:
                layers.append(nn.Conv2d(c_in, c_out, k, padding=0 if pad == "valid" else "same"))
                if norm == "bn":
                    layers.append(nn.BatchNorm2d(c_out))
                layers.append(nn.LeakyReLU(slope))
                c_in, ny, nx = c_out, ny - k + 1 if pad == "valid" else ny, nx - k + 1 if pad == "valid" else nx
            head: list[nn.Module] = [nn.Flatten(), nn.Linear(c_in * ny * nx, len(self.targets))]
        else:
            for _ in range(2):
                stride = 2 if max(ny, nx) > 12 else 1
                layers += [nn.Conv2d(c_in, 32, 3, stride=stride, padding=1), nn.LeakyReLU(slope)]
                c_in, ny, nx = 32, (ny - 1) // stride + 1, (nx - 1) // stride + 1
            head = [nn.Flatten(), nn.Linear(c_in * ny * nx, 64), nn.LeakyReLU(slope), nn.Linear(64, len(self.targets))]
        self.net = nn.Sequential(*layers, *head)
        self.register_buffer("input_scale", torch.ones(()))
        self.register_buffer("target_mean", torch.zeros(len(self.targets)))
        self.register_buffer("target_std", torch.ones(len(self.targets)))

    @property
    def device(self) -> torch.device:
        return self.input_scale.device

    def standardised(self, energy: torch.Tensor) -> torch.Tensor:
        """(B, T) standardised predictions of (B, ny, nx), (B, 1, ny, nx) or (B, ny·nx) energies in MeV."""
        x = energy.to(self.device, torch.float32).reshape(-1, 1, *self.grid_shape) / self.input_scale
        return self.net(x)

    def forward(self, energy: torch.Tensor) -> torch.Tensor:
        """(B, T) predictions in physical units (MeV, mm) of crystal energies in MeV."""
        return self.standardised(energy) * self.target_std + self.target_mean

    def config(self) -> dict:
        """Plain data that, with the state dict, rebuilds the regressor (:func:`load_regressor`)."""
        return {"grid_shape": list(self.grid_shape), "targets": self.targets, "arch": self.arch}


class FeedbackRegressors(nn.Module):
    """The energy and position regressors of a generator in training (thesis §3.4.1–3.4.2, §4.3, §6): two
    :class:`ShowerRegressor` s on crystal energies in MeV, whose targets are the generator's own preprocessed
    conditions: column 0 (standardised log E) for the energy regressor, the label columns (e.g. the impact
    point P_x, P_y) for the position regressor. Trained on real showers only (:meth:`fit_step`); the generator
    gets :meth:`feedback` = κ_E Σ|L_real − L_fake| + κ_P Σ|…|
    (:func:`~hepgen.models.objectives.regressor_feedback_loss`) with the regressors in evaluation mode. A
    regressor is left out (None) when its κ is 0, when there are no label columns (position) or when the data
    are not a one-layer crystal array.

    >>> import torch
    >>> r = FeedbackRegressors((1, 5, 5), n_cond=3, kappa_e=0.1, kappa_p=0.1, arch="compact")
    >>> opt = torch.optim.Adam(r.parameters(), lr=1e-3)
    >>> x, cond = torch.rand(8, 1, 5, 5), torch.randn(8, 3)
    >>> sorted(r.fit_step(x, cond, {"energy_regressor": opt, "position_regressor": opt}))
    ['energy_regressor_mse', 'position_regressor_mse']
    >>> float(r.feedback(x, x, cond, 0.1, 0.1).detach())
    0.0
    """

    def __init__(self, data_shape: Sequence[int], n_cond: int, kappa_e: float, kappa_p: float,
                 arch: str = "thesis") -> None:
        super().__init__()
        shape = tuple(int(v) for v in data_shape)
        grid = shape[-2:] if (len(shape) == 2 or (len(shape) == 3 and shape[0] == 1)) else None
        self.energy = ShowerRegressor(grid, ["incident_energy"], arch) if grid and kappa_e > 0 else None
        n_labels = int(n_cond) - 1
        self.position = (ShowerRegressor(grid, [f"label_{i}" for i in range(n_labels)], arch)
                         if grid and kappa_p > 0 and n_labels > 0 else None)

    def regressors(self) -> dict[str, ShowerRegressor]:
        """The regressors in use, by optimiser name."""
        out = {}
        if self.energy is not None:
            out["energy_regressor"] = self.energy
        if self.position is not None:
            out["position_regressor"] = self.position
        return out

    @torch.no_grad()
    def set_input_scale(self, physical: torch.Tensor) -> None:
        """Input scale (MeV) of every regressor: the mean crystal energy of the real showers ``physical``."""
        scale = float(physical.float().mean()) if physical.numel() else 1.0
        for reg in self.regressors().values():
            reg.input_scale.fill_(scale if scale > 0 else 1.0)

    def _targets(self, name: str, cond: torch.Tensor) -> torch.Tensor:
        return cond[:, :1] if name == "energy_regressor" else cond[:, 1:]

    def fit_step(self, real: torch.Tensor, cond: torch.Tensor, optimizers: dict) -> dict[str, torch.Tensor]:
        """One MSE step of each regressor on real showers ``real`` (MeV) with the conditions ``cond``."""
        from hepgen.models.objectives import optimizer_step

        out = {}
        for name, reg in self.regressors().items():
            reg.train()
            loss = torch.mean((reg.standardised(real.detach()) - self._targets(name, cond)) ** 2)
            out[f"{name}_mse"] = optimizer_step(loss, optimizers[name])
        return out

    def feedback(self, real: torch.Tensor, fake: torch.Tensor, cond: torch.Tensor, kappa_e: float,
                 kappa_p: float) -> torch.Tensor:
        """The generator's auxiliary loss on real and generated showers (MeV), summed over the batch."""
        from hepgen.models.objectives import regressor_feedback_loss

        regs = self.regressors()
        for reg in regs.values():
            reg.eval()
        e, p = regs.get("energy_regressor"), regs.get("position_regressor")
        return regressor_feedback_loss(e.standardised if e is not None else None,
                                       p.standardised if p is not None else None,
                                       real.detach(), fake, cond[:, :1], cond[:, 1:], kappa_e, kappa_p)


def _grid_shape(showers: ShowerData) -> tuple[int, int]:
    geo = showers.geometry
    if geo.grid_shape is None or geo.n_layers != 1:
        raise InputError(f"the regressors take one-layer crystal arrays (belle2-ecl-*), not '{geo.name}'")
    shape = geo.shape
    return int(shape[-2]), int(shape[-1])


def fit_regressor(showers: ShowerData, targets: Sequence[str], steps: int = 2000, batch_size: int = 250,
                  lr: float = 1e-3, optimizer: str = "adam", arch: str = "thesis", seed: int = 0,
                  device: str | torch.device = "cpu", progress=None) -> ShowerRegressor:
    """Train a :class:`ShowerRegressor` on ``showers`` for ``steps`` minibatches (MSE on standardised targets).

    The thesis trains the energy regressor with RMSProp at 5×10⁻⁵ and the position regressor with Adam at
    5×10⁻⁵ alongside hundreds of GAN epochs; on its own a regressor converges in a few thousand steps with Adam
    at 10⁻³ (the default; ``optimizer="rmsprop"`` and ``lr=5e-5`` give the thesis's). ``progress`` is called
    with the step number after every step.
    """
    if len(showers) < 2:
        raise InputError(f"a regressor needs at least 2 training showers, got {len(showers)}")
    if steps < 1 or batch_size < 1:
        raise InputError(f"steps and batch size must be >= 1, got {steps} and {batch_size}")
    torch.manual_seed(seed)
    reg = ShowerRegressor(_grid_shape(showers), targets, arch).to(device)
    y = targets_of(showers, reg.targets)
    mean, std = y.mean(axis=0), y.std(axis=0)
    scale = float(np.mean(showers.visible_energy)) / showers.geometry.n_voxels
    with torch.no_grad():
        reg.input_scale.fill_(scale if scale > 0 else 1.0)
        reg.target_mean.copy_(torch.as_tensor(mean))
        reg.target_std.copy_(torch.as_tensor(np.where(std > 0, std, 1.0)))
    x = torch.as_tensor(showers.energy, device=reg.device)
    yt = (torch.as_tensor(y, dtype=torch.float32, device=reg.device) - reg.target_mean) / reg.target_std
    if optimizer not in ("adam", "rmsprop"):
        raise InputError(f"optimizer '{optimizer}': expected adam or rmsprop")
    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.RMSprop)(reg.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    from hepgen.models.objectives import optimizer_step

    reg.train()
    b = min(batch_size, len(showers))
    for step in range(steps):
        idx = torch.randint(len(showers), (b,), generator=gen).to(reg.device)
        loss = torch.mean((reg.standardised(x[idx]) - yt[idx]) ** 2)
        optimizer_step(loss, opt)
        if progress is not None:
            progress(step + 1)
    _recalibrate_batch_norm(reg, x, batch_size)
    reg.eval()
    return reg


@torch.no_grad()
def _recalibrate_batch_norm(reg: ShowerRegressor, x: torch.Tensor, batch_size: int) -> None:
    """Batch-norm running statistics as the plain average over the training sample with the final weights (the
    exponential running average lags behind weights that moved fast, which biases the evaluation-mode output)."""
    norms = [m for m in reg.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None          # cumulative average
    reg.train()
    for start in range(0, len(x), max(batch_size, 2)):
        if len(x) - start >= 2:
            reg.standardised(x[start:start + batch_size])
    for m, mom in zip(norms, saved):
        m.momentum = mom


@torch.no_grad()
def predict(regressor: ShowerRegressor, showers: ShowerData, batch_size: int = 4096) -> np.ndarray:
    """(N, T) float64 predictions (physical units) for a sample, in evaluation mode."""
    if _grid_shape(showers) != regressor.grid_shape:
        raise InputError(f"regressor trained on {regressor.grid_shape} grids, got '{showers.geometry.name}'")
    was = regressor.training
    regressor.eval()
    out = [regressor(torch.as_tensor(showers.energy[i:i + batch_size])).double().cpu().numpy()
           for i in range(0, len(showers), batch_size)]
    regressor.train(was)
    return np.concatenate(out) if out else np.zeros((0, len(regressor.targets)))


def regression_summary(predicted: np.ndarray, true: np.ndarray, targets: Sequence[str],
                       incident_energy: np.ndarray | None = None, max_groups: int = 12) -> dict:
    """Bias (mean of predicted − true) and resolution (standard deviation of it) per target, overall and per
    incident energy when the sample has at most ``max_groups`` distinct energies; energies also relative
    (bias / E, resolution / E). Next to them, the trivial baseline: the RMS of (true − its mean), what predicting
    the mean would give.

    >>> r = regression_summary(np.array([[1.0], [3.0]]), np.array([[2.0], [2.0]]), ["impact_x_mm"])
    >>> r["all"]["impact_x_mm"]["bias"], r["all"]["impact_x_mm"]["resolution"], r["all"]["impact_x_mm"]["rms"]
    (0.0, 1.0, 1.0)
    """
    predicted, true = np.asarray(predicted, np.float64), np.asarray(true, np.float64)

    def stats(sel: np.ndarray) -> dict:
        out = {}
        for j, t in enumerate(targets):
            d, y = predicted[sel, j] - true[sel, j], true[sel, j]
            row = {"n": int(sel.sum()), "bias": float(d.mean()), "resolution": float(d.std()),
                   "rms": float(np.sqrt(np.mean(d ** 2))), "baseline_rms": float(y.std())}
            if t in ENERGY_TARGETS:
                row.update(relative_bias=float(np.mean(d / y)), relative_resolution=float(np.std(d / y)))
            out[t] = row
        return out

    result = {"all": stats(np.ones(len(true), bool))}
    if incident_energy is not None:
        values = np.unique(incident_energy)
        if len(values) <= max_groups:
            result["per_energy"] = {f"{v / 1e3:g} GeV": stats(incident_energy == v) for v in values}
    return result


def save_regressor(path: str | Path, regressor: ShowerRegressor) -> None:
    """Write the weights and config (tensors and plain types: loads with ``weights_only=True``) atomically."""
    from hepgen.data.atomic import atomic_path

    with atomic_path(path, overwrite=True) as tmp:
        torch.save({"config": regressor.config(), "state": regressor.state_dict()}, tmp)


def load_regressor(path: str | Path, device: str | torch.device = "cpu") -> ShowerRegressor:
    """A regressor written by :func:`save_regressor`, in evaluation mode on ``device``."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        cfg = blob["config"]
        reg = ShowerRegressor(cfg["grid_shape"], cfg["targets"], cfg["arch"])
        reg.load_state_dict(blob["state"])
    except FileNotFoundError:
        raise InputError("regressor file not found", file=str(path)) from None
    except Exception as exc:  # unpickling errors of any kind: a file that is not a saved regressor
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"not a hepgen regressor ({first})", file=str(path)) from None
    return reg.to(device).eval()
