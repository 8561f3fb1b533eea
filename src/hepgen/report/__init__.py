"""Human-facing summaries: file summaries, HTML reports and figures."""
