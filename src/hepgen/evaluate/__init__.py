"""Judge generated showers: observables, CaloChallenge high-level features, metrics, classifier tests.

``compute_features`` turns a sample (or a stream of chunks) into one cached :class:`FeatureSet`;
``evaluate_samples`` / ``compare_files`` compare two samples (everything ``metrics.json`` holds; the figures and
``index.html`` are drawn by :mod:`hepgen.report`, whose ``evaluate_and_report`` does both for two files);
``quick_metrics`` gives a few separation powers fast enough for a training loop. The metrics are plain
functions, one per metric: ``separation_power``, ``chi2``, ``w1``, ``one_d_metrics`` (W1 with its error, KS),
``prdc``, ``fpd`` and ``kpd`` (see :mod:`hepgen.evaluate.metrics`).

>>> from hepgen.evaluate import compute_features, evaluate_samples, compare_files, quick_metrics, separation_power
"""

from hepgen.evaluate.evaluation import compare_files, evaluate_features, evaluate_samples, quick_metrics
from hepgen.evaluate.features import FeatureSet, compute_features
from hepgen.evaluate.histograms import chi2, separation_power
from hepgen.evaluate.distances import fpd, kpd
from hepgen.evaluate.metrics import one_d_metrics, prdc, w1

__all__ = ["compute_features", "FeatureSet", "evaluate_samples", "evaluate_features", "compare_files",
           "quick_metrics", "separation_power", "chi2", "w1", "one_d_metrics", "prdc", "fpd", "kpd"]
