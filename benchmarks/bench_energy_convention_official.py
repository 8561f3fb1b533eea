"""A hepgen calochallenge-2 file seen by the official CaloChallenge code: E_tot/E_inc where the challenge's
histogram (0.5-1.5) expects it.

Simulates N GFlash electrons (log-uniform 1 GeV-1 TeV) with hepgen, applies the official ``evaluate.py`` cut
(0.5 keV / 0.033) and computes E_tot with the official ``HighLevelFeatures`` class from a checkout of the
challenge repository's ``code/`` folder (``--official-code``; nothing is fetched at run time), in the
challenge's calibrated convention (hepgen's default) and with ``--visible-energy`` (silicon energies).

    python benchmarks/bench_energy_convention_official.py --official-code CaloChallenge/code --n 600
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--official-code", required=True, type=Path, help="the challenge repository's code/ folder")
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    import h5py
    import matplotlib

    matplotlib.use("Agg")
    sys.path.insert(0, str(args.official_code.resolve()))
    from HighLevelFeatures import HighLevelFeatures  # the official class, from the user's checkout

    from hepgen.simulate import simulate_to_file

    hlf = HighLevelFeatures("electron", filename=str(args.official_code / "binning_dataset_2.xml"))
    print(f"{'convention':<12} {'median E_tot/E_inc':>18} {'peak bin':>9} {'inside 0.5-1.5':>15}  "
          "per decade (median, std)")
    with tempfile.TemporaryDirectory() as tmp:
        for visible in (False, True):
            path = Path(tmp) / f"ds2_{visible}.h5"
            simulate_to_file(path, "calochallenge-2", "log-uniform:1GeV:1TeV", args.n, particle="electron",
                             seed=args.seed, quiet=True, visible_energy=visible)
            with h5py.File(path) as f:
                inc, showers = f["incident_energies"][:].ravel(), f["showers"][:]
                convention = str(f.attrs["energy_convention"])
            showers = np.where(showers < 0.5e-3 / 0.033, 0.0, showers)    # evaluate.py's min_energy for ds2
            hlf.CalculateFeatures(showers)
            r = hlf.GetEtot() / inc
            h, e = np.histogram(r, np.linspace(0.5, 1.5, 101))
            peak = e[np.argmax(h)] + 0.005 if h.any() else float("nan")
            dec = "  ".join(f"{np.median(r[m]):.3f}/{r[m].std():.3f}" for m in
                            ((inc < 1e4), (inc >= 1e4) & (inc < 1e5), (inc >= 1e5)))
            print(f"{convention:<12} {np.median(r):>18.4f} {peak:>9.3f} {((r > 0.5) & (r < 1.5)).mean():>15.3f}  {dec}")


if __name__ == "__main__":
    main()
