"""Classifier tests: the CaloChallenge binary test (arXiv:2410.21611) and the multiclass test (Käch thesis, App. A).

**Binary test.** A fully connected DNN (input -> ``n_hidden`` -> ``n_layer`` x ``n_hidden`` -> 1, LeakyReLU,
dropout, BCE with logits, Adam) separates generated (label 0) from reference (label 1) showers. Both samples
are cut to the same size and each is split 60/20/20 into train/test/validation; the epoch with the best test
accuracy is kept, its outputs are calibrated by isotonic regression on the test set, and the validation set
gives the AUC and the JSD figure ``(ln 2 - BCE) / ln 2`` of the calibrated outputs. Inputs: low level =
:func:`low_level_inputs` (voxels / E_inc plus log10 E_inc); high level =
:func:`hepgen.evaluate.highlevel.classifier_highlevel_inputs`. Both put log10 E_inc in column 0.

Two recipes (``recipe=``):

* ``"official"``: the challenge's ``evaluate.py`` -- 3 x 2048 LeakyReLU units (``n_layer=2`` hidden blocks after
  the input layer), no dropout, 50 epochs without early stopping, batch 1000, Adam lr 2e-4, fractional
  60/20/20 split (the official script uses fixed counts for the full datasets), inputs fed as they are
  (no standardisation).
* ``"default"``: hepgen's faster CPU recipe -- 3 x 256 units, at most 30 epochs with early stopping after 5
  without improvement, lr 1e-3, and label-blind preprocessing:

  - ``preprocessing="standard"`` (low level): every column is shifted and scaled by the mean and spread of
    the *pooled training split of both classes*. Statistics from one class only (the earlier version used
    the reference's mean and ``std + 1e-6``) leak labels: a voxel never hit in the reference but hit in the
    other sample becomes an input of ~1e6 that only one class can produce, and two samples of one
    distribution gave AUC 0.61 +- 0.02 (four 400 vs 400 GFlash ds2 pairs) instead of 0.5. Spreads are floored
    at 1 % of the median column spread so that columns hit once or never in the training split stay O(1).
  - ``preprocessing="conditional"`` (high level): each feature is replaced by its residual from the mean
    expected at that shower's log10 E_inc, in units of the spread expected there. Mean and log-spread are
    degree-``degree`` Legendre polynomials in log10 E_inc, fitted by least squares on the pooled training
    split (the log-spread to log |residual|, then rescaled so that the mean |residual| / spread is the
    Gaussian sqrt(2 / pi)). Why: a calorimeter's relative resolution falls from ~7 % at 1 GeV to ~0.75 %
    at 1 TeV, so a 5 % energy-scale error is a 0.7-sigma shift at 1 GeV but 7 sigma at 1 TeV. A network fed
    log E_tot and log E_inc must learn that the band of E_tot narrows tenfold with energy before it can see
    the shift; the residual in units of the local resolution is the physicist's statistic directly. On a
    5 % energy-scale copy of GFlash ds2 electrons (1 GeV-1 TeV), where that one statistic alone gives AUC
    0.87, plain standardisation reached 0.53 at 6000 showers per sample and the conditional one 0.85
    (0.80 +- 0.02 at 2000; see docs/history.md). Fitting on the pooled training split keeps the map
    label-blind, so identical distributions still give 0.5.

The AUC error is the Hanley-McNeil standard error on the validation set; for identical distributions the
validation AUC of any classifier trained on other showers is a Mann-Whitney statistic, so the null gives
0.5 within that error. The calibrated outputs are step functions with ties; ``roc_auc_score`` counts a tie
as one half, so ties pull the AUC towards 0.5, never away from it (``auc_uncalibrated`` is given beside).

**Multiclass test** (:func:`multiclass_test`): one network with K softmax outputs, classes = the reference
and several generators (showers, or jets via :func:`jet_classifier_inputs`); reports the confusion matrix,
per-class precision/recall/F1 and, as in the thesis, the mean class probability the network gives to
held-out reference showers when the reference class is left out.

>>> rng = np.random.default_rng(0)
>>> r = classifier_test(rng.normal(0, 1, (2000, 4)), rng.normal(2, 1, (2000, 4)), n_hidden=32, n_epochs=5,
...                     batch_size=100)
>>> r["auc"] > 0.9
True
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

__all__ = ["RECIPES", "classifier_test", "low_level_inputs", "multiclass_test", "jet_classifier_inputs",
           "fit_preprocessing", "hanley_mcneil_error", "format_confusion", "multiclass_files"]

#: recipe -> training options; ``preprocessing=None`` means "standard" for the low level and "conditional"
#: for the high level (see the module docstring).
RECIPES: dict[str, dict] = {
    "default": {"n_hidden": 256, "n_layer": 2, "dropout": 0.0, "n_epochs": 30, "patience": 5, "batch_size": 1000,
                "lr": 1e-3, "preprocessing": None, "adapt_batch": True},
    "official": {"n_hidden": 2048, "n_layer": 2, "dropout": 0.0, "n_epochs": 50, "patience": None,
                 "batch_size": 1000, "lr": 2e-4, "preprocessing": "none", "adapt_batch": False},
}
_GAUSS_MEAN_ABS = np.sqrt(2.0 / np.pi)


def low_level_inputs(energy: np.ndarray, incident_energy: np.ndarray) -> np.ndarray:
    """The challenge's low-level input: [log10 E_inc, voxels / E_inc] (MeV), shape (N, 1 + n_voxels).

    >>> [round(float(v), 3) for v in low_level_inputs(np.array([[10.0, 30.0]]), np.array([100.0]))[0]]
    [2.0, 0.1, 0.3]
    """
    inc = np.asarray(incident_energy, dtype=np.float64).reshape(-1, 1)
    return np.concatenate([np.log10(inc), np.asarray(energy, dtype=np.float64) / inc], axis=1).astype(np.float32)


def jet_classifier_inputs(jets) -> np.ndarray:
    """Per-jet classifier input: relative jet features (pt, eta, mass, n) then the particles in decreasing
    pt_rel, flattened (eta_rel, phi_rel, pt_rel, mask) each; shape (N, 4 + 4 n_max), float32.

    >>> from hepgen.data.jets import JetData
    >>> p = np.zeros((1, 3, 4), np.float32); p[0, :2] = [[0.1, 0.0, 0.3, 1], [0.0, 0.2, 0.7, 1]]
    >>> x = jet_classifier_inputs(JetData(p))
    >>> x.shape, [round(float(v), 2) for v in x[0, 4:8]]
    ((1, 16), [0.0, 0.2, 0.7, 1.0])
    """
    p = np.asarray(jets.particles, np.float32)
    order = np.argsort(-np.where(p[..., 3] > 0.5, p[..., 2], -np.inf), axis=1, kind="stable")
    p = np.take_along_axis(p, order[..., None], axis=1)
    return np.concatenate([np.asarray(jets.relative_jet_features(), np.float32),
                           p.reshape(len(p), -1)], axis=1)


def hanley_mcneil_error(auc: float, n_positive: int, n_negative: int) -> float:
    """Standard error of an AUC (Hanley and McNeil, Radiology 143 (1982) 29).

    >>> round(hanley_mcneil_error(0.5, 400, 400), 4)     # ~ sqrt((n1 + n0 + 1) / (12 n1 n0)) at 0.5
    0.0204
    """
    q1, q2 = auc / (2 - auc), 2 * auc ** 2 / (1 + auc)
    var = auc * (1 - auc) + (n_positive - 1) * (q1 - auc ** 2) + (n_negative - 1) * (q2 - auc ** 2)
    return float(np.sqrt(max(var, 0.0) / (n_positive * n_negative)))


def _legendre(c: np.ndarray, lo: float, hi: float, degree: int) -> np.ndarray:
    u = np.clip((c - lo) / max(hi - lo, 1e-12) * 2 - 1, -1, 1)      # no extrapolation past the training range
    return np.polynomial.legendre.legvander(u, degree)


def fit_preprocessing(x: np.ndarray, kind: str = "standard", condition_column: int = 0, degree: int = 3,
                      spread_floor: float = 0.01):
    """Fit a label-blind input map on ``x`` (pass the pooled training split of every class); returns f(x).

    ``kind``: ``none`` (identity), ``standard`` (column mean and spread, spreads floored at ``spread_floor``
    x the median column spread) or ``conditional`` (residuals from polynomials in the condition column, in
    units of the local spread; the condition column itself is standardised). See the module docstring.

    >>> rng = np.random.default_rng(1)
    >>> c = rng.uniform(3, 6, 5000); e = 10 ** c * (1 + rng.normal(0, 0.07 / 10 ** ((c - 3) / 2)))
    >>> x = np.stack([c, np.log10(e)], axis=1)
    >>> z = fit_preprocessing(x, "conditional")(x)
    >>> spread = [np.std(z[(c >= a) & (c < a + 0.5), 1]) for a in (3.0, 4.0, 5.0, 5.5)]   # 7 % ... 0.2 %
    >>> bool(np.all(np.abs(np.array(spread) - 1) < 0.1))                                    # unit spread everywhere
    True
    """
    x = np.asarray(x, np.float64)
    if kind == "none":
        return lambda a: np.asarray(a, np.float32)
    if kind not in ("standard", "conditional"):
        raise ValueError(f"preprocessing '{kind}': expected none, standard or conditional")
    mean, std = x.mean(axis=0), x.std(axis=0)
    pos = std[std > 0]
    floor = spread_floor * (np.median(pos) if len(pos) else 1.0)
    scale = np.maximum(std, floor if floor > 0 else 1.0)
    if kind == "standard":
        return lambda a: ((np.asarray(a, np.float64) - mean) / scale).astype(np.float32)
    c = x[:, condition_column]
    lo, hi = float(c.min()), float(c.max())
    v = _legendre(c, lo, hi, degree)
    b_mean = np.linalg.lstsq(v, x, rcond=None)[0]
    r = np.abs(x - v @ b_mean)
    mabs = r.mean(axis=0)
    eps = np.where(mabs > 0, 1e-3 * mabs, 1.0)
    b_log = np.linalg.lstsq(v, np.log(r + eps), rcond=None)[0]
    s = np.exp(v @ b_log)
    k = (r / s).mean(axis=0) / _GAUSS_MEAN_ABS                      # calibrate: E|r| / sigma = sqrt(2 / pi)
    k = np.where(k > 0, k, 1.0)
    floor_c = np.maximum(spread_floor * np.where(mabs > 0, mabs, floor if floor > 0 else 1.0), 1e-30)

    def apply(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, np.float64)
        va = _legendre(a[:, condition_column], lo, hi, degree)
        z = (a - va @ b_mean) / np.maximum(np.exp(va @ b_log) * k, floor_c)
        z[:, condition_column] = (a[:, condition_column] - mean[condition_column]) / scale[condition_column]
        return z.astype(np.float32)

    return apply


def _dnn(input_dim: int, n_hidden: int, n_layer: int, dropout: float, n_out: int = 1):
    import torch

    layers = [torch.nn.Linear(input_dim, n_hidden), torch.nn.LeakyReLU(), torch.nn.Dropout(dropout)]
    for _ in range(n_layer):
        layers += [torch.nn.Linear(n_hidden, n_hidden), torch.nn.LeakyReLU(), torch.nn.Dropout(dropout)]
    layers.append(torch.nn.Linear(n_hidden, n_out))
    return torch.nn.Sequential(*layers)


def _options(recipe: str, overrides: dict) -> dict:
    if recipe not in RECIPES:
        raise ValueError(f"classifier recipe '{recipe}': expected one of {', '.join(RECIPES)}")
    opts = dict(RECIPES[recipe])
    opts.update({k: v for k, v in overrides.items() if v is not None})
    return opts


def _split(samples: list[np.ndarray], rng: np.random.Generator, max_per_class: int | None):
    """Cut every class to one size n, split each 60/20/20; returns n and (x, y) of train, test, validation."""
    n = min(min(len(s) for s in samples), max_per_class or np.inf)
    n = int(n)
    cut = np.cumsum((n * np.array([0.6, 0.2])).astype(int))
    bounds = ((0, cut[0]), (cut[0], cut[1]), (cut[1], n))
    picked = [np.asarray(s)[rng.permutation(len(s))[:n]] for s in samples]
    parts = []
    for lo, hi in bounds:
        x = np.concatenate([p[lo:hi] for p in picked])
        y = np.concatenate([np.full(hi - lo, k) for k in range(len(samples))])
        order = rng.permutation(len(x))
        parts.append((x[order], y[order]))
    return n, parts


def _train(xtr, ytr, xte, yte, n_out: int, opts: dict, seed: int):
    """One training loop for the binary (n_out = 1, BCE) and multiclass (softmax cross entropy) tests.

    Keeps the epoch with the best test accuracy; returns the model's output function and that epoch.
    """
    import torch

    torch.manual_seed(seed)
    xtr, xte = torch.from_numpy(np.ascontiguousarray(xtr)), torch.from_numpy(np.ascontiguousarray(xte))
    if n_out == 1:
        ytr_t, loss_fn = torch.from_numpy(ytr.astype(np.float32)), torch.nn.BCEWithLogitsLoss()
    else:
        ytr_t, loss_fn = torch.from_numpy(ytr.astype(np.int64)), torch.nn.CrossEntropyLoss()
    batch_size = opts["batch_size"]
    if opts.get("adapt_batch"):
        batch_size = min(batch_size, max(32, len(xtr) // 20))   # at least ~20 steps per epoch on small samples
    model = _dnn(xtr.shape[1], opts["n_hidden"], opts["n_layer"], opts["dropout"], n_out)
    opt = torch.optim.Adam(model.parameters(), lr=opts["lr"])

    def predict(x):
        model.eval()
        with torch.no_grad():
            out = torch.cat([model(x[i:i + 10_000]) for i in range(0, len(x), 10_000)])
        return out.reshape(-1) if n_out == 1 else out

    def accuracy(out, y):
        pred = (out > 0).numpy().astype(int) if n_out == 1 else out.argmax(dim=1).numpy()
        return float(np.mean(pred == y))

    patience = opts.get("patience")
    best_acc, best_epoch, best_state, waited = -1.0, 0, None, 0
    for epoch in range(opts["n_epochs"]):
        model.train()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), batch_size):
            idx = perm[i:i + batch_size]
            opt.zero_grad()
            out = model(xtr[idx])
            loss = loss_fn(out.reshape(-1) if n_out == 1 else out, ytr_t[idx])
            loss.backward()
            opt.step()
        acc = accuracy(predict(xte), yte)
        if acc > best_acc:
            best_acc, best_epoch, waited = acc, epoch + 1, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if patience is not None and waited >= patience:
                break
        if acc == 1.0:
            break
    model.load_state_dict(best_state)
    return (lambda x: predict(torch.from_numpy(np.ascontiguousarray(x))).numpy().astype(np.float64)), best_epoch


def classifier_test(reference: np.ndarray, generated: np.ndarray, seed: int = 0, recipe: str = "default",
                    level: str = "low", max_showers: int | None = None, **overrides) -> dict:
    """Train and evaluate the binary classifier on (N, d) inputs (column 0 = log10 E_inc for ``conditional``).

    ``recipe``: ``default`` or ``official`` (:data:`RECIPES`); ``level`` (``low`` or ``high``) picks the
    default recipe's preprocessing (``standard`` / ``conditional``) unless ``preprocessing=`` is given.
    ``overrides``: any recipe option (``n_hidden``, ``n_layer``, ``dropout``, ``n_epochs``, ``patience``,
    ``batch_size``, ``lr``, ``preprocessing``); ``None`` values keep the recipe's.
    Returns AUC (calibrated), its Hanley-McNeil error, the uncalibrated AUC, JSD, accuracy, best epoch, sizes.
    """
    from scipy.special import expit
    from sklearn.isotonic import IsotonicRegression
    from sklearn.metrics import roc_auc_score

    opts = _options(recipe, overrides)
    kind = opts.pop("preprocessing") or ("conditional" if level == "high" else "standard")
    rng = np.random.default_rng(seed)
    n, ((xtr, ytr), (xte, yte), (xva, yva)) = _split([generated, reference], rng, max_showers)
    prep = fit_preprocessing(xtr, kind)                       # pooled training split of both classes only
    xtr, xte, xva = prep(xtr), prep(xte), prep(xva)
    predict, best_epoch = _train(xtr, ytr, xte, yte, 1, opts, seed)
    p_test, p_val = expit(predict(xte)), expit(predict(xva))
    y_val = yva.astype(np.float64)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6).fit(p_test, yte)
    cal = iso.predict(p_val)
    auc = float(roc_auc_score(y_val, cal))
    bce = float(-np.mean(y_val * np.log(cal) + (1 - y_val) * np.log(1 - cal)))
    n1 = int(y_val.sum())
    return {"auc": auc, "auc_error": hanley_mcneil_error(auc, n1, len(y_val) - n1),
            "auc_uncalibrated": float(roc_auc_score(y_val, p_val)), "jsd": float((np.log(2.0) - bce) / np.log(2.0)),
            "accuracy": float(np.mean((cal > 0.5) == y_val)), "best_epoch": best_epoch,
            "n_train": int(len(ytr)), "n_test": int(len(yte)), "n_validation": int(len(yva)), "seed": seed,
            "recipe": recipe, "preprocessing": kind,
            "architecture": f"{opts['n_layer'] + 1}x{opts['n_hidden']} LeakyReLU"}


def multiclass_test(samples: Mapping[str, np.ndarray], reference: str | None = None, seed: int = 0,
                    recipe: str = "default", preprocessing: str = "standard", max_per_class: int | None = None,
                    **overrides) -> dict:
    """The multiclass classifier test: one network, one class per sample (e.g. the reference and K-1 generators).

    Every class is cut to the size of the smallest and split 60/20/20 (train / test for the best epoch /
    validation); the preprocessing is fitted on the pooled training split. On the validation split it
    returns the confusion matrix (``confusion[i][j]``: showers of class i predicted as j), per-class
    precision, recall and F1, the accuracy and its binomial error and the chance level 1/K. With
    ``reference`` (a key of ``samples``) it adds the thesis' statistic (Käch, App. A): the mean probability
    each generator class gets on held-out reference showers, with the reference class left out and the others
    renormalised; the generator with the largest share is the most reference-like. Inputs: any (N, d) arrays,
    e.g. :func:`low_level_inputs`, the high-level classifier inputs (use ``preprocessing="conditional"``)
    or :func:`jet_classifier_inputs`.

    >>> rng = np.random.default_rng(0)
    >>> s = {"ref": rng.normal(0, 1, (900, 3)), "good": rng.normal(0, 1, (900, 3)), "bad": rng.normal(3, 1, (900, 3))}
    >>> r = multiclass_test(s, reference="ref", n_hidden=32, n_epochs=10)
    >>> r["classes"], r["recall"]["bad"] > 0.95, r["reference_assignment"]["good"] > 0.8
    (['ref', 'good', 'bad'], True, True)
    """
    names = list(samples)
    if len(names) < 2:
        raise ValueError("multiclass test: need at least two samples")
    if reference is not None and reference not in samples:
        raise ValueError(f"multiclass test: reference '{reference}' is not one of {', '.join(names)}")
    opts = _options(recipe, {**overrides, "preprocessing": None})
    opts.pop("preprocessing")
    rng = np.random.default_rng(seed)
    n, ((xtr, ytr), (xte, yte), (xva, yva)) = _split([np.asarray(samples[k]) for k in names], rng, max_per_class)
    prep = fit_preprocessing(xtr, preprocessing)
    xtr, xte, xva = prep(xtr), prep(xte), prep(xva)
    k = len(names)
    predict, best_epoch = _train(xtr, ytr, xte, yte, k, opts, seed)
    logits = predict(xva)
    prob = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    pred = prob.argmax(axis=1)
    conf = np.zeros((k, k), dtype=int)
    np.add.at(conf, (yva, pred), 1)
    tp = np.diag(conf).astype(float)
    precision = np.divide(tp, conf.sum(axis=0), out=np.zeros(k), where=conf.sum(axis=0) > 0)
    recall = tp / conf.sum(axis=1)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(k), where=precision + recall > 0)
    acc = float(tp.sum() / conf.sum())
    out = {"classes": names, "confusion": conf.tolist(),
           "precision": dict(zip(names, precision.tolist())), "recall": dict(zip(names, recall.tolist())),
           "f1": dict(zip(names, f1.tolist())), "accuracy": acc,
           "accuracy_error": float(np.sqrt(acc * (1 - acc) / conf.sum())), "chance": 1.0 / k,
           "best_epoch": best_epoch, "n_per_class": n, "n_validation_per_class": int(conf.sum(axis=1)[0]),
           "seed": seed, "recipe": recipe, "preprocessing": preprocessing,
           "architecture": f"{opts['n_layer'] + 1}x{opts['n_hidden']} LeakyReLU, {k} outputs"}
    if reference is not None:
        r = names.index(reference)
        others = [j for j in range(k) if j != r]
        p = prob[yva == r][:, others]
        p /= p.sum(axis=1, keepdims=True)
        out["reference_assignment"] = {names[j]: float(v) for j, v in zip(others, p.mean(axis=0))}
    return out


def format_confusion(result: dict) -> str:
    """Markdown confusion matrix (rows: true class, columns: predicted) with recall and precision.

    >>> print(format_confusion({"classes": ["a", "b"], "confusion": [[9, 1], [2, 8]],
    ...                         "recall": {"a": 0.9, "b": 0.8}, "precision": {"a": 0.818, "b": 0.889}}))
    | true \\ predicted | a | b | recall |
    |---|---|---|---|
    | a | 9 | 1 | 0.900 |
    | b | 2 | 8 | 0.800 |
    | precision | 0.818 | 0.889 | |
    """
    names = result["classes"]
    lines = ["| true \\ predicted | " + " | ".join(names) + " | recall |", "|---" * (len(names) + 2) + "|"]
    for name, row in zip(names, result["confusion"]):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + f" | {result['recall'][name]:.3f} |")
    lines.append("| precision | " + " | ".join(f"{result['precision'][n]:.3f}" for n in names) + " | |")
    return "\n".join(lines)


def multiclass_files(reference_path, generated_paths, level: str = "high", recipe: str = "default",
                     max_showers: int = 20_000, threshold_mev: float | None = None, geometry: str | None = None,
                     seed: int = 0, **overrides) -> dict:
    """:func:`multiclass_test` on shower files: the reference and every generated file are one class each
    (named by file stem), at most ``max_showers`` showers of each, on the high-level inputs (conditionally
    standardised, as the binary default) or the low-level ones (``level="low"``). Same geometry for all.
    """
    from pathlib import Path

    from hepgen.data import ShowerFile
    from hepgen.data.validate import LENIENT
    from hepgen.errors import InputError
    from hepgen.evaluate.features import compute_features, default_threshold_mev, multivariate_inputs
    from hepgen.evaluate.observables import apply_threshold

    paths = [Path(reference_path)] + [Path(p) for p in generated_paths]
    names = [p.stem for p in paths]
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    files = [ShowerFile(p, geometry, policy=LENIENT) for p in paths]   # warn, do not refuse, implausible files
    for p, f in zip(paths[1:], files[1:]):
        if f.geometry != files[0].geometry:
            raise InputError(f"geometry '{f.geometry.name}' differs from the reference's '{files[0].geometry.name}'",
                             file=str(p))
    thr = default_threshold_mev(files[0].geometry) if threshold_mev is None else threshold_mev
    samples = {}
    for name, f in zip(names, files):
        data = f.read(0, min(len(f), max_showers))
        if level == "low":
            samples[name] = low_level_inputs(apply_threshold(data.energy, thr), data.incident_energy)
        else:
            samples[name] = multivariate_inputs(compute_features(data, thr), data.incident_energy).astype(np.float32)
    prep = "standard" if level == "low" else "conditional"
    if recipe == "official":
        prep = "none"
    result = multiclass_test(samples, reference=names[0], seed=seed, recipe=recipe, preprocessing=prep, **overrides)
    result["level"] = level
    result["files"] = dict(zip(names, map(str, paths)))
    return result
