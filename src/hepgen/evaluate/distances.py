"""Distances between two samples of feature vectors: Fréchet (FPD) and kernel (KPD) physics distances.

Definitions of Kansal et al., arXiv:2211.10295, as implemented by the ``jetnet`` library and used by
the JetNet benchmarks and the CaloChallenge (which calls ``jetnet.evaluation.fpd(..., min_samples=10000)``
and ``kpd(..., batch_size=10000)`` on its high-level features): features are normalised by the
reference's maximum absolute value; FPD is the Fréchet distance of Gaussian fits at sample sizes
evenly spaced in 1/N, extrapolated linearly to 1/N = 0; KPD is the unbiased MMD^2 with the polynomial
kernel (x.y/d + 1)^degree (quartic by default), median and half the 16-84 % spread over batches.
Both return a :class:`Distance`: the pair ``(value, uncertainty)`` with ``notes`` saying what was done.

What cannot be computed is never given a finite-looking number (``value`` and ``uncertainty`` are NaN and
``notes["reason"]`` says why):

* non-finite entries in either sample;
* a Fréchet extrapolation whose fit did not reach the least-squares minimum (the exact non-negative
  least-squares solution of FD = a + b/N is the check), or Fréchet / MMD values that are not finite.
  The fit runs on 1/N and FD divided by their largest values: jetnet fits the raw values from a = b = 1
  and can stop early (at its start, a = 1 +- 0, on values ~1e10); jetnet's own result is kept in
  ``notes["jetnet_curve_fit"]``.

Degenerate features (:func:`screen_features`): jetnet leaves a feature whose reference is all zero
unnormalised; a feature without spread that is the same in both samples (up to round-off) is kept as
jetnet keeps it (it adds nothing to the Fréchet distance). A feature whose *reference* has no spread
(max - min <= 1e-4 times the largest |value| in either sample) while the generated values lie more
than one reference maximum outside the reference's range cannot be normalised by that maximum (a width
in an almost empty layer: reference values ~1e-8 of round-off, generated 0.05 from one two-hit shower,
normalised to 5e6, makes the Fréchet distance 1e10 on its own): it is left out of both distances and
listed in ``notes["excluded_features"]`` with the reason; with every feature left out the result is NaN.
Sizes: jetnet recommends at least 50 000 rows per sample; below that ``notes["warnings"]`` says that
the values are dominated by single tail objects and not comparable with published ones.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x, y = rng.normal(0, 1, (3000, 3)), rng.normal(0, 1, (3000, 3))
>>> value, error = kpd(x, y, num_batches=5, batch_size=1000)
>>> abs(value) < 3 * error + 1e-3
True
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = ["Distance", "screen_features", "RECOMMENDED_SAMPLES", "frechet_distance", "frechet_distance_reference",
           "fpd", "poly_kernel_sum", "mmd_poly_unbiased", "mmd_poly_unbiased_reference", "mmd_poly_unbiased_counts",
           "kpd", "single_threaded", "histogram_s2", "ecdf_distance",
           "CALOCHALLENGE_FPD", "CALOCHALLENGE_KPD", "CALOCHALLENGE_CONVENTION"]

#: settings of :func:`fpd` in the CaloChallenge's ``evaluate.py`` (``jetnet.evaluation.fpd(..., min_samples=10000)``
#: with jetnet's other defaults), as ``hepgen evaluate`` uses them
CALOCHALLENGE_FPD = {"min_samples": 10_000, "max_samples": 50_000, "num_batches": 20, "num_points": 10, "seed": 42}
#: settings of :func:`kpd` in the CaloChallenge's ``evaluate.py`` (``jetnet.evaluation.kpd(..., batch_size=10000)``
#: with jetnet's other defaults)
CALOCHALLENGE_KPD = {"batch_size": 10_000, "num_batches": 10, "seed": 42}
#: how hepgen's FPD/KPD settings relate to the official code (written beside the values in metrics.json)
CALOCHALLENGE_CONVENTION = ("CaloChallenge code/evaluate.py: jetnet.evaluation.fpd(reference, generated, "
                            "min_samples=10000) with jetnet's other defaults (max_samples 50000, 20 batches at each "
                            "of 10 sizes, seed 42) and jetnet.evaluation.kpd(reference, generated, batch_size=10000) "
                            "(10 batches, seed 42), on the challenge's high-level classifier inputs normalised by "
                            "the reference's max |x|")


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)) between two Gaussians.

    Tr sqrt(S1 S2) is the sum of the square roots of the eigenvalues of S1 S2, which equal those of the
    symmetric S1^1/2 S2 S1^1/2; two symmetric eigendecompositions replace jetnet's ``scipy.linalg.sqrtm``
    of the non-symmetric product (same value to round-off, ~10x faster on 362 x 362 covariances).

    >>> frechet_distance(np.zeros(2), np.eye(2), np.ones(2), np.eye(2))
    2.0
    """
    import torch   # one thread pool (torch's) for all float64 linear algebra of FPD/KPD

    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    s1 = torch.from_numpy(np.atleast_2d(np.asarray(sigma1, dtype=np.float64)))
    s2 = torch.from_numpy(np.atleast_2d(np.asarray(sigma2, dtype=np.float64)))
    try:
        w, v = torch.linalg.eigh(s1)
        root1 = (v * w.clamp(min=0).sqrt()) @ v.T
        m = root1 @ s2 @ root1
        lam = torch.linalg.eigvalsh(0.5 * (m + m.T))
    except RuntimeError:   # ill-conditioned (e.g. features spanning 300 decades): no distance
        return float("nan")
    d = mu1 - mu2
    return float(d @ d + s1.trace() + s2.trace() - 2 * lam.clamp(min=0).sqrt().sum())


