"""Timing of trained runs (``hepgen benchmark``): the CaloChallenge protocol for every data kind, with the
reference simulators' own times. Above :mod:`hepgen.training` (it times its generators) and
:mod:`hepgen.simulate` (GFlash, Pythia 8 as references); nothing below imports it.

>>> from hepgen.timing import benchmark_run, parse_batch_sizes
>>> parse_batch_sizes("1,100")
[1, 100]
"""

from hepgen.timing.benchmark import (PATHS, PeakMemory, benchmark_run, consolidated_markdown, machine_info,
                                     parameter_counts, parse_batch_sizes, pythia_reference_time, reference_time,
                                     time_per_item, to_markdown)

__all__ = ["benchmark_run", "time_per_item", "parameter_counts", "reference_time", "to_markdown", "machine_info",
           "parse_batch_sizes", "PeakMemory", "PATHS", "pythia_reference_time", "consolidated_markdown"]
