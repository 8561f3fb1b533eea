"""The CaloChallenge classifier test (arXiv:2410.21611, the challenge's ``evaluate.py`` protocol) in torch.

A fully connected DNN (input -> ``n_hidden`` -> ``n_layer`` x ``n_hidden`` -> 1, LeakyReLU, dropout,
BCE with logits, Adam) separates generated (label 0) from reference (label 1) showers. Both samples are cut
to the same size and split 60/20/20 into train/test/validation; the epoch with the best test accuracy is
kept (training stops after ``patience`` epochs without improvement), its outputs are calibrated by isotonic
regression on the test set, and the validation set gives the AUC and the JSD figure
``(ln 2 - BCE) / ln 2`` of the calibrated outputs. Inputs: low level = voxels / E_inc plus log10 E_inc;
high level = :func:`hepgen.evaluate.highlevel.classifier_highlevel_inputs`. The challenge's defaults
are 2 x 2048 hidden units and 50 epochs; the CPU defaults here are smaller (see :func:`classifier_test`).

>>> rng = np.random.default_rng(0)
>>> r = classifier_test(rng.normal(0, 1, (2000, 4)), rng.normal(2, 1, (2000, 4)), n_hidden=32, n_epochs=5, batch_size=100)
>>> r["auc"] > 0.9
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["classifier_test", "low_level_inputs"]


def low_level_inputs(energy: np.ndarray, incident_energy: np.ndarray) -> np.ndarray:
    """The challenge's low-level input: [log10 E_inc, voxels / E_inc] (MeV), shape (N, 1 + n_voxels).

    >>> [round(float(v), 3) for v in low_level_inputs(np.array([[10.0, 30.0]]), np.array([100.0]))[0]]
    [2.0, 0.1, 0.3]
    """
    inc = np.asarray(incident_energy, dtype=np.float64).reshape(-1, 1)
    return np.concatenate([np.log10(inc), np.asarray(energy, dtype=np.float64) / inc], axis=1).astype(np.float32)


def _dnn(input_dim: int, n_hidden: int, n_layer: int, dropout: float):
    import torch

    layers = [torch.nn.Linear(input_dim, n_hidden), torch.nn.LeakyReLU(), torch.nn.Dropout(dropout)]
    for _ in range(n_layer):
        layers += [torch.nn.Linear(n_hidden, n_hidden), torch.nn.LeakyReLU(), torch.nn.Dropout(dropout)]
    layers.append(torch.nn.Linear(n_hidden, 1))
    return torch.nn.Sequential(*layers)


def classifier_test(reference: np.ndarray, generated: np.ndarray, seed: int = 0, n_hidden: int = 256,
                    n_layer: int = 2, dropout: float = 0.0, n_epochs: int = 30, patience: int = 5,
                    batch_size: int = 1000, lr: float = 2e-4, max_showers: int | None = None) -> dict:
    """Train and evaluate the classifier on (N, d) input arrays; returns AUC, JSD, accuracy, best epoch, sizes.

    The AUC error is the Hanley-McNeil standard error on the validation set.
    """
    import torch
    from sklearn.isotonic import IsotonicRegression
    from sklearn.metrics import roc_auc_score

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n = min(len(reference), len(generated), max_showers or len(reference))
    ref = np.asarray(reference, np.float32)[rng.permutation(len(reference))[:n]]
    gen = np.asarray(generated, np.float32)[rng.permutation(len(generated))[:n]]
    mean, std = ref.mean(axis=0), ref.std(axis=0) + 1e-6   # same affine map for both samples
    ref, gen = (ref - mean) / std, (gen - mean) / std
    cut = np.cumsum((n * np.array([0.6, 0.2])).astype(int))
    parts = []
    for lo, hi in ((0, cut[0]), (cut[0], cut[1]), (cut[1], n)):
        x = np.concatenate([gen[lo:hi], ref[lo:hi]])
        y = np.concatenate([np.zeros(hi - lo), np.ones(hi - lo)]).astype(np.float32)
        order = rng.permutation(len(x))
        parts.append((torch.from_numpy(x[order]), torch.from_numpy(y[order])))
    (xtr, ytr), (xte, yte), (xva, yva) = parts
    batch_size = min(batch_size, max(32, len(xtr) // 20))   # at least ~20 steps per epoch on small samples
    model = _dnn(ref.shape[1], n_hidden, n_layer, dropout)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def predict(x):
        model.eval()
        with torch.no_grad():
            return torch.cat([model(x[i:i + 10_000]) for i in range(0, len(x), 10_000)]).reshape(-1)

    best_acc, best_epoch, best_state, waited = -1.0, 0, None, 0
    for epoch in range(n_epochs):
        model.train()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), batch_size):
            idx = perm[i:i + batch_size]
            opt.zero_grad()
            loss = loss_fn(model(xtr[idx]).reshape(-1), ytr[idx])
            loss.backward()
            opt.step()
        acc = float(((torch.sigmoid(predict(xte)) > 0.5).float() == yte).float().mean())
        if acc > best_acc:
            best_acc, best_epoch, waited = acc, epoch + 1, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if waited >= patience:
                break
        if acc == 1.0:
            break
    model.load_state_dict(best_state)
    p_test = torch.sigmoid(predict(xte)).numpy().astype(np.float64)
    p_val = torch.sigmoid(predict(xva)).numpy().astype(np.float64)
    y_val = yva.numpy().astype(np.float64)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6).fit(p_test, yte.numpy())
    cal = iso.predict(p_val)
    auc = float(roc_auc_score(y_val, cal))
    auc_raw = float(roc_auc_score(y_val, p_val))
    bce = float(-np.mean(y_val * np.log(cal) + (1 - y_val) * np.log(1 - cal)))
    jsd = (np.log(2.0) - bce) / np.log(2.0)
    m = len(y_val) / 2
    q1, q2 = auc / (2 - auc), 2 * auc ** 2 / (1 + auc)
    auc_err = float(np.sqrt(max(auc * (1 - auc) + (m - 1) * (q1 - auc ** 2) + (m - 1) * (q2 - auc ** 2), 0) / (m * m)))
    return {"auc": auc, "auc_error": auc_err, "auc_uncalibrated": auc_raw, "jsd": float(jsd),
            "accuracy": float(np.mean((cal > 0.5) == y_val)), "best_epoch": best_epoch,
            "n_train": int(len(ytr)), "n_test": int(len(yte)), "n_validation": int(len(yva)), "seed": seed,
            "architecture": f"{n_layer + 1}x{n_hidden} LeakyReLU"}
