"""The OnlineFlow bump hunt: does a flow ensemble trained online on every event beat prescaled data taking?

The toy of A. Butter, S. Diefenbacher, G. Kasieczka, B. Nachman, T. Plehn, D. Shih, R. Winterhalder, "Ephemeral
Learning – Augmenting Triggers with Online-Trained Normalizing Flows", arXiv:2202.09375, and S. Diefenbacher,
"Topics in Generative Modeling of Particle Physics Data", PhD thesis, U. Hamburg (2022), Sec. 9.2: an exponential
background b·exp(−b x) and a narrow Gaussian signal N(μ, σ) (b = 1, μ = 1, σ = 0.04), each event signal with
probability λ = 0.005 (λ = 0: the null test).

* **Classical analysis** on the events a prescale f_pre keeps: histogram on 0–5 in bins of 0.1, fit of the
  background α·exp(−βx + γx² + δx³ + εx⁴ + ζx⁵) (thesis eq. 9.2.3; a binned Poisson likelihood, x scaled to
  [0, 1] inside), a BumpHunter-style scan (G. Choudalakis, arXiv:1101.0390) of all windows of 2–6 bins for the
  smallest Poisson p-value of the observed count O over the fitted B, significance (O − B)/√B (eq. 9.2.4).
* **Flow analysis** (thesis Sec. 9.2, eqs. 9.2.5–9.2.8): every flow of the ensemble generates events, counts
  scaled to the number of stream events it saw; the first half of the ensemble locates the window (fit + scan of
  their union), the second half measures it: O_i and B_i per flow (B_i from a fit to flow i's own histogram),
  O = mean O_i, B = mean B_i, δ_O = (2/N_ens)·σ(O_i), δ_B = (2/N_ens)·σ(B_i) as printed,
  δ_S = √(δ_O² + δ_B²) (the printed √(O² + B²) is read as a typo) and Z = (O − B)/√(δ_S² + B).

:func:`run_study` trains the ensemble on a stream (:mod:`hepgen.training.online`), records the flow significance as
the stream goes on, the classical significance at each prescale, the crossover prescale (thesis: ≈ 4) and the null
test (thesis: both ≈ 2σ on average).

>>> x = bump_events(200_000, signal_fraction=0.05, seed=1)
>>> edges = mass_bins()
>>> result = classical_bump_hunt(x, edges)
>>> bool(0.9 <= result["lo"] < 1.0 < result["hi"] <= 1.1), result["significance"] > 10
(True, True)
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np
from scipy import optimize, special

from hepgen.errors import InputError

__all__ = ["BumpModel", "bump_events", "bump_stream", "mass_bins", "fit_background", "bump_scan",
           "classical_bump_hunt", "flow_bump_hunt", "crossover_prescale", "StudySettings", "run_study",
           "study_markdown", "study_figure"]


@dataclass(frozen=True)
class BumpModel:
    """Exponential background of rate ``b`` plus a Gaussian (``mu``, ``sigma``), signal fraction ``signal_fraction``."""

    b: float = 1.0
    mu: float = 1.0
    sigma: float = 0.04
    signal_fraction: float = 0.005


def bump_events(n: int, signal_fraction: float = 0.005, seed: int | np.random.SeedSequence = 0,
                model: BumpModel | None = None) -> np.ndarray:
    """``n`` masses (arbitrary units > 0): each independently signal with probability ``signal_fraction``.

    >>> x = bump_events(100_000, 0.0, seed=0)
    >>> round(float(x.mean()), 2), bool(x.min() > 0)
    (1.0, True)
    """
    model = model or BumpModel()
    if not 0.0 <= signal_fraction <= 1.0:
        raise InputError(f"signal fraction must be in [0, 1], got {signal_fraction}")
    rng = np.random.default_rng(seed)
    signal = rng.random(int(n)) < signal_fraction
    x = np.where(signal, rng.normal(model.mu, model.sigma, int(n)), rng.exponential(1.0 / model.b, int(n)))
    return np.maximum(x, 1e-9)   # log-transformed by the flow: no exact zeros


def bump_stream(n: int, signal_fraction: float = 0.005, seed: int = 0, chunk: int = 10_000,
                model: BumpModel | None = None) -> Iterator[np.ndarray]:
    """The same ``n`` events as a stream of (chunk, 1) arrays; chunk k drawn from ``SeedSequence([seed, k])``,
    so the stream is identical whenever it is re-opened.

    >>> a = np.concatenate(list(bump_stream(25, seed=3, chunk=10)))
    >>> a.shape, bool(np.array_equal(a, np.concatenate(list(bump_stream(25, seed=3, chunk=10)))))
    ((25, 1), True)
    """
    for k, lo in enumerate(range(0, int(n), int(chunk))):
        m = min(int(chunk), int(n) - lo)
        yield bump_events(m, signal_fraction, np.random.SeedSequence([int(seed), k]), model)[:, None]


def mass_bins(lo: float = 0.0, hi: float = 5.0, width: float = 0.1) -> np.ndarray:
    """Bin edges of the analysis (thesis: 0–5 in bins of 0.1).

    >>> len(mass_bins()) - 1
    50
    """
    return np.linspace(lo, hi, int(round((hi - lo) / width)) + 1)


# -- background fit -----------------------------------------------------------------------------------------------

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(4)


@dataclass
class BackgroundFit:
    """α·exp(Σ_j c_j t^j), t = (x − lo)/(hi − lo), fitted to a histogram; ``expected``: the fit per bin."""

    coefficients: np.ndarray
    edges: np.ndarray
    expected: np.ndarray
    chi2_per_dof: float

    def slope(self) -> float:
        """d log p / dx at the linear order (−b for a pure exponential of rate b)."""
        return float(self.coefficients[1] / (self.edges[-1] - self.edges[0]))


def _bin_integrals(coefficients: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per-bin integral of exp(poly(t)) (nbins,), its derivative in each coefficient (nbins, degree + 1))."""
    span = edges[-1] - edges[0]
    half = np.diff(edges)[:, None] / 2
    x = (edges[:-1, None] + edges[1:, None]) / 2 + half * _NODES[None, :]
    t = (x - edges[0]) / span
    powers = t[..., None] ** np.arange(len(coefficients))            # (nbins, nodes, k)
    f = np.exp(np.clip(powers @ coefficients, -700, 700))            # (nbins, nodes)
    w = half * _WEIGHTS[None, :]
    return (f * w).sum(1), np.einsum("bn,bnk->bk", f * w, powers)


