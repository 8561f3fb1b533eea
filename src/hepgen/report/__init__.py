"""Human-facing summaries: file summaries, HTML reports and figures.

``evaluate_and_report`` evaluates two shower files and writes ``metrics.json``, figures and ``index.html``
(:mod:`hepgen.report.evaluation`).
"""

from hepgen.report.evaluation import evaluate_and_report, write_report

__all__ = ["evaluate_and_report", "write_report"]
