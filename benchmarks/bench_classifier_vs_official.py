"""hepgen's classifier tests beside the official CaloChallenge ``evaluate.py -m cls-low / cls-high``.

For each pair of calochallenge-2 files the script runs the official ``evaluate.py`` (from a checkout of
the CaloChallenge repository's ``code/`` folder that the user points to; nothing is fetched) in the
classifier modes, then ``hepgen evaluate --classifier official`` and ``--classifier default`` on the very
same files, and prints the AUCs side by side with their Hanley-McNeil errors and the difference in units
of the combined error.

Pairs (``--cases``), each N showers per sample, GFlash electrons log-uniform 1 GeV - 1 TeV in the
challenge's energy convention:

* ``null``: two independent samples (seeds 1 and 2): both AUCs should be 0.5 within errors;
* ``layer_scale``: the second sample with layers 8-12 scaled by 1.05 (about a third of the energy);
* ``files``: two files given with ``--files REF GEN`` (e.g. a trained model's output and its reference).

One documented change to the official script, made on a copy in the work folder: its ``ttv_split`` is
called with ``dataset=None`` (the 60/20/20 split as fractions, as hepgen's official recipe does) instead
of the fixed counts 60000/20000/20000 of the full-size challenge files, which leave the test and
validation splits empty for smaller files. Everything else (network 3 x 2048 LeakyReLU, Adam 2e-4,
batch 1000, 50 epochs, best test accuracy kept, isotonic calibration, inputs) is the official code as
checked out. The official split is not seeded (numpy's global state), so the two implementations see
different random splits: agreement means within the statistical errors, not to float precision.

    python benchmarks/bench_classifier_vs_official.py --official-code CaloChallenge/code --n 1000 \
        --workdir WORK --cases null,layer_scale [--levels high,low] [--files REF.h5 GEN.h5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_evaluate_official import RUNNER  # noqa: E402  (runs the official script without LaTeX)

SPLIT_CALL = "dataset=args.dataset)"


def patched_official(code: Path, workdir: Path) -> Path:
    """A copy of the official code folder whose ttv_split uses fractions (see the module docstring)."""
    dest = workdir / "official_code_fraction_split"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(code, dest)
    src = (dest / "evaluate.py").read_text()
    if src.count(SPLIT_CALL) != 1:
        raise SystemExit(f"{code / 'evaluate.py'}: expected one ttv_split call ending in '{SPLIT_CALL}'")
    (dest / "evaluate.py").write_text(src.replace(SPLIT_CALL, "dataset=None)"))
    return dest


def official_auc(python: str, code: Path, mode: str, ref: Path, gen: Path, out: Path) -> tuple[float, float]:
    """Run the official evaluate.py in a classifier mode; returns (calibrated AUC, seconds)."""
    out.mkdir(parents=True, exist_ok=True)
    ref.with_suffix(".pkl").unlink(missing_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.run([python, "-c", RUNNER, "-i", str(gen), "-r", str(ref), "-m", mode, "-d", "2",
                           "--output_dir", str(out), "--no_cuda"], cwd=code, capture_output=True, text=True,
                          env={**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": ""})
    dt = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"official evaluate.py -m {mode} failed:\n{proc.stderr[-3000:]}")
    m = re.search(r"Final result of classifier test \(AUC / JSD\):\s*([0-9.]+) / ", proc.stdout)
    if not m:
        raise SystemExit(f"official evaluate.py -m {mode}: no final AUC in its output")
    return float(m.group(1)), dt


def hepgen_aucs(recipe: str, ref: Path, gen: Path, out: Path) -> tuple[dict, float]:
    """``hepgen evaluate --classifier RECIPE``: the low- and high-level classifier results and seconds."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hepgen", "--quiet", "evaluate", str(ref), str(gen), "-o", str(out),
                    "--classifier", recipe, "--overwrite"], check=True, env={**os.environ, "MPLBACKEND": "Agg"},
                   stdout=subprocess.DEVNULL)
    return json.loads((out / "metrics.json").read_text())["classifier"], time.perf_counter() - t0


def make_pair(case: str, n: int, workdir: Path) -> tuple[Path, Path]:
    """Reference and second file of a simulated pair (cached in the work folder)."""
    from bench_classifier_calibration import plant, sample
    from hepgen.data import ShowerData, write_showers
    from hepgen.geometry import get_geometry

    geo = get_geometry("calochallenge-2")
    ref, gen = workdir / f"ref_{n}.h5", workdir / f"{case}_{n}.h5"
    if not ref.exists():
        write_showers(ref, ShowerData(*sample(n, 1), geo))
    if not gen.exists():
        inc, energy = sample(n, 2)
        write_showers(gen, ShowerData(inc, plant(case, energy, geo), geo))
    return ref, gen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--official-code", type=Path, required=True, help="the CaloChallenge repository's code/ folder")
    ap.add_argument("--official-python", default=sys.executable,
                    help="interpreter with the official code's requirements (numpy, torch, h5py, sklearn, matplotlib)")
    ap.add_argument("--n", type=int, default=1000, help="showers per simulated sample")
    ap.add_argument("--cases", default="null,layer_scale", help="comma list of null, layer_scale, files")
    ap.add_argument("--files", nargs=2, type=Path, metavar=("REF", "GEN"), help="the pair of the 'files' case")
    ap.add_argument("--levels", default="high,low")
    ap.add_argument("--workdir", type=Path, required=True)
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    code = patched_official(args.official_code.resolve(), args.workdir)
    levels = [lv for lv in args.levels.split(",") if lv]
    from hepgen.evaluate.classifier import hanley_mcneil_error

    print("| pair | level | official evaluate.py | hepgen --classifier official | (diff)/sigma | "
          "hepgen --classifier default | seconds official / hepgen official / hepgen default | load |")
    print("|---|---|---|---|---|---|---|---|")
    for case in [c for c in args.cases.split(",") if c]:
        if case == "files":
            ref, gen = (p.resolve() for p in args.files)
        else:
            ref, gen = make_pair(case, args.n, args.workdir)
        h_off, t_ho = hepgen_aucs("official", ref, gen, args.workdir / f"hepgen_official_{case}")
        h_def, t_hd = hepgen_aucs("default", ref, gen, args.workdir / f"hepgen_default_{case}")
        for level in levels:
            o, t_o = official_auc(args.official_python, code, f"cls-{level}", ref, gen,
                                  args.workdir / f"official_{case}_{level}")
            ho, hd = h_off[f"{level}_level"], h_def[f"{level}_level"]
            n_val = ho["n_validation"] // 2
            o_err = hanley_mcneil_error(o, n_val, n_val)
            z = (ho["auc"] - o) / np.hypot(ho["auc_error"], o_err)
            print(f"| {case} | {level} | {o:.3f} ± {o_err:.3f} | {ho['auc']:.3f} ± {ho['auc_error']:.3f} | {z:+.1f} | "
                  f"{hd['auc']:.3f} ± {hd['auc_error']:.3f} | {t_o:.0f} / {t_ho:.0f} / {t_hd:.0f} | "
                  f"{os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