def fit_background(counts: np.ndarray, edges: np.ndarray, degree: int = 5) -> BackgroundFit:
    """Binned Poisson-likelihood fit of α·exp(polynomial of ``degree``) to ``counts`` (weighted counts allowed).

    >>> x = bump_events(100_000, 0.0, seed=2)
    >>> edges = mass_bins()
    >>> fit = fit_background(np.histogram(x, edges)[0], edges, degree=1)
    >>> round(fit.slope(), 2), round(fit.chi2_per_dof, 0)
    (-1.0, 1.0)
    """
    counts = np.asarray(counts, np.float64)
    edges = np.asarray(edges, np.float64)
    if counts.ndim != 1 or len(counts) != len(edges) - 1 or counts.sum() <= 0:
        raise InputError(f"background fit: expected {len(edges) - 1} non-negative bin counts with a positive sum")
    centres = (edges[:-1] + edges[1:]) / 2
    t = (centres - edges[0]) / (edges[-1] - edges[0])
    width = np.diff(edges)
    keep = counts > 0
    start = np.zeros(degree + 1)
    if keep.sum() > degree:
        start[::-1] = np.polyfit(t[keep], np.log(counts[keep] / width[keep]), degree, w=np.sqrt(counts[keep]))
    else:
        start[0] = math.log(counts.sum() / (edges[-1] - edges[0]))

    def nll(c: np.ndarray) -> tuple[float, np.ndarray]:
        mu, dmu = _bin_integrals(c, edges)
        mu = np.maximum(mu, 1e-300)
        value = float(np.sum(mu - counts * np.log(mu)))
        return value, ((1.0 - counts / mu)[:, None] * dmu).sum(0)

    best = optimize.minimize(nll, start, jac=True, method="BFGS", options={"maxiter": 2000, "gtol": 1e-8})
    coefficients = best.x if np.isfinite(best.fun) and best.fun <= nll(start)[0] else start
    expected = _bin_integrals(coefficients, edges)[0]
    used = expected > 0
    chi2 = float(np.sum((counts[used] - expected[used]) ** 2 / np.maximum(expected[used], 1.0)))
    dof = max(1, int(used.sum()) - (degree + 1))
    return BackgroundFit(coefficients, edges, expected, chi2 / dof)