def frechet_distance_reference(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """The same distance with ``scipy.linalg.sqrtm(S1 @ S2)`` as jetnet computes it (for tests).

    >>> frechet_distance_reference(np.zeros(2), np.eye(2), np.ones(2), np.eye(2))
    2.0
    """
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        eps = np.eye(len(mu1)) * 1e-6
        covmean = linalg.sqrtm((sigma1 + eps) @ (sigma2 + eps))
    d = mu1 - mu2
    return float(d @ d + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(np.real(covmean)))


def _mean_cov(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (as ``np.cov(x, rowvar=False)``) with a float64 torch product."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
    mean = t.mean(0)
    c = t - mean
    return mean.numpy(), (c.T @ c).div_(len(x) - 1).numpy()


def _mean_cov_of_draw(x: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_mean_cov` of the rows ``x[index]`` (a draw with replacement); where the draw is larger than
    ``x``, from the rows of ``x`` weighted by how often each was drawn (the same sums, len(x) instead of
    len(index) rows in the product)."""
    if len(index) <= len(x):
        return _mean_cov(x[np.sort(index)])
    import torch

    counts = torch.from_numpy(np.bincount(index, minlength=len(x)).astype(np.float64))
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
    mean = (counts @ t) / len(index)
    c = t - mean
    return mean.numpy(), ((c * counts[:, None]).T @ c).div_(len(index) - 1).numpy()


def _normalise(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = np.abs(x).max(axis=0)
    scale[scale == 0] = 1
    return x / scale, y / scale


#: jetnet's recommended minimum number of rows per sample for FPD, KPD and the W1 metrics
RECOMMENDED_SAMPLES = 50_000


class Distance(tuple):
    """``(value, uncertainty)`` of a distance, unpackable as a pair, with ``notes`` (a dict) beside it:
    ``reason`` (None, or why value and uncertainty are NaN), ``excluded_features`` (degenerate features
    left out, with reasons), ``warnings`` (e.g. a sample below the recommended size), ``n_reference``,
    ``n_generated`` and the settings used.

    >>> d = Distance(0.5, 0.1, reason=None)
    >>> value, error = d
    >>> value, d.error, d.notes["reason"]
    (0.5, 0.1, None)
    """

    def __new__(cls, value: float, error: float, **notes):
        obj = super().__new__(cls, (float(value), float(error)))
        obj.notes = dict(notes)
        return obj

    @property
    def value(self) -> float:
        return self[0]

    @property
    def error(self) -> float:
        return self[1]

    def as_dict(self) -> dict:
        """``{"value", "error", **notes}``."""
        return {"value": self[0], "error": self[1], **self.notes}


def screen_features(ref_features: np.ndarray, gen_features: np.ndarray, rtol: float = 1e-4,
                    names: list[str] | None = None, max_outside: float = 1.0
                    ) -> tuple[np.ndarray, list[dict], str | None]:
    """Which features FPD/KPD can use: ``(keep, excluded, fatal)``.

    ``keep`` is a boolean mask over the features; ``excluded`` lists ``{"index", "name", "reason"}`` for
    features whose reference has no spread (max - min <= ``rtol`` x the largest |value| in either
    sample) while the generated values, divided by the reference maximum as jetnet divides them, lie
    more than ``max_outside`` outside the reference's range (every other normalised feature lives in
    [-1, 1], so such a feature alone would make the distance). Features without spread that stay close
    (a constant in both samples, an EFP that is 1 up to float32 round-off) are kept as jetnet keeps
    them: they add (almost) nothing to the Fréchet distance and keep the kernel's d. ``fatal`` is a
    reason string when the distances cannot be computed at all (non-finite entries, too few rows).

    >>> x = np.c_[np.arange(4.0), np.full(4, 1e-8)]
    >>> y = np.c_[np.arange(4.0), [1e-8, 1e-8, 1e-8, 0.05]]
    >>> keep, excluded, fatal = screen_features(x, y)
    >>> keep.tolist(), excluded[0]["index"], fatal
    ([True, False], 1, None)
    >>> screen_features(x, np.c_[y[:, :1], [np.nan] * 4])[2]
    'non-finite values in the generated sample: 4 rows, first feature 1'
    """
    x, y = np.asarray(ref_features), np.asarray(gen_features)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        return np.zeros(0, bool), [], f"expected two (N, d) arrays of equal d, got {x.shape} and {y.shape}"
    if len(x) < 2 or len(y) < 2:
        return np.zeros(x.shape[1], bool), [], f"need at least 2 rows per sample, got {len(x)} and {len(y)}"
    for sample, a in (("reference", x), ("generated", y)):
        bad = ~np.isfinite(a)
        if bad.any():
            rows, cols = np.nonzero(bad)
            return (np.zeros(x.shape[1], bool), [], f"non-finite values in the {sample} sample: "
                    f"{len(np.unique(rows))} rows, first feature {_name(int(cols.min()), names)}")
    lo_x, hi_x, lo_y, hi_y = x.min(0), x.max(0), y.min(0), y.max(0)
    scale = np.maximum(np.abs(np.c_[lo_x, hi_x, lo_y, hi_y]).max(axis=1), np.finfo(float).tiny)
    flat_ref = (hi_x - lo_x) <= rtol * scale
    ref_max = np.maximum(np.abs(lo_x), np.abs(hi_x))
    jetnet_scale = np.where(ref_max > 0, ref_max, 1.0)
    outside = np.maximum(lo_x - lo_y, hi_y - hi_x).clip(min=0) / jetnet_scale
    keep = ~(flat_ref & (outside > max_outside))
    excluded = [{"index": int(i), "name": _name(int(i), names),
                 "reason": f"no spread in the reference ({lo_x[i]:.3g} to {hi_x[i]:.3g}) while the generated sample "
                           f"spans {lo_y[i]:.3g} to {hi_y[i]:.3g}: normalised by the reference maximum, the generated "
                           f"values leave the reference's range by {outside[i]:.3g}"}
                for i in np.flatnonzero(~keep)]
    if not keep.any():
        return keep, excluded, "every feature is degenerate (no spread in the reference)"
    return keep, excluded, None


def _name(i: int, names: list[str] | None) -> str:
    return names[i] if names is not None and i < len(names) else str(i)


def _size_warnings(n_ref: int, n_gen: int, what: str) -> list[str]:
    n = min(n_ref, n_gen)
    if n >= RECOMMENDED_SAMPLES:
        return []
    return [f"{what} on {n_ref} reference and {n_gen} generated rows, below the {RECOMMENDED_SAMPLES} recommended "
            "(jetnet, Kansal et al. arXiv:2211.10295): batches are drawn with replacement, so the value is "
            "dominated by single tail objects and not comparable with published values"]


def _fit_intercept(inv_sizes: np.ndarray, vals: np.ndarray) -> tuple[float, float, str | None, tuple[float, float]]:
    """FD(1/N) = a + b/N with a, b >= 0 by ``scipy.optimize.curve_fit``: ``(a, sigma_a, None, jetnet_fit)``,
    or ``(nan, nan, reason, jetnet_fit)`` where the fit did not reach the least-squares minimum.

    jetnet fits the raw values (1/N ~ 1e-5, start a = b = 1); there the slope's scale is 1e4-1e5 from the
    start and the trust-region fit often stops early: on two equal 1000-shower samples at 1.6 sigma_a
    from the least-squares intercept, on values ~1e10 at its starting point (a = 1 +- 0). Here 1/N and
    FD are divided by their largest values first (the same least-squares problem, well scaled; sigma_a as
    curve_fit's covariance gives it) and the result is checked against the exact non-negative
    least-squares solution. ``jetnet_fit`` is (a, sigma_a) of jetnet's own call, for comparisons with
    the official code (nan, nan where that call fails)."""
    from scipy.optimize import curve_fit

    t, v = np.asarray(inv_sizes, float), np.asarray(vals, float)
    line = lambda x, a, b: a + b * x   # noqa: E731
    jetnet_fit = (np.nan, np.nan)
    if not np.isfinite(v).all():
        return np.nan, np.nan, "non-finite Fréchet distances in the extrapolation", jetnet_fit
    if len(t) < 3:
        return np.nan, np.nan, f"the extrapolation needs at least 3 batch sizes, got {len(t)}", jetnet_fit
    try:
        pj, cj = curve_fit(line, t, v, bounds=([0, 0], [np.inf, np.inf]))
        jetnet_fit = (float(pj[0]), float(np.sqrt(cj[0, 0])))
    except (RuntimeError, ValueError):
        pass
    t_scale, v_scale = float(np.abs(t).max()) or 1.0, float(np.abs(v).max()) or 1.0
    try:
        params, cov = curve_fit(line, t / t_scale, v / v_scale, bounds=([0, 0], [np.inf, np.inf]))
    except (RuntimeError, ValueError) as exc:
        return np.nan, np.nan, f"the fit of FD = a + b/N failed: {exc}", jetnet_fit
    a, error = float(params[0]) * v_scale, float(np.sqrt(cov[0, 0])) * v_scale
    a_exact, b_exact = _nonnegative_line(t / t_scale, v / v_scale)
    if not np.isfinite(a) or abs(a - a_exact * v_scale) > max(1e-3 * error, 1e-9 * v_scale):
        return np.nan, np.nan, (f"the fit of FD = a + b/N did not converge (stopped at a = {a:.6g}, the "
                                f"least-squares intercept is {a_exact * v_scale:.6g})"), jetnet_fit
    if not np.isfinite(error):
        return np.nan, np.nan, "the fit's uncertainty on the intercept is not finite", jetnet_fit
    return a, error, None, jetnet_fit


def _nonnegative_line(t: np.ndarray, v: np.ndarray) -> tuple[float, float]:
    """(a, b) >= 0 minimising the squared residuals of v = a + b t (the free fit, or the best boundary)."""
    candidates = []
    (a, b), *_ = np.linalg.lstsq(np.c_[np.ones_like(t), t], v, rcond=None)
    if a >= 0 and b >= 0:
        candidates.append((float(a), float(b)))
    candidates.append((max(float(v.mean()), 0.0), 0.0))
    candidates.append((0.0, max(float(t @ v) / float(t @ t), 0.0)))
    return min(candidates, key=lambda p: float(np.sum((p[0] + p[1] * t - v) ** 2)))


def _screened(x: np.ndarray, y: np.ndarray, notes: dict, names: list[str] | None, normalise: bool):
    """Screen degenerate features (listed in ``notes``) and max-normalise: (x, y, None), or a NaN Distance."""
    keep, notes["excluded_features"], fatal = screen_features(x, y, names=names)
    if fatal:
        return x, y, Distance(np.nan, np.nan, **{**notes, "reason": fatal})
    x, y = x[:, keep], y[:, keep]
    x, y = (_normalise(x, y) if normalise else (x, y))
    return x, y, None


def _sampling(sampling: str, n_min: int, size: int) -> str:
    if sampling not in ("auto", "replacement", "subsample"):
        raise ValueError(f"sampling '{sampling}': expected auto, replacement or subsample")
    if sampling == "auto":
        return "replacement" if n_min >= size else "subsample"
    return sampling


def fpd(ref_features: np.ndarray, gen_features: np.ndarray, min_samples: int = 20_000,
        max_samples: int = 50_000, num_batches: int = 20, num_points: int = 10, normalise: bool = True,
        seed: int = 42, names: list[str] | None = None, sampling: str = "replacement") -> Distance:
    """Fréchet physics distance (Kansal et al., "Evaluating generative models in high energy physics",
    arXiv:2211.10295) extrapolated to N -> infinity: (intercept, its fit uncertainty), with jetnet's defaults
    (20 batches at each of 10 sizes from 20 000 to 50 000, seed 42; the CaloChallenge's settings are
    :data:`CALOCHALLENGE_FPD`). Degenerate
    features are screened (:func:`screen_features`); NaN with ``notes["reason"]`` where it cannot be
    computed.

    ``sampling``: ``replacement`` draws the batches with replacement as jetnet does; ``subsample`` draws
    them without replacement at sizes from a quarter of the smaller sample to all of it, so that the
    extrapolation removes the finite-size bias and two samples of one distribution give a value consistent
    with zero (with replacement, batches larger than the samples only repeat rows: the intercept is then the
    distance between the two finite samples, e.g. 1.9 +- 0.002 for two 500-shower GFlash ds2 samples);
    ``auto`` (what ``hepgen evaluate`` uses) takes ``replacement`` when both samples hold ``max_samples``
    rows, else ``subsample``, and says so in ``notes``. The default is jetnet's ``replacement``.

    >>> rng = np.random.default_rng(1)
    >>> x = np.c_[rng.normal(0, 1, (500, 2)), np.full(500, 1e-8)]
    >>> y = x.copy(); y[0, 2] = 0.05   # one generated row in an otherwise empty feature
    >>> d = fpd(x, y, min_samples=200, max_samples=500, num_batches=2, num_points=3)
    >>> bool(np.isfinite(d.value)), d.notes["excluded_features"][0]["index"]
    (True, 2)
    >>> bool(np.isnan(fpd(x, np.c_[y[:, :2], [np.inf] * 500], 200, 500, 2, 3).value))
    True
    """
    x, y = np.asarray(ref_features), np.asarray(gen_features)
    notes = {"n_reference": len(x), "n_generated": len(y), "min_samples": min_samples, "max_samples": max_samples,
             "num_batches": num_batches, "num_points": num_points, "seed": seed, "reason": None,
             "excluded_features": [], "warnings": _size_warnings(len(x), len(y), "FPD")}
    x, y, failed = _screened(x, y, notes, names, normalise)
    if failed is not None:
        return failed
    n_min = min(len(x), len(y))
    sampling = _sampling(sampling, n_min, max_samples)
    notes["sampling"] = sampling
    if sampling == "subsample":
        lo, hi = max(n_min // 4, 10), n_min
        if hi < lo + num_points:
            return Distance(np.nan, np.nan, **{**notes, "reason": f"{n_min} rows: too few for subsamples"})
        notes["warnings"] = notes["warnings"] + [
            f"FPD from subsamples without replacement of {lo}-{hi} rows, extrapolated by a parabola in 1/N (the "
            f"official code draws {min_samples}-{max_samples} rows with replacement, which at this sample size "
            "measures the two finite samples' own distance instead of zero)"]
        sizes = (1 / np.linspace(1 / lo, 1 / hi, num_points)).astype(int)
    else:
        sizes = (1 / np.linspace(1 / min_samples, 1 / max_samples, num_points)).astype(int)
    rng = np.random.default_rng(seed)
    vals = []
    import torch

    with single_threaded():
        for n in sizes:
            fds = []
            for _ in range(num_batches):
                replace = sampling == "replacement"
                ia, ib = rng.choice(len(x), n, replace=replace), rng.choice(len(y), n, replace=replace)
                try:
                    fds.append(frechet_distance(*_mean_cov_of_draw(x, ia), *_mean_cov_of_draw(y, ib)))
                except torch.linalg.LinAlgError as exc:
                    return Distance(np.nan, np.nan, **{**notes, "reason": f"Fréchet distance at N = {n}: {exc}"})
            vals.append(np.mean(fds))
    if sampling == "subsample":   # N close to the number of features: the bias is not linear in 1/N
        coef, cov = np.polyfit(1 / sizes, np.array(vals), 2, cov=True)
        ok = np.isfinite(coef).all() and np.isfinite(cov).all()
        return Distance(float(coef[-1]) if ok else np.nan, float(np.sqrt(max(cov[-1, -1], 0))) if ok else np.nan,
                        **{**notes, "fit": "parabola in 1/N", "reason": None if ok else "the fit did not converge"})
    value, error, reason, jetnet_fit = _fit_intercept(1 / sizes, np.array(vals))
    notes["jetnet_curve_fit"] = {"value": jetnet_fit[0], "error": jetnet_fit[1], "note": (
        "jetnet's curve_fit on the unscaled points (what the official code prints); it can stop before the "
        "least-squares minimum")}
    return Distance(value, error, **{**notes, "reason": reason})


def _power_(g, degree: int):
    """Raise a float64 torch tensor to a positive integer power in place: powers of two by repeated
    squaring (elementwise pow on 10^8 kernel entries costs ~30x more than a multiplication)."""
    if degree == 0:
        return g.fill_(1.0)
    if degree > 0 and degree & (degree - 1) == 0:
        while degree > 1:
            g.mul_(g)
            degree //= 2
        return g
    return g.pow_(degree)


def poly_kernel_sum(x: np.ndarray, y: np.ndarray | None = None, degree: int = 4,
                    block_rows: int = 1024) -> tuple[float, float]:
    """Sum over all pairs of k(a, b) = (a.b / d + 1)^degree between the rows of ``x`` and ``y``, and the
    trace (sum of k(x_i, y_i)) where ``y`` is ``None`` (then y = x and only the upper block triangle is
    computed: half the work). Float64 matrix products in blocks of ``block_rows`` rows (memory
    ~8 * block_rows * len(y) bytes); the scale and offset are fused into the product, and for even degrees
    the last squaring into a dot product.

    >>> x = np.array([[0.0], [1.0]])
    >>> poly_kernel_sum(x, degree=1)   # [[1, 1], [1, 2]]: sum 5, trace 3
    (5.0, 3.0)
    """
    import torch

    a = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
    symmetric = y is None
    b = a if symmetric else torch.from_numpy(np.ascontiguousarray(y, dtype=np.float64))
    gamma = 1.0 / a.shape[1]
    one = torch.ones(1, dtype=torch.float64)
    total, trace = 0.0, 0.0
    with torch.no_grad():
        for s in range(0, len(a), block_rows):
            e = min(s + block_rows, len(a))
            g = torch.addmm(one, a[s:e], (b[s:] if symmetric else b).T, beta=1.0, alpha=gamma)
            if symmetric:   # the diagonal block first, before g is changed in place
                diag_block = g[:, :e - s] ** degree
                trace += float(diag_block.diagonal().sum())
            if degree % 2 == 0:
                flat = _power_(g, degree // 2).view(-1)
                block_sum = float(torch.dot(flat, flat))
            else:
                block_sum = float(_power_(g, degree).sum())
            total += 2.0 * block_sum - float(diag_block.sum()) if symmetric else block_sum
    return total, trace


def mmd_poly_unbiased(x: np.ndarray, y: np.ndarray, degree: int = 4) -> float:
    """Unbiased MMD^2 with the kernel k(a, b) = (a.b / d + 1)^degree, d = number of features.

    The kernel sums come from :func:`poly_kernel_sum` (same definition as jetnet's
    ``_mmd_poly_quadratic_unbiased``, without holding three N x N matrices).

    >>> x = np.array([[0.0], [1.0]])
    >>> mmd_poly_unbiased(x, x, degree=1)  # (1 + 1) - 2 * mean([[1, 1], [1, 2]])
    -0.5
    """
    m, n = len(x), len(y)
    sxx, txx = poly_kernel_sum(x, None, degree)
    syy, tyy = poly_kernel_sum(y, None, degree)
    sxy, _ = poly_kernel_sum(x, y, degree)
    return float((sxx - txx) / (m * (m - 1)) + (syy - tyy) / (n * (n - 1)) - 2 * sxy / (m * n))


def mmd_poly_unbiased_reference(x: np.ndarray, y: np.ndarray, degree: int = 4) -> float:
    """The same MMD^2 written out with three full kernel matrices (for tests on small samples).

    >>> x = np.array([[0.0], [1.0]])
    >>> mmd_poly_unbiased_reference(x, x, degree=1)
    -0.5
    """
    d = x.shape[1]
    kxx, kyy, kxy = ((a @ b.T / d + 1.0) ** degree for a, b in ((x, x), (y, y), (x, y)))
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


@contextmanager
def single_threaded():
    """Run torch and the BLAS / OpenMP pools with one thread inside the block (restored after).

    Small float64 eigendecompositions run 50-100x slower with two threads on a loaded two-core machine
    (threads spin at every synchronisation), so FPD/KPD work runs single-threaded and uses both cores
    through processes instead (see :func:`kpd`).

    >>> with single_threaded():
    ...     pass
    """
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(before)


def _kpd_batch(x: np.ndarray, y: np.ndarray, i: int, batch_size: int, seed: int, degree: int,
               replace: bool = True) -> float:
    """MMD^2 of batch ``i``: ``batch_size`` rows of each sample drawn with replacement with the generator
    ``default_rng(seed + 1000 i)`` (reference rows first), as jetnet's ``_kpd_batches`` draws them.
    Where the batch is larger than a sample, the same sums come from that sample's rows weighted by how
    often each was drawn (:func:`mmd_poly_unbiased_counts`)."""
    rng = np.random.default_rng(seed + 1000 * i)
    if not replace:   # subsamples: every row at most once, the unbiased MMD estimator stays unbiased
        ix, iy = rng.choice(len(x), batch_size, replace=False), rng.choice(len(y), batch_size, replace=False)
        return mmd_poly_unbiased(np.asarray(x[np.sort(ix)]), np.asarray(y[np.sort(iy)]), degree)
    ix, iy = rng.choice(len(x), batch_size), rng.choice(len(y), batch_size)
    if batch_size > min(len(x), len(y)):
        return mmd_poly_unbiased_counts(np.asarray(x), np.bincount(ix, minlength=len(x)), np.asarray(y),
                                        np.bincount(iy, minlength=len(y)), degree)
    return mmd_poly_unbiased(np.asarray(x[np.sort(ix)]), np.asarray(y[np.sort(iy)]), degree)


def _weighted_kernel_sum(x: np.ndarray, cx: np.ndarray, y: np.ndarray, cy: np.ndarray, degree: int,
                         block_rows: int = 1024) -> tuple[float, float]:
    """(sum_ab cx_a cy_b k(x_a, y_b), sum_a cx_a k(x_a, y_a)) with k = (a.b / d + 1)^degree (the second
    only meaningful for y = x)."""
    import torch

    a = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
    b = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float64))
    wa, wb = torch.from_numpy(cx.astype(np.float64)), torch.from_numpy(cy.astype(np.float64))
    gamma, total, diag = 1.0 / a.shape[1], 0.0, 0.0
    with torch.no_grad():
        for s in range(0, len(a), block_rows):
            e = min(s + block_rows, len(a))
            g = _power_(torch.addmm(torch.ones(1, dtype=torch.float64), a[s:e], b.T, beta=1.0, alpha=gamma), degree)
            total += float(wa[s:e] @ (g @ wb))
            if a.shape == b.shape:
                diag += float(wa[s:e] @ g.diagonal(offset=s)[: e - s]) if g.shape[1] >= e else 0.0
    return total, diag


def mmd_poly_unbiased_counts(x: np.ndarray, cx: np.ndarray, y: np.ndarray, cy: np.ndarray, degree: int = 4) -> float:
    """:func:`mmd_poly_unbiased` of the samples in which row a of ``x`` appears ``cx[a]`` times (and of
    ``y``, ``cy``): the pair sums over distinct positions are c^T K c - sum_a c_a K_aa, on len(x) rows
    instead of sum(cx).

    >>> x, y = np.array([[0.0], [1.0]]), np.array([[0.5], [2.0]])
    >>> c, d = np.array([2, 1]), np.array([1, 3])
    >>> (round(mmd_poly_unbiased_counts(x, c, y, d, 2), 12)
    ...  == round(mmd_poly_unbiased(x[[0, 0, 1]], y[[0, 1, 1, 1]], 2), 12))
    True
    """
    m, n = float(cx.sum()), float(cy.sum())
    sxx, txx = _weighted_kernel_sum(x, cx, x, cx, degree)
    syy, tyy = _weighted_kernel_sum(y, cy, y, cy, degree)
    sxy, _ = _weighted_kernel_sum(x, cx, y, cy, degree)
    return float((sxx - txx) / (m * (m - 1)) + (syy - tyy) / (n * (n - 1)) - 2 * sxy / (m * n))


def _kpd_batches_in_processes(x: np.ndarray, y: np.ndarray, num_batches: int, batch_size: int, seed: int,
                              degree: int, n_jobs: int) -> list[float]:
    """Batches 0..num_batches-1 spread round-robin over ``n_jobs`` worker processes (``python -m
    hepgen.evaluate.distances``, single-threaded), the features passed as memory-mapped ``.npy`` files."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hepgen-kpd-") as tmp:
        xp, yp = Path(tmp) / "x.npy", Path(tmp) / "y.npy"
        np.save(xp, np.asarray(x, dtype=np.float64))
        np.save(yp, np.asarray(y, dtype=np.float64))
        jobs = []
        for j in range(min(n_jobs, num_batches)):
            batches = ",".join(str(i) for i in range(j, num_batches, n_jobs))
            out = Path(tmp) / f"vals{j}.npy"
            cmd = [sys.executable, "-m", "hepgen.evaluate.distances", str(xp), str(yp), str(out), batches,
                   str(batch_size), str(seed), str(degree)]
            jobs.append((batches, out, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)))
        vals = np.empty(num_batches)
        for batches, out, proc in jobs:
            _, err = proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"KPD worker for batches {batches} failed: {err.decode()[-2000:]}")
            vals[[int(i) for i in batches.split(",")]] = np.load(out)
    return vals.tolist()


def kpd(ref_features: np.ndarray, gen_features: np.ndarray, num_batches: int = 10, batch_size: int = 5_000,
        normalise: bool = True, seed: int = 42, degree: int = 4, n_jobs: int = 1,
        names: list[str] | None = None, sampling: str = "replacement") -> Distance:
    """Kernel physics distance (Kansal et al., arXiv:2211.10295): (median, half the 16.275-83.725 percentile
    range) of MMD^2 over batches (the CaloChallenge's settings are :data:`CALOCHALLENGE_KPD`).

    ``sampling`` as in :func:`fpd` (default jetnet's ``replacement``): ``auto`` draws with replacement when both
    samples hold
    ``batch_size`` rows, else batches of half the smaller sample without replacement (duplicated rows bias
    the unbiased estimator away from zero), and says so in ``notes``.

    jetnet's definition and defaults (10 batches of 5000 rows drawn with replacement, seed 42, quartic
    kernel, max-abs normalisation; the CaloChallenge passes ``batch_size=10000``). Degenerate features
    are screened as for :func:`fpd`; NaN with ``notes["reason"]`` where it cannot be computed.
    ``n_jobs > 1`` spreads the batches over that many single-threaded worker processes when
    ``batch_size >= 4000`` (same values: each batch has its own seeded generator; below that size the
    workers' start-up of a few seconds costs more than it saves).

    >>> x = np.c_[np.arange(50.0), np.full(50, 3.0)]
    >>> d = kpd(x, x.copy(), num_batches=3, batch_size=20)
    >>> d.notes["excluded_features"], d.notes["reason"]   # the constant feature is kept, as in jetnet
    ([], None)
    """
    x, y = np.asarray(ref_features), np.asarray(gen_features)
    notes = {"n_reference": len(x), "n_generated": len(y), "num_batches": num_batches, "batch_size": batch_size,
             "seed": seed, "degree": degree, "reason": None, "excluded_features": [],
             "warnings": _size_warnings(len(x), len(y), "KPD")}
    x, y, failed = _screened(x, y, notes, names, normalise)
    if failed is not None:
        return failed
    n_min = min(len(x), len(y))
    notes["sampling"] = _sampling(sampling, n_min, batch_size)
    if notes["sampling"] == "subsample":
        size = max(n_min // 2, 2)
        notes["warnings"] = notes["warnings"] + [
            f"KPD from batches of {size} rows drawn without replacement (the official code draws {batch_size} "
            "with replacement, which biases the unbiased estimator when rows repeat)"]
        with single_threaded():
            vals = [_kpd_batch(x, y, i, size, seed, degree, replace=False) for i in range(num_batches)]
    elif n_jobs > 1 and num_batches > 1 and batch_size >= 4000:   # smaller: the workers' start-up costs more
        vals = _kpd_batches_in_processes(x, y, num_batches, batch_size, seed, degree, n_jobs)
    else:
        with single_threaded():
            vals = [_kpd_batch(x, y, i, batch_size, seed, degree) for i in range(num_batches)]
    if not np.isfinite(vals).all():
        return Distance(np.nan, np.nan, **{**notes, "reason": "non-finite MMD values in the batches"})
    lo, hi = np.percentile(vals, [16.275, 83.725])
    return Distance(float(np.median(vals)), float((hi - lo) / 2), **notes)


if __name__ == "__main__":   # a KPD worker: x.npy y.npy out.npy batch-list batch_size seed degree
    import sys

    _x, _y = np.load(sys.argv[1], mmap_mode="r"), np.load(sys.argv[2], mmap_mode="r")
    _size, _seed, _degree = (int(v) for v in sys.argv[5:8])
    with single_threaded():
        _vals = [_kpd_batch(_x, _y, int(i), _size, _seed, _degree) for i in sys.argv[4].split(",")]
    np.save(sys.argv[3], np.array(_vals))


def _common_bins(reference: np.ndarray, other: np.ndarray, bins: int) -> np.ndarray:
    lo, hi = float(np.min(reference)), float(np.max(reference))
    if hi <= lo:
        hi = lo + 1.0
    return np.linspace(lo, hi, bins + 1)


def histogram_s2(reference: np.ndarray, other: np.ndarray, bins: int = 50) -> float:
    """The histogram χ²-like distance ⟨S²⟩ = ½ Σ_i (h_i − g_i)² / (h_i + g_i) of two 1-D samples, histograms
    normalised to unit sum over ``bins`` equal bins spanning ``reference`` (B. Käch, PhD thesis (2024), Eq. 7.7,
    after arXiv:2102.03391, where it is called the separation power). 0 for equal histograms, 1 for disjoint ones.

    >>> x = np.array([0.0, 1.0])
    >>> histogram_s2(x, x), round(histogram_s2(x, np.array([0.0, 0.0])), 4)     # ½ (0.5² / 1.5 + 0.5² / 0.5)
    (0.0, 0.3333)
    """
    edges = _common_bins(reference, other, bins)
    h = np.histogram(reference, edges)[0].astype(np.float64)
    g = np.histogram(np.clip(other, edges[0], edges[-1]), edges)[0].astype(np.float64)
    h, g = h / max(h.sum(), 1.0), g / max(g.sum(), 1.0)
    both = h + g
    return float(0.5 * np.sum(np.where(both > 0, (h - g) ** 2 / np.where(both > 0, both, 1.0), 0.0)))


def ecdf_distance(reference: np.ndarray, other: np.ndarray, bins: int = 50) -> float:
    """The mean ECDF distance m = (1 / (b − a)) ∫_a^b |c_1(x) − c_2(x)| dx of two 1-D samples over the range [a, b]
    of ``reference`` (B. Käch, PhD thesis (2024), Eq. 7.8): ECDFs from cumulative sums of ``bins``-bin histograms,
    the integral as the mean over the bins (values outside the range fall into the edge bins).

    >>> x = np.array([0.0, 1.0])
    >>> ecdf_distance(x, x), ecdf_distance(x, np.array([2.0]))     # |½ − 0| in 49 of the 50 bins
    (0.0, 0.49)
    """
    edges = _common_bins(reference, other, bins)
    h = np.histogram(reference, edges)[0].astype(np.float64)
    g = np.histogram(np.clip(other, edges[0], edges[-1]), edges)[0].astype(np.float64)
    c1, c2 = np.cumsum(h) / max(h.sum(), 1.0), np.cumsum(g) / max(g.sum(), 1.0)
    return float(np.mean(np.abs(c1 - c2)))
