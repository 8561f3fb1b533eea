"""Morphing a parametrised distribution: the rotating Gaussian of B. Käch, "Generative Modelling in High-Energy
Physics", PhD thesis, U. Hamburg / DESY (2024), Sec. 7.1 (Eqs. 7.2-7.5).

A zero-mean Gaussian with Σ = [[1, −0.99], [−0.99, 1]] (Eq. 7.2) rotated by φ: Σ(φ) = R(φ) Σ R(φ)ᵀ (Eq. 7.4;
R the proper rotation [[cos φ, −sin φ], [sin φ, cos φ]]: Eq. 7.3 prints the lower-left entry as −sin φ, which is
not a rotation). φ ∈ [0, π/2] covers all shapes; φ = 0 lies along the anti-diagonal, π/4 along the x axis, π/2
along the diagonal. The 4-D variant (Eq. 7.5) concatenates two independent draws at the same φ.

Three generative models learn to move φ = 0 to φ = π/2 from samples at the end points only, or also at the
midpoint φ = π/4:

* ``nf-cond`` — an RQS coupling flow conditioned on c = −1 (φ = 0), 0 (π/4, with the midpoint), +1 (π/2),
  sampled at intermediate c (it produces mixtures, not rotations);
* ``cfm`` and ``ot-cfm`` — a continuous flow transporting the φ = 0 samples themselves (flow matching with a data
  source, Tong et al., arXiv:2302.00482; minibatch OT coupling for ``ot-cfm``); with the midpoint the ODE time
  is split in two segments, t ∈ [0, ½] trained on 0 → π/4 pairs and t ∈ [½, 1] on π/4 → π/2 pairs.

The intended path is the rotation: a point of the φ = 0 ellipse with x > 0 (lower right) should end in the upper
right quadrant (x, y > 0) and one with x < 0 in the lower left; ``right_quadrant_fraction`` measures it (the
thesis's Fig. 7.4: only OT-CFM with the midpoint does this; without it, the side of the anti-diagonal decides, i.e.
about half). ``w1_end`` is the summed marginal W1 of the transported points to fresh φ = π/2 samples and
``fd_mid`` the Fréchet distance of the points at the middle of the path (t = ½, c = 0) to the true φ = π/4
distribution (Gaussian: the exact Fréchet distance of the covariances).

>>> import torch
>>> x = rotating_gaussian(50_000, torch.pi / 4, torch.Generator().manual_seed(0))
>>> [[round(v, 1) for v in row] for row in torch.cov(x.T).tolist()]       # along the x axis at φ = π/4
[[2.0, 0.0], [0.0, 0.0]]
"""

from __future__ import annotations

import math
import time
from typing import Any, Sequence

import numpy as np
import torch

from hepgen.models.layers import time_embedding
from hepgen.models.objectives import (conditional_flow_matching_loss, focal_loss, negative_log_likelihood,
                                      optimizer_step, ot_coupling)
from hepgen.models.solvers import integrate
from hepgen.studies.toymodels import N_FREQ, backbone, warmup_cosine

__all__ = ["SIGMA", "covariance", "rotating_gaussian", "right_quadrant_fraction", "TransportField",
           "MorphingCFM", "MorphingFlow", "run_morphing", "morphing_table", "MORPHING_MODELS", "train_focal_classifier",
           "classifier_study", "classifier_study_table"]

SIGMA = ((1.0, -0.99), (-0.99, 1.0))
MORPHING_MODELS = ("nf-cond", "cfm", "ot-cfm")


def covariance(phi: float) -> np.ndarray:
    """Σ(φ) = R(φ) Σ R(φ)ᵀ (Eq. 7.4), (2, 2).

    >>> np.round(covariance(np.pi / 2), 2).tolist()
    [[1.0, 0.99], [0.99, 1.0]]
    """
    c, s = math.cos(phi), math.sin(phi)
    rot = np.array([[c, -s], [s, c]])
    return rot @ np.array(SIGMA) @ rot.T