# -- BumpHunter scan ----------------------------------------------------------------------------------------------

def _windows(n_bins: int, min_width: int, max_width: int) -> tuple[np.ndarray, np.ndarray]:
    starts, stops = [], []
    for w in range(int(min_width), int(max_width) + 1):
        s = np.arange(0, n_bins - w + 1)
        starts.append(s)
        stops.append(s + w)
    return np.concatenate(starts), np.concatenate(stops)


def bump_scan(counts: np.ndarray, expected: np.ndarray, edges: np.ndarray, min_width: int = 2,
              max_width: int = 6) -> dict[str, Any]:
    """BumpHunter-style scan: over every window of ``min_width``–``max_width`` adjacent bins, the one with the
    smallest Poisson probability P(N ≥ O | B) of its observed count O given the expected B (only excesses count).
    ``counts``/``expected`` may carry leading dimensions (many histograms at once; the result's values are then
    arrays). Returns the window (bins and mass edges), O, B, significance (O − B)/√B, the local p-value and
    BumpHunter's test statistic t = −log p.

    >>> edges = mass_bins(0, 1, 0.1)
    >>> r = bump_scan(np.array([10, 10, 10, 30, 30, 10, 10, 10, 10, 10]), np.full(10, 10.0), edges)
    >>> r["first_bin"], r["last_bin"], r["observed"], round(r["significance"], 2)
    (3, 4, 60.0, 8.94)
    """
    counts = np.asarray(counts, np.float64)
    expected = np.broadcast_to(np.maximum(np.asarray(expected, np.float64), 1e-12), counts.shape)
    n_bins = counts.shape[-1]
    max_width = min(int(max_width), n_bins)
    if not 1 <= int(min_width) <= max_width:
        raise InputError(f"scan window widths {min_width}-{max_width} do not fit {n_bins} bins")
    starts, stops = _windows(n_bins, min_width, max_width)
    zero = np.zeros(counts.shape[:-1] + (1,))
    cum_o = np.concatenate([zero, np.cumsum(counts, -1)], -1)
    cum_b = np.concatenate([zero, np.cumsum(expected, -1)], -1)
    o = cum_o[..., stops] - cum_o[..., starts]
    b = cum_b[..., stops] - cum_b[..., starts]
    # P(N >= O | B) for Poisson N = regularised lower incomplete gamma P(O, B) (continuous in O for weighted counts)
    p = np.where(o > b, special.gammainc(np.maximum(o, 1e-12), b), 1.0)
    log_p = np.log(np.maximum(p, 1e-300))
    # ties (e.g. p underflowing): the largest (O − B)/√B decides
    z = (o - b) / np.sqrt(b)
    key = log_p - 1e-9 * z
    best = np.argmin(key, axis=-1)
    take = lambda a: np.take_along_axis(a, best[..., None], -1)[..., 0]   # noqa: E731
    first, last = starts[best], stops[best] - 1
    out = {"first_bin": first, "last_bin": last, "lo": edges[first], "hi": edges[last + 1], "observed": take(o),
           "expected": take(b), "significance": take(z), "p_local": take(p), "t": -take(log_p)}
    if counts.ndim == 1:
        out = {k: (int(v) if k.endswith("_bin") else float(v)) for k, v in out.items()}
    return out


def classical_bump_hunt(masses: np.ndarray, edges: np.ndarray | None = None, degree: int = 5,
                        min_width: int = 2, max_width: int = 6) -> dict[str, Any]:
    """Histogram, background fit and scan of recorded events; the scan's window, O, B and (O − B)/√B."""
    edges = mass_bins() if edges is None else edges
    counts = np.histogram(np.asarray(masses).ravel(), edges)[0].astype(np.float64)
    fit = fit_background(counts, edges, degree)
    result = bump_scan(counts, fit.expected, edges, min_width, max_width)
    result["chi2_per_dof"] = fit.chi2_per_dof
    result["events"] = int(len(np.asarray(masses).ravel()))
    return result


