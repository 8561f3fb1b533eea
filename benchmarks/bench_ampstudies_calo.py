"""Calomplification (S. Bieringer et al., "Calomplification — the power of generative calorimeter models", JINST 17
(2022) P09028, arXiv:2202.07352) on a shared CPU: simulate, train the VAE-GAN, generate, measure.

    PYTHONPATH=src python benchmarks/bench_ampstudies_calo.py --workdir calo --n-reference 20000 --n-pool 5000 \
        --train-time 6m --n-generated 100000 --select-every 10 --out calo_amp
"""

from __future__ import annotations

import argparse
import json

from hepgen.amplify.calomplification import run_calomplification


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="calo")
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--n-reference", type=int, default=20000)
    ap.add_argument("--n-pool", type=int, default=5000)
    ap.add_argument("--sizes", default="1000,2000,5000")
    ap.add_argument("--train-time", default="6m")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--kl-weight", type=float, default=1.0)
    ap.add_argument("--no-prior-fakes", action="store_true", help="the paper's setup literally (see vaegan.py)")
    ap.add_argument("--select-every", type=int, default=10, help="epoch selection every N epochs (0: off)")
    ap.add_argument("--difference", default="abs", help="abs (hepgen) or signed (the paper literally)")
    ap.add_argument("--mbd-total", action="store_true", help="minibatch discrimination also sees log E_vis")
    ap.add_argument("--evis-mmd", type=float, default=0.0, help="weight of the log E_vis MMD in the generator loss")
    ap.add_argument("--seed", type=int, default=0, help="training seed")
    ap.add_argument("--n-generated", type=int, default=100000)
    ap.add_argument("--hist-splits", type=int, default=100)
    ap.add_argument("--out", default="calo_amp")
    a = ap.parse_args()
    cfg = {"params": {"lr": a.lr, "width": a.width, "kl_weight": a.kl_weight,
                      "prior_fakes": not a.no_prior_fakes, "difference": a.difference,
                      "mbd_total": a.mbd_total, "evis_mmd": a.evis_mmd},
           "training": {"batch_size": 50, "max_epochs": 1_000_000, "num_threads": 1}}
    res = run_calomplification(a.workdir, a.out, a.n_train, a.n_reference, a.n_pool,
                               [int(s) for s in a.sizes.split(",")], a.train_time, n_generated=a.n_generated,
                               hist_splits=a.hist_splits, config=cfg, overwrite=True,
                               select_every=a.select_every, seed=a.seed)
    print(json.dumps(res["settings"], indent=1))


if __name__ == "__main__":
    main()