def rotating_gaussian(n: int, phi: float, generator: torch.Generator | None = None, dim: int = 2) -> torch.Tensor:
    """``n`` draws (n, ``dim``) float32 of the zero-mean Gaussian with covariance Σ(φ); ``dim`` = 4 concatenates
    two independent 2-D draws (Eq. 7.5)."""
    if dim not in (2, 4):
        raise ValueError(f"rotating Gaussian: dim must be 2 or 4, got {dim}")
    chol = torch.from_numpy(np.linalg.cholesky(covariance(phi)))
    parts = [torch.randn(n, 2, generator=generator, dtype=torch.float64) @ chol.T for _ in range(dim // 2)]
    return torch.cat(parts, 1).float()


def right_quadrant_fraction(start: np.ndarray, end: np.ndarray) -> float:
    """Fraction of points (first two coordinates) that end in the quadrant the rotation by +π/2 sends them to:
    x_start > 0 -> (x, y) > 0, x_start < 0 -> (x, y) < 0.

    >>> s = np.array([[1.0, -1.0], [-1.0, 1.0]])
    >>> right_quadrant_fraction(s, np.array([[1.0, 1.0], [1.0, 1.0]]))
    0.5
    """
    sign = np.sign(start[:, 0])
    ok = (np.sign(end[:, 0]) == sign) & (np.sign(end[:, 1]) == sign)
    return float(np.mean(ok))


def _anchors(midpoint: bool) -> list[float]:
    return [0.0, math.pi / 4, math.pi / 2] if midpoint else [0.0, math.pi / 2]


class TransportField(torch.nn.Module):
    """A velocity field v(x, t) (the playground backbone, time as :func:`hepgen.models.layers.time_embedding`) that
    transports samples themselves, t = 0 -> 1 forwards and 1 -> 0 backwards with the same field; trained on
    (source, target) pairs by :meth:`pair_loss` — :func:`hepgen.models.objectives.conditional_flow_matching_loss`
    with a data source (Tong et al., arXiv:2302.00482), minibatch OT pairs for ``coupling="ot"``.

    >>> field = TransportField(3)
    >>> field.trajectory(torch.zeros(5, 3), n_steps=4, t0=1.0, t1=0.0).shape     # backwards, 5 states
    torch.Size([5, 5, 3])
    """

    def __init__(self, dim: int, coupling: str | None = "ot", width: int | None = None, layers: int | None = None):
        super().__init__()
        self.dim = dim
        self.coupling = ot_coupling if coupling == "ot" else None
        self.net = backbone(dim + 2 * N_FREQ, dim, width=width, layers=layers)

    def velocity(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, time_embedding(t, N_FREQ)], 1))

    def pair_loss(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """The flow-matching loss of batches (n, dim) at t = 0 (``x0``) and t = 1 (``x1``)."""
        mask = torch.ones(len(x0), 1, dtype=torch.bool)
        return conditional_flow_matching_loss(lambda x, t: self.velocity(x[:, 0], t)[:, None], x1[:, None], mask,
                                              self.coupling, x0=x0[:, None])

    @torch.no_grad()
    def transport(self, x0: torch.Tensor, t1: float = 1.0, n_steps: int = 100, method: str = "midpoint",
                  t0: float = 0.0) -> torch.Tensor:
        """The points ``x0`` (at time ``t0``) carried along the ODE to time ``t1`` (steps ∝ |t1 − t0|)."""
        return integrate(self.velocity, x0, max(1, round(n_steps * abs(t1 - t0))), method, t0=t0, t1=t1)

    @torch.no_grad()
    def trajectory(self, x0: torch.Tensor, n_steps: int = 200, method: str = "midpoint", t0: float = 0.0,
                   t1: float = 1.0) -> torch.Tensor:
        """The states (n_steps + 1, n, dim) of ``x0`` at the times t0 + k (t1 − t0) / n_steps, k = 0 .. n_steps,
        of one ODE solution (the "interpolation along the ODE time" of thesis Sec. 7.1)."""
        states = [x0]
        h = (t1 - t0) / n_steps
        for k in range(n_steps):
            states.append(integrate(self.velocity, states[-1], 1, method, t0=t0 + k * h, t1=t0 + (k + 1) * h))
        return torch.stack(states)


class MorphingCFM(TransportField):
    """The rotating-Gaussian transport φ = 0 (t = 0) -> φ = π/2 (t = 1) through the given anchors: segment k of K
    covers t ∈ [k/K, (k+1)/K] and is trained on pairs (φ_k, φ_{k+1}) by
    :func:`hepgen.models.objectives.conditional_flow_matching_loss` with the φ_k samples as the source, in the
    segment's own time s = K t − k (so the segment's straight-path target x1 − x0 equals v / K)."""

    def __init__(self, dim: int = 2, coupling: str | None = "ot", midpoint: bool = True):
        super().__init__(dim, coupling)
        self.anchors = _anchors(midpoint)

    def loss(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        k_segments = len(self.anchors) - 1
        total = torch.zeros(())
        mask = torch.ones(batch_size, 1, dtype=torch.bool)
        for k in range(k_segments):
            x0 = rotating_gaussian(batch_size, self.anchors[k], generator, self.dim)[:, None]
            x1 = rotating_gaussian(batch_size, self.anchors[k + 1], generator, self.dim)[:, None]

            def segment_velocity(x: torch.Tensor, s: torch.Tensor, k: int = k) -> torch.Tensor:
                return self.velocity(x[:, 0], (k + s) / k_segments)[:, None] / k_segments

            total = total + conditional_flow_matching_loss(segment_velocity, x1, mask, self.coupling, x0=x0)
        return total / k_segments


class MorphingFlow(torch.nn.Module):
    """The conditional RQS coupling flow of Sec. 7.1 (zuko NSF, condition c = −1 / 0 / +1 for φ = 0 / π/4 / π/2)."""

    def __init__(self, dim: int = 2, midpoint: bool = True):
        super().__init__()
        import zuko

        self.dim, self.anchors = dim, _anchors(midpoint)
        self.flow = zuko.flows.NSF(dim, 1, bins=8, transforms=4, passes=2, hidden_features=(32, 32))

    @staticmethod
    def condition(phi: float) -> float:
        return 4 * phi / math.pi - 1

    def loss(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        xs, cs = [], []
        for phi in self.anchors:
            xs.append(rotating_gaussian(batch_size, phi, generator, self.dim))
            cs.append(torch.full((batch_size, 1), self.condition(phi)))
        return negative_log_likelihood(self.flow(torch.cat(cs)).log_prob(torch.cat(xs)), self.dim)

    @torch.no_grad()
    def sample(self, n: int, phi: float) -> torch.Tensor:
        return self.flow(torch.full((n, 1), self.condition(phi))).sample()


def _train(model: torch.nn.Module, steps: int, batch_size: int, seed: int, lr: float = 1e-3) -> float:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    sched = warmup_cosine(opt, steps)
    start = time.perf_counter()
    for _ in range(steps):
        optimizer_step(model.loss(batch_size, gen), opt)
        sched.step()
    return time.perf_counter() - start


def _fd_gaussian(x: np.ndarray, cov: np.ndarray) -> float:
    from hepgen.evaluate.distances import frechet_distance

    return float(frechet_distance(x.mean(0), np.cov(x.T), np.zeros(len(cov)), cov))


def run_morphing(models: Sequence[str] = MORPHING_MODELS, steps: int = 2000, batch_size: int = 256, seed: int = 0,
                 n_eval: int = 5000, dim: int = 2) -> dict[str, Any]:
    """Train each of ``models`` with and without the midpoint and measure the transport (module docstring):
    rows "<model>, midpoint" / "<model>, end points" with right_quadrant_fraction (CNFs), w1_end and fd_mid.

    >>> r = run_morphing(["ot-cfm"], steps=3, n_eval=200)
    >>> sorted(r["rows"])
    ['ot-cfm, end points', 'ot-cfm, midpoint']
    """
    from hepgen.evaluate import w1

    unknown = [m for m in models if m not in MORPHING_MODELS]
    if unknown:
        raise ValueError(f"unknown morphing model(s) {', '.join(unknown)}: expected some of "
                         f"{', '.join(MORPHING_MODELS)}")
    gen = torch.Generator().manual_seed(seed + 77)
    source = rotating_gaussian(n_eval, 0.0, gen, dim)
    target = rotating_gaussian(n_eval, math.pi / 2, gen, dim).double().numpy()
    cov_mid = covariance(math.pi / 4)
    rows: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(models):
        for midpoint in (True, False):
            label = f"{name}, {'midpoint' if midpoint else 'end points'}"
            if name == "nf-cond":
                model: torch.nn.Module = MorphingFlow(dim, midpoint)
            else:
                model = MorphingCFM(dim, "ot" if name == "ot-cfm" else None, midpoint)
            seconds = _train(model, steps, batch_size, seed + 100 * i + int(midpoint))
            row: dict[str, Any] = {"steps": steps, "seconds": seconds}
            torch.manual_seed(seed + 5)
            if name == "nf-cond":
                end = model.sample(n_eval, math.pi / 2).double().numpy()
                mid = model.sample(n_eval, math.pi / 4).double().numpy()
            else:
                end = model.transport(source).double().numpy()
                mid = model.transport(source, t1=0.5).double().numpy()
                row["right_quadrant_fraction"] = right_quadrant_fraction(source.double().numpy(), end)
            row["w1_end"] = float(sum(w1(target[:, j], end[:, j]) for j in range(dim)))
            row["fd_mid"] = _fd_gaussian(mid[:, :2], cov_mid)
            rows[label] = row
    return {"settings": {"models": list(models), "steps": steps, "batch_size": batch_size, "seed": seed,
                         "n_eval": n_eval, "dim": dim}, "rows": rows}


def morphing_table(result: dict[str, Any]) -> str:
    """Markdown table of :func:`run_morphing`'s rows.

    >>> print(morphing_table({"rows": {"cfm, midpoint": {"right_quadrant_fraction": 0.9, "w1_end": 0.1,
    ...                                                    "fd_mid": 0.2, "seconds": 3.0}}}).splitlines()[-1])
    | cfm, midpoint | 0.900 | 0.100 | 0.200 | 3 |
    """
    lines = ["| model | right quadrant | W1 at φ = π/2 (sum) | FD at the middle vs φ = π/4 | train s |",
             "|---|---|---|---|---|"]
    for name, row in result["rows"].items():
        rq = row.get("right_quadrant_fraction")
        lines.append(f"| {name} | {'–' if rq is None else f'{rq:.3f}'} | {row['w1_end']:.3f} | {row['fd_mid']:.3f} "
                     f"| {row['seconds']:.0f} |")
    return "\n".join(lines)


# -- the classifier study (thesis Sec. 7.1: which signal does a classifier trained on morphed samples see?) ------

def train_focal_classifier(signal: np.ndarray, background: np.ndarray, steps: int = 1500, batch_size: int = 512,
                           gamma: float = 1.5, width: int = 128, layers: int = 4, lr: float = 1e-3,
                           weight_decay: float = 0.0, seed: int = 0, signal_weight: np.ndarray | None = None,
                           background_weight: np.ndarray | None = None,
                           select: Any = None, n_checks: int = 10) -> tuple[Any, dict[str, Any]]:
    """A signal-vs-background classifier as in the thesis's Ch. 7: ``layers`` × ``width`` LeakyReLU MLP (the
    playground backbone), :func:`hepgen.models.objectives.focal_loss` (α = 0.5, ``gamma``), AdamW with warm-up
    and cosine annealing; every batch holds ``batch_size`` / 2 signal and background events drawn with replacement
    with probability ∝ the event weights (Sec. 7.2.3). Inputs are standardised with the training sample's mean
    and spread. ``select(predict) -> score`` (optional) is evaluated ``n_checks`` times; the state with the
    highest score is kept (checkpoint selection). Returns (predict: (n, d) array -> ŷ ∈ (0, 1), info).

    >>> rng = np.random.default_rng(0)
    >>> predict, info = train_focal_classifier(rng.normal(2, 1, (500, 2)), rng.normal(-2, 1, (500, 2)), steps=50)
    >>> bool(predict(np.array([[2.0, 2.0]]))[0] > 0.9 > 0.1 > predict(np.array([[-2.0, -2.0]]))[0])
    True
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    sig = torch.as_tensor(np.asarray(signal, np.float32))
    bkg = torch.as_tensor(np.asarray(background, np.float32))
    both = torch.cat([sig, bkg])
    mean, std = both.mean(0), both.std(0).clamp_min(1e-6)
    p_sig = torch.ones(len(sig)) if signal_weight is None else torch.as_tensor(signal_weight, dtype=torch.float32)
    p_bkg = torch.ones(len(bkg)) if background_weight is None else torch.as_tensor(background_weight,
                                                                                   dtype=torch.float32)
    net = backbone(sig.shape[1], 1, width=width, layers=layers)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = warmup_cosine(opt, steps)
    half = batch_size // 2
    target = torch.cat([torch.ones(half), torch.zeros(half)])

    def predict(x: np.ndarray) -> np.ndarray:
        net.eval()
        with torch.no_grad():
            z = (torch.as_tensor(np.asarray(x, np.float32)) - mean) / std
            out = torch.cat([torch.sigmoid(net(z[i:i + 50_000])[:, 0]) for i in range(0, len(z), 50_000)])
        net.train()
        return out.double().numpy()

    checks = set(np.linspace(steps / n_checks, steps, n_checks).round().astype(int).tolist()) if select else set()
    best_score, best_state, best_step, losses = -np.inf, None, steps, []
    for step in range(1, steps + 1):
        i_s = torch.multinomial(p_sig, half, replacement=True, generator=gen)
        i_b = torch.multinomial(p_bkg, half, replacement=True, generator=gen)
        x = (torch.cat([sig[i_s], bkg[i_b]]) - mean) / std
        loss = focal_loss(net(x)[:, 0], target, gamma=gamma)
        losses.append(float(optimizer_step(loss, opt)))
        sched.step()
        if step in checks:
            score = float(select(predict))
            if score > best_score:
                best_score, best_step = score, step
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
    if best_state is not None:
        net.load_state_dict(best_state)
    return predict, {"steps": steps, "best_step": best_step, "best_score": best_score if select else None,
                     "final_loss": float(np.mean(losses[-50:]))}


def _auc(signal_scores: np.ndarray, background_scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.ones(len(signal_scores)), np.zeros(len(background_scores))]
    return float(roc_auc_score(y, np.r_[signal_scores, background_scores]))


CLASSIFIER_PARADIGMS = ("baseline", "interpolation", "truth-scan")


def classifier_study(dim: int = 2, cfm_steps: int = 2000, classifier_steps: int = 1500, n_train: int = 20_000,
                     n_test: int = 20_000, n_time_steps: int = 200, phi_test: float = math.pi / 8,
                     gamma: float = 1.5, repeats: int = 1, seed: int = 0) -> dict[str, Any]:
    """The toy classifier study of thesis Sec. 7.1: background N(0, 1) in ``dim`` dimensions, "nature" the rotating
    Gaussian at ``phi_test`` (π/8), which no training sample contains. A 4 × 128 focal-loss (γ = 1.5) classifier is
    trained on ``n_train`` signal and background events by each paradigm:

    * ``baseline`` — the signal at the end points φ = 0 and π/2 (half each);
    * ``interpolation`` — OT-CFM (with the midpoint φ = π/4) transports fresh φ = 0 samples through
      ``n_time_steps`` midpoint steps; the signal is drawn uniformly from all the states along the ODE time;
    * ``truth-scan`` — a reference the thesis's toy does not have: true samples at φ ~ U[0, π/2].

    Tested on ``n_test`` φ = π/8 signal and background events: the ROC AUC, the fraction of the signal with
    ŷ > 0.5 (the thesis's Fig. 7.5–7.6 criterion: the baseline "does not recognise the signal at all") and that of
    the background. Also the Fréchet distance of the OT-CFM states at t = ¼ to Σ(π/8) (the morph's time as φ).
    ``repeats`` retrains every classifier (and the CNF) with new seeds: mean and error of the mean.

    >>> r = classifier_study(cfm_steps=3, classifier_steps=3, n_train=300, n_test=300, n_time_steps=4)
    >>> sorted(r["rows"])
    ['baseline', 'interpolation', 'truth-scan']
    """
    runs: dict[str, list[dict[str, float]]] = {p: [] for p in CLASSIFIER_PARADIGMS}
    fd_quarter = []
    cnf_seconds = 0.0
    for rep in range(repeats):
        s = seed + 1000 * rep
        gen = torch.Generator().manual_seed(s + 11)
        cnf = MorphingCFM(dim, "ot", midpoint=True)
        cnf_seconds += _train(cnf, cfm_steps, 256, s + 3)
        states = cnf.trajectory(rotating_gaussian(n_train, 0.0, gen, dim), n_time_steps)   # (T + 1, n, dim)
        pick = torch.randint(0, n_time_steps + 1, (n_train,), generator=gen)
        interpolated = states[pick, torch.arange(n_train)].double().numpy()
        quarter = states[round(n_time_steps / 4)].double().numpy()
        fd_quarter.append(_fd_gaussian(quarter[:, :2], covariance(math.pi / 8)))
        ends = torch.cat([rotating_gaussian(n_train // 2, 0.0, gen, dim),
                          rotating_gaussian(n_train - n_train // 2, math.pi / 2, gen, dim)]).double().numpy()
        phis = torch.rand(n_train, generator=gen) * math.pi / 2
        scan = torch.cat([rotating_gaussian(1, float(p), gen, dim) for p in phis]).double().numpy()
        background = torch.randn(n_train, dim, generator=gen).double().numpy()
        test_sig = rotating_gaussian(n_test, phi_test, gen, dim).double().numpy()
        test_bkg = torch.randn(n_test, dim, generator=gen).double().numpy()
        for k, (name, signal) in enumerate((("baseline", ends), ("interpolation", interpolated),
                                            ("truth-scan", scan))):
            predict, info = train_focal_classifier(signal, background, steps=classifier_steps, gamma=gamma,
                                                   seed=s + 17 * k)
            ys, yb = predict(test_sig), predict(test_bkg)
            runs[name].append({"auc": _auc(ys, yb), "signal_above_half": float(np.mean(ys > 0.5)),
                               "background_above_half": float(np.mean(yb > 0.5))})
    rows = {}
    for name, values in runs.items():
        row: dict[str, Any] = {"n_runs": len(values)}
        for key in values[0]:
            v = np.array([r[key] for r in values])
            row[key] = float(v.mean())
            row[key + "_err"] = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else None
        rows[name] = row
    return {"settings": {"dim": dim, "cfm_steps": cfm_steps, "classifier_steps": classifier_steps,
                         "n_train": n_train, "n_test": n_test, "n_time_steps": n_time_steps, "phi_test": phi_test,
                         "gamma": gamma, "repeats": repeats, "seed": seed},
            "fd_quarter_vs_pi_8": float(np.mean(fd_quarter)), "cnf_seconds": cnf_seconds, "rows": rows}


def classifier_study_table(result: dict[str, Any]) -> str:
    """Markdown table of :func:`classifier_study`.

    >>> row = {"auc": 0.6, "auc_err": None, "signal_above_half": 0.1, "signal_above_half_err": None,
    ...        "background_above_half": 0.2, "background_above_half_err": None}
    >>> print(classifier_study_table({"rows": {"baseline": row}}).splitlines()[-1])
    | baseline | 0.600 | 0.100 | 0.200 |
    """
    def fmt(row: dict[str, Any], key: str) -> str:
        err = row.get(key + "_err")
        return f"{row[key]:.3f}" + ("" if err is None else f" ± {err:.3f}")

    lines = ["| training signal | AUC at φ = π/8 | signal ŷ > 0.5 | background ŷ > 0.5 |", "|---|---|---|---|"]
    for name, row in result["rows"].items():
        lines.append(f"| {name} | {fmt(row, 'auc')} | {fmt(row, 'signal_above_half')} | "
                     f"{fmt(row, 'background_above_half')} |")
    return "\n".join(lines)