def flow_bump_hunt(histograms: np.ndarray, edges: np.ndarray, degree: int = 5, min_width: int = 2,
                   max_width: int = 6) -> dict[str, Any]:
    """The thesis's cross-validated ensemble significance from per-flow histograms (n_ens, n_bins), each scaled
    to the number of events the flows saw: the first half of the flows locates the window, the second measures.

    >>> rng = np.random.default_rng(0)
    >>> edges = mass_bins()
    >>> h = np.stack([np.histogram(bump_events(50_000, 0.05, seed=s), edges)[0] for s in range(4)]).astype(float)
    >>> r = flow_bump_hunt(h, edges)
    >>> bool(0.9 <= r["lo"] < 1.0 < r["hi"] <= 1.1), r["significance"] > 5
    (True, True)
    """
    histograms = np.asarray(histograms, np.float64)
    n_ens = len(histograms)
    if n_ens < 2:
        raise InputError(f"the cross-validated flow significance needs an ensemble of >= 2 flows, got {n_ens}")
    half = n_ens // 2
    locate = histograms[:half].mean(0)
    window = bump_scan(locate, fit_background(locate, edges, degree).expected, edges, min_width, max_width)
    lo, hi = window["first_bin"], window["last_bin"] + 1
    observed, background = [], []
    for h in histograms[half:2 * half]:
        observed.append(h[lo:hi].sum())
        background.append(fit_background(h, edges, degree).expected[lo:hi].sum())
    o_i, b_i = np.array(observed), np.array(background)
    o, b = float(o_i.mean()), float(b_i.mean())
    d_o, d_b = 2.0 / n_ens * float(o_i.std()), 2.0 / n_ens * float(b_i.std())
    d_s = math.hypot(d_o, d_b)
    return {"first_bin": lo, "last_bin": hi - 1, "lo": float(edges[lo]), "hi": float(edges[hi]), "observed": o,
            "expected": b, "delta_observed": d_o, "delta_expected": d_b,
            "significance": (o - b) / math.sqrt(d_s ** 2 + max(b, 1e-12))}


def crossover_prescale(prescales: Sequence[float], classical: Sequence[float], flow: float) -> float:
    """The prescale at which the classical significance (falling with the prescale) drops to ``flow``: linear in
    log(prescale) between measured points, beyond them the √(1/prescale) law of a counting experiment.

    >>> round(crossover_prescale([1, 2, 4, 8], [8.0, 5.7, 4.0, 2.8], 4.0), 2)
    4.0
    >>> round(crossover_prescale([1, 2], [8.0, 5.66], 2.0), 1)
    16.0
    """
    f = np.asarray(prescales, np.float64)
    z = np.asarray(classical, np.float64)
    if flow <= 0:
        return float("inf")
    if flow >= z[0]:
        return float(f[0] * (z[0] / flow) ** 2) if z[0] > 0 else float("nan")
    for k in range(len(f) - 1):
        if z[k] >= flow >= z[k + 1]:
            if z[k] == z[k + 1]:
                return float(f[k])
            u = (z[k] - flow) / (z[k] - z[k + 1])
            return float(np.exp(np.log(f[k]) + u * (np.log(f[k + 1]) - np.log(f[k]))))
    return float(f[-1] * (z[-1] / flow) ** 2) if z[-1] > 0 else float("inf")


# -- the study -----------------------------------------------------------------------------------------------------

