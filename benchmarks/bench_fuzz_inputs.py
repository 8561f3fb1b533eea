"""Fuzz the input layer with >= 1000 malformed files; print a table per mutation class.

Every file of the corpus in tests/fuzz_corpus.py (mutations of small valid CaloChallenge, ILD, hepgen
point-cloud and JetNet HDF5/.npy/.npz files) runs through ``hepgen info``, ``convert`` and ``evaluate``
(``evaluate-jets`` for jets; point-cloud files also through ``read_points``) in this process, with a
60 s alarm per command. Columns:

* files: generated files of the class;
* accepted-valid: files every command handled as the verdict says (valid accepted, implausible
  refused by convert and reported with a warning by info/evaluate, random corruption either way);
* clean refusals: files refused by every command that should refuse, with one ``hepgen: error:`` line
  and exit code 2;
* tracebacks / hangs: files where some command raised a traceback (or printed more than one line, or
  another exit code) / ran past the alarm;
* accepted-invalid: files some command accepted although they should be refused (or refused although
  valid, counted as ``false refusals``).

    PYTHONPATH=src python benchmarks/bench_fuzz_inputs.py [--seeds 5] [--random-seeds 4] [--figures]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import fuzz_corpus as fc  # noqa: E402


BROAD = [  # (broad class, substrings of the mutation name), first match wins
    ("unmutated", ("unmutated",)),
    ("corrupt bytes (truncated, flipped header, empty, garbage, text)", ("truncate", "flip-header", "empty",
                                                                          "garbage", "text")),
    ("file system (directory, symlink loop, dangling symlink)", ("directory", "symlink")),
    ("labels", ("labels-",)),
    ("geometry attributes", ("geometry-",)),
    ("links, external and virtual storage", ("external", "virtual", "soft-link")),
    ("implausible values (huge, tiny, GeV/TeV, 50x)", ("huge", "tiny-incident", "50x", "gev", "tev")),
    ("NaN, inf, negative, overflow, bad counts", ("nan", "inf", "negative", "overflow", "zero-incident", "mask",
                                                   "n-above", "n-fraction", "index-out", "index-negative",
                                                   "n-hits-sum", "n-hits-negative")),
    ("dtypes (complex, bool, ints, strings, compound, object)", ("complex", "bool", "uint8", "string", "compound",
                                                                "structured", "object", "float16", "float64",
                                                                "int-incident", "-float",
                                                                "hdf5-inside")),
    ("missing, extra, wrong shapes", ("",)),
]


def broad_class(kind: str) -> str:
    """The row of the summary table a mutation class falls into."""
    return next(name for name, keys in BROAD if any(k in kind for k in keys))


def classify(case: fc.Case, outcomes: list[fc.Outcome]) -> str:
    """One column for a file: traceback, hang, accepted-invalid, false-refusal, clean-refusal or accepted-valid."""
    statuses = [o.status for o in outcomes]
    if fc.HANG in statuses:
        return "hangs"
    if fc.TRACEBACK in statuses or fc.UNCLEAN in statuses:
        return "tracebacks"
    problems = fc.judge(case, outcomes)
    if problems:
        return "false refusals" if any("expected accepted" in p or "warning" in p for p in problems) \
            else "accepted-invalid"
    return "clean refusals" if case.verdict == fc.INVALID or (
        case.verdict == fc.EITHER and all(s == fc.REFUSED for s in statuses)) else "accepted-valid"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="Copies of each mutation (deterministic ones are equal).")
    ap.add_argument("--random-seeds", type=int, default=4, help="Extra factor for random byte-level mutations.")
    ap.add_argument("--figures", action="store_true", help="Draw the evaluation figures of accepted files too.")
    ap.add_argument("--show", type=int, default=3, help="Problems printed per column at the end.")
    args = ap.parse_args()
    from hepgen.evaluate.distances import CALOCHALLENGE_FPD

    # the report's FPD resamples 10k-50k rows per batch; for 24-shower files smaller batches run the same code
    CALOCHALLENGE_FPD.update(min_samples=200, max_samples=400)
    work = Path(tempfile.mkdtemp(prefix="hepgen-fuzz-"))
    t0 = time.perf_counter()
    cases = fc.make_cases(work / "files", seeds=args.seeds, random_seeds=args.random_seeds, seed=0)
    t_make = time.perf_counter() - t0
    cols = ["files", "accepted-valid", "clean refusals", "tracebacks", "hangs", "accepted-invalid", "false refusals"]
    table: dict[tuple[str, str], collections.Counter] = collections.defaultdict(collections.Counter)
    examples: dict[str, list[str]] = collections.defaultdict(list)
    for i, case in enumerate(cases):
        outcomes = fc.run_case(case, work / "runs" / str(i), figures=args.figures)
        col = classify(case, outcomes)
        row = table[(case.fmt, case.kind)]
        row["files"] += 1
        row[col] += 1
        if col not in ("accepted-valid", "clean refusals"):
            examples[col].append(f"{case.fmt}/{case.kind}: {fc.judge(case, outcomes)[:1]}")
    elapsed = time.perf_counter() - t0
    print(f"| format | class | {' | '.join(cols)} |")
    print("|---|---|" + "---:|" * len(cols))
    totals = collections.Counter()
    for (fmt, kind), row in sorted(table.items()):
        totals.update(row)
        print(f"| {fmt} | {kind} | " + " | ".join(str(row[c]) for c in cols) + " |")
    print("| **all** | | " + " | ".join(f"**{totals[c]}**" for c in cols) + " |")
    for title, key in (("class", lambda fk: broad_class(fk[1])), ("format", lambda fk: fk[0])):
        agg: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        for fk, row in table.items():
            agg[key(fk)].update(row)
        print(f"\n| {title} | {' | '.join(cols)} |")
        print("|---|" + "---:|" * len(cols))
        for name, row in sorted(agg.items(), key=lambda x: [b for b, _ in BROAD].index(x[0])
                                if title == "class" else x[0]):
            print(f"| {name} | " + " | ".join(str(row[c]) for c in cols) + " |")
        print("| **all** | " + " | ".join(f"**{totals[c]}**" for c in cols) + " |")
    print(f"\n{len(cases)} files made in {t_make:.1f} s; {elapsed:.1f} s in all; work folder {work}")
    for col, items in examples.items():
        print(f"\n{col}: {len(items)}")
        for line in items[: args.show]:
            print("  ", line[:400])


if __name__ == "__main__":
    main()
