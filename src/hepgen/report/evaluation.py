"""The report of ``hepgen evaluate``: ``metrics.json``, comparison figures and ``index.html`` in one folder.

:mod:`hepgen.evaluate` computes (:func:`hepgen.evaluate.evaluation.compare_files` returns the result and the
two samples' features); :func:`write_report` draws and writes them; :func:`evaluate_and_report` does both
for two shower files, as ``hepgen evaluate`` and the demo pipeline do.

>>> import json, tempfile, pathlib
>>> import numpy as np
>>> from hepgen.data import ShowerData, write_showers
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> rng = np.random.default_rng(0)
>>> for name in ("ref", "gen"):
...     write_showers(d / f"{name}.h5", ShowerData(np.full(200, 1e4), rng.exponential(10.0, (200, 25)),
...                                                 "belle2-ecl-5x5"))
>>> index = evaluate_and_report(d / "ref.h5", d / "gen.h5", d / "report", classifier=False, figures=False,
...                             workers=1)
>>> index.name, sorted(json.loads((d / "report" / "metrics.json").read_text()))[:3]
('index.html', ['correlations', 'energy_bins', 'fpd'])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["write_report", "evaluate_and_report"]


def write_report(result: dict[str, Any], reference_features: Any, generated_features: Any, output_dir: str | Path,
                 figures: bool = True, layer_grids: bool = False) -> Path:
    """Write ``figures/`` (when ``figures``; ``layer_grids`` adds one figure per layer with all its features),
    ``metrics.json`` (``result`` as strict JSON) and ``index.html`` into ``output_dir``; returns the path of
    ``index.html``. ``reference_features`` / ``generated_features`` are the
    :class:`hepgen.evaluate.FeatureSet` the result was computed from."""
    from hepgen.data.atomic import atomic_path
    from hepgen.evaluate.evaluation import jsonable
    from hepgen.progress import status
    from hepgen.report.html import write_index

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    figure_list = []
    if figures:
        from hepgen.report.figures import comparison_figures

        status("figures")
        figure_list = comparison_figures(reference_features, generated_features, result, out / "figures",
                                         layer_grids=layer_grids)
    with atomic_path(out / "metrics.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps(jsonable(result), indent=1, allow_nan=False))
    index = out / "index.html"
    write_index(result, figure_list, index)
    return index


def evaluate_and_report(reference_path: str | Path, generated_path: str | Path, output_dir: str | Path,
                        classifier: bool = True, seed: int = 0, threshold_mev: float | None = None,
                        geometry: str | None = None, chunk_size: int = 5_000, figures: bool = True,
                        classifier_options: dict | None = None, classifier_max_showers: int = 20_000,
                        overwrite: bool = False, workers: int = 2, layer_grids: bool = False,
                        hadronic: bool = False, mip_mev: float | None = None) -> Path:
    """Evaluate two shower files (:func:`hepgen.evaluate.evaluation.compare_files`, features cached in
    ``output_dir/cache``) and write the report (:func:`write_report`); returns the path of ``index.html``.

    The output folder is checked first: it must not be one of the inputs, and an existing ``metrics.json`` is
    replaced only with ``overwrite``. Implausible input values are reported on stderr, in ``metrics.json``
    (``warnings``) and in a box at the top of ``index.html``.
    """
    from hepgen.data.atomic import check_folder_writable, check_not_input
    from hepgen.errors import InputError
    from hepgen.evaluate.evaluation import compare_files

    out = Path(output_dir)
    index = out / "index.html"
    for target in (out, out / "metrics.json", index):
        check_not_input(target, [reference_path, generated_path], "report output")
    if out.exists() and not out.is_dir():
        raise InputError("the report output must be a folder, this is a file", file=str(out))
    if (out / "metrics.json").exists() and not overwrite:
        raise InputError("report exists; pass --overwrite to replace it", file=str(out / "metrics.json"))
    check_folder_writable(out)
    result, ref, gen = compare_files(reference_path, generated_path, out / "cache", classifier=classifier, seed=seed,
                                     threshold_mev=threshold_mev, geometry=geometry, chunk_size=chunk_size,
                                     classifier_options=classifier_options,
                                     classifier_max_showers=classifier_max_showers, workers=workers,
                                     hadronic=hadronic, mip_mev=mip_mev)
    return write_report(result, ref, gen, out, figures=figures, layer_grids=layer_grids)