@dataclass
class StudySettings:
    """A scaled-down version of the thesis's study (thesis: 5M events, 20 flows, 100 passes, lr 1e-5, 10M samples
    per flow, 10 repetitions)."""

    events: int = 200_000
    signal_fraction: float = 0.005
    repetitions: int = 2
    null_repetitions: int = 2
    prescales: list[float] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32])
    fractions: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0])   # of the stream, for the flow curve
    n_ens: int = 4
    n_buffer: int = 10_000
    n_batch: int = 250
    n_iter: int = 2
    swa_skip: int = 2
    lr: float = 1e-3
    lr_schedule: str = "constant"   # constant (thesis) or cosine within each buffer (hepgen option)
    lr_min: float = 0.01            # cosine: end of each buffer's cycle, fraction of lr
    transforms: int = 5
    transform: str = "affine"    # MADE blocks: affine (thesis) or spline
    bins: int = 8                # spline bins
    noise_dims: int | str = "auto"   # extra Gaussian dimensions (auto: 3 for the mass, as the thesis)
    hidden: list[int] = field(default_factory=lambda: [32, 32])
    samples_per_flow: int = 200_000
    degree: int = 5
    seed: int = 0

    def check(self) -> None:
        if self.events < self.n_buffer:
            raise InputError(f"events ({self.events}) must fill at least one buffer of {self.n_buffer}")
        if self.n_ens < 2:
            raise InputError(f"the flow significance splits the ensemble in halves: n_ens >= 2, got {self.n_ens}")
        if self.repetitions < 1 or self.null_repetitions < 0:
            raise InputError("repetitions must be >= 1 and null repetitions >= 0")
        if not self.prescales or min(self.prescales) < 1:
            raise InputError(f"prescales must be >= 1, got {self.prescales}")
        if not self.fractions or not all(0 < f <= 1 for f in self.fractions):
            raise InputError(f"stream fractions must be in (0, 1], got {self.fractions}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise InputError(f"lr schedule '{self.lr_schedule}': expected constant (the thesis's) or cosine")
        if self.transform not in ("affine", "spline"):
            raise InputError(f"transform '{self.transform}': expected affine (the thesis's MAF) or spline")


def _flow_histograms(ensemble, edges: np.ndarray, n_samples: int, seed: int) -> np.ndarray:
    """Per-flow histograms of generated events scaled to the number of events the ensemble saw."""
    scale = ensemble.events_seen / n_samples
    return np.stack([np.histogram(ensemble.sample(n_samples, k, seed=seed * 1000 + k).ravel(), edges)[0] * scale
                     for k in range(ensemble.config.n_ens)])


def _one_run(s: StudySettings, signal_fraction: float, seed: int, edges: np.ndarray, keep_histograms: bool,
             fractions: Sequence[float]) -> dict[str, Any]:
    """Train one ensemble on one stream; flow results at ``fractions`` of the stream, classical at each prescale."""
    from hepgen.training.online import OnlineConfig, OnlineEnsemble

    config = OnlineConfig(n_buffer=s.n_buffer, n_batch=s.n_batch, n_iter=s.n_iter, n_ens=s.n_ens,
                          swa_skip=s.swa_skip, seed=seed, lr_schedule=s.lr_schedule, lr_min=s.lr_min,
                          model={"lr": s.lr, "transforms": s.transforms, "hidden": list(s.hidden),
                                 "transform": s.transform, "bins": s.bins, "noise_dims": s.noise_dims})
    ensemble = OnlineEnsemble(1, config)
    n_buffers = -(-s.events // s.n_buffer)
    marks = {max(1, int(round(f * n_buffers))): f for f in fractions}
    flow: dict[float, dict[str, Any]] = {}
    histograms: dict[str, Any] = {}

    def on_buffer(ens) -> None:
        if ens.buffers_done in marks:
            h = _flow_histograms(ens, edges, s.samples_per_flow, seed)
            result = flow_bump_hunt(h, edges, s.degree)
            result["events"] = ens.events_seen
            flow[marks[ens.buffers_done]] = result
            if keep_histograms and ens.buffers_done == n_buffers:
                histograms["flow"] = h.mean(0).tolist()

    summary = ensemble.run(bump_stream(s.events, signal_fraction, seed, chunk=s.n_buffer), quiet=True,
                           on_buffer=on_buffer)
    data = np.concatenate(list(bump_stream(s.events, signal_fraction, seed, chunk=s.n_buffer))).ravel()
    classical = {}
    for f_pre in s.prescales:
        step = float(f_pre)
        kept = data[np.floor(np.arange(0, len(data), step)).astype(np.int64)]   # every f_pre-th event
        classical[f_pre] = classical_bump_hunt(kept, edges, s.degree)
    if keep_histograms:
        histograms["data"] = np.histogram(data, edges)[0].tolist()
    return {"seed": seed, "flow": flow, "classical": classical, "training": summary, "histograms": histograms}


def _mean_std(values: Sequence[float]) -> dict[str, float]:
    v = np.asarray(values, np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "n": int(len(v))}


def run_study(settings: StudySettings | None = None, progress: bool = True) -> dict[str, Any]:
    """The bump-hunt study: signal repetitions (flow vs prescaled classical, crossover) and null repetitions.

    Returns a JSON-ready dict: settings, per-repetition results, summaries (mean ± std over repetitions) of the
    flow significance per stream fraction, the classical significance per prescale, the crossover prescale, the
    null test, training rates and a histogram of data and flows (first repetition) for the figure.
    """
    from hepgen.progress import ProgressBar

    s = settings or StudySettings()
    s.check()
    edges = mass_bins()
    start = time.perf_counter()
    runs, nulls = [], []
    with ProgressBar(total=s.repetitions + s.null_repetitions, description="bump-hunt repetitions") as bar:
        for r in range(s.repetitions):
            runs.append(_one_run(s, s.signal_fraction, s.seed * 10_000 + r, edges, keep_histograms=r == 0,
                                 fractions=s.fractions))
            bar.advance()
        for r in range(s.null_repetitions):
            nulls.append(_one_run(s, 0.0, s.seed * 10_000 + 5000 + r, edges, keep_histograms=False,
                                  fractions=[max(s.fractions)]))
            bar.advance()
    flow_curve = {f: _mean_std([run["flow"][f]["significance"] for run in runs]) for f in s.fractions}
    classical_curve = {f: _mean_std([run["classical"][f]["significance"] for run in runs]) for f in s.prescales}
    final = flow_curve[max(s.fractions)]["mean"]
    crossover = crossover_prescale(s.prescales, [classical_curve[f]["mean"] for f in s.prescales], final)
    per_run_crossover = [crossover_prescale(s.prescales, [run["classical"][f]["significance"] for f in s.prescales],
                                            run["flow"][max(s.fractions)]["significance"]) for run in runs]
    located = [run["flow"][max(s.fractions)] for run in runs]
    mu = BumpModel().mu
    at_mu = lambda r: bool(r["lo"] <= mu <= r["hi"])   # noqa: E731  the window holds the true signal mass
    out: dict[str, Any] = {
        "settings": asdict(s),
        "model": asdict(BumpModel(signal_fraction=s.signal_fraction)),
        "flow_significance": {str(f): v for f, v in flow_curve.items()},
        "classical_significance": {str(f): v for f, v in classical_curve.items()},
        "crossover_prescale": crossover, "crossover_prescale_per_run": per_run_crossover,
        "thesis_crossover_prescale": 4.0,
        "flow_windows_at_signal": {str(f): sum(at_mu(run["flow"][f]) for run in runs) for f in s.fractions},
        "classical_windows_at_signal": {str(f): sum(at_mu(run["classical"][f]) for run in runs) for f in s.prescales},
        "flow_window": [[r["lo"], r["hi"]] for r in located],
        "classical_window": [[run["classical"][min(s.prescales)]["lo"], run["classical"][min(s.prescales)]["hi"]]
                             for run in runs],
        "training_rate": _mean_std([run["training"]["train_rate"] for run in runs + nulls]),
        "stream_rate": _mean_std([run["training"]["stream_rate"] for run in runs + nulls]),
        "histograms": runs[0]["histograms"], "edges": edges.tolist(),
        "runs": [_jsonable(run) for run in runs], "null_runs": [_jsonable(run) for run in nulls],
    }
    if nulls:
        out["null_flow_significance"] = _mean_std([run["flow"][max(s.fractions)]["significance"] for run in nulls])
        out["null_classical_significance"] = {str(f): _mean_std([run["classical"][f]["significance"] for run in nulls])
                                              for f in s.prescales}
    out["seconds"] = time.perf_counter() - start
    return out


def _jsonable(run: dict[str, Any]) -> dict[str, Any]:
    return {"seed": run["seed"], "flow": {str(k): v for k, v in run["flow"].items()},
            "classical": {str(k): v for k, v in run["classical"].items()}, "training": run["training"]}


def study_markdown(result: dict[str, Any]) -> str:
    """The study's tables (markdown)."""
    s = result["settings"]
    fmt = lambda v: f"{v['mean']:.2f} ± {v['std']:.2f}"   # noqa: E731
    n_runs = s["repetitions"]
    at = lambda key, f: (f" ({result[key][f]}/{n_runs} at μ)" if key in result else "")   # noqa: E731
    schedule = (f" (cosine to {s['lr_min']}·lr in each buffer)" if s.get("lr_schedule", "constant") == "cosine"
                else "")
    blocks = s.get("transform", "affine") + (f" ({s.get('bins', 8)} bins)" if s.get("transform") == "spline" else "")
    lines = [f"Bump hunt: {s['events']:,} stream events, λ = {s['signal_fraction']}, {s['repetitions']} repetitions "
             f"({s['null_repetitions']} null); ensemble of {s['n_ens']} flows, N_buffer {s['n_buffer']}, N_batch "
             f"{s['n_batch']}, N_iter {s['n_iter']}, lr {s['lr']}{schedule}, SWA after {s['swa_skip']} buffers, "
             f"{s.get('transforms', 5)} {blocks} MADE blocks of {'x'.join(str(h) for h in s.get('hidden', [32, 32]))}, "
             f"noise dimensions {s.get('noise_dims', 'auto')}, {s['samples_per_flow']:,} samples per flow.", "",
             "| data fraction | classical (prescale 1/fraction) | flow (stream seen) |", "|---|---|---|"]
    fractions = sorted({1.0 / float(f) for f in result["classical_significance"]} |
                       {float(f) for f in result["flow_significance"]}, reverse=True)
    for fr in fractions:
        c = next((f for f in result["classical_significance"] if abs(1.0 / float(f) - fr) < 1e-9), None)
        fl = next((f for f in result["flow_significance"] if abs(float(f) - fr) < 1e-9), None)
        c_text = fmt(result["classical_significance"][c]) + at("classical_windows_at_signal", c) if c else ""
        f_text = fmt(result["flow_significance"][fl]) + at("flow_windows_at_signal", fl) if fl else ""
        lines.append(f"| {fr:.4g} | {c_text} | {f_text} |")
    lines += ["", "(n/N at μ: repetitions whose window contains the signal mass μ; a significance elsewhere is a "
                  "fluctuation or, for the flows, mismodelling.)", "",
              f"Crossover prescale (flow on the whole stream = classical on prescaled data): "
                  f"**{result['crossover_prescale']:.2f}** (per repetition: "
                  f"{', '.join(f'{v:.2f}' for v in result['crossover_prescale_per_run'])}; thesis: ≈ 4).", ""]
    if "null_flow_significance" in result:
        lines += ["Null test (λ = 0), largest significance the scan finds:", "",
                  "| analysis | significance |", "|---|---|",
                  f"| flow ensemble (whole stream) | {fmt(result['null_flow_significance'])} |"]
        for f, v in result["null_classical_significance"].items():
            lines.append(f"| classical, prescale {float(f):g} | {fmt(v)} |")
        lines.append("")
    lines.append(f"Training rate {result['training_rate']['mean']:.3g} events/s for the whole ensemble "
                 f"(stream delivered {result['stream_rate']['mean']:.3g} events/s); study took "
                 f"{result['seconds']:.0f} s.")
    return "\n".join(lines) + "\n"


def study_figure(result: dict[str, Any], path) -> None:
    """Three panels: significance vs data fraction (classical = 1/prescale, flow = stream seen), the null test,
    and the first repetition's data and mean flow histograms around the signal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ax = axes[0]
    c = result["classical_significance"]
    fr = np.array([1.0 / float(f) for f in c])
    ax.errorbar(fr, [v["mean"] for v in c.values()], [v["std"] for v in c.values()], marker="o",
                label="classical, prescaled data")
    fl = result["flow_significance"]
    ax.errorbar([float(f) for f in fl], [v["mean"] for v in fl.values()], [v["std"] for v in fl.values()],
                marker="s", label="flow ensemble, stream seen")
    final = fl[max(fl, key=float)]["mean"]
    ax.axhline(final, color="C1", ls=":", lw=1)
    ax.axvline(1.0 / result["crossover_prescale"], color="grey", ls="--", lw=1,
               label=f"crossover: prescale {result['crossover_prescale']:.2f}")
    ax.set(xscale="log", xlabel="fraction of the stream", ylabel="significance (σ)", title="signal λ = "
           f"{result['settings']['signal_fraction']}")
    ax.legend(fontsize=8)
    ax = axes[1]
    if "null_flow_significance" in result:
        nulls = result["null_runs"]
        fmax = str(max(result["settings"]["fractions"]))
        ax.plot(np.zeros(len(nulls)), [r["flow"][fmax]["significance"] for r in nulls], "s", label="flow")
        for k, f in enumerate(result["null_classical_significance"]):
            ax.plot(np.full(len(nulls), k + 1), [r["classical"][f]["significance"] for r in nulls], "o", color="C0")
        ax.set_xticks(range(len(result["null_classical_significance"]) + 1),
                      ["flow"] + [f"pre {float(f):g}" for f in result["null_classical_significance"]], fontsize=8)
    ax.set(ylabel="largest significance found (σ)", title="null test (λ = 0)")
    ax = axes[2]
    edges = np.array(result["edges"])
    h = result["histograms"]
    if h:
        ax.stairs(h["data"], edges, label="data (whole stream)")
        ax.stairs(h["flow"], edges, label="flows (mean, scaled)")
    ax.set(xlim=(0.3, 2.0), yscale="log", xlabel="mass", ylabel="events per 0.1", title="first repetition")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)
