"""Training and sampling: one config schema, one Lightning loop, run directories, streaming generation.

>>> from hepgen.training import train, load_generator, generate, resolve_config
"""

from hepgen.training.config import resolve_config
from hepgen.training.generate import ShowerGenerator, generate, load_generator
from hepgen.training.loop import TrainingDiverged, train

__all__ = ["train", "load_generator", "generate", "resolve_config", "TrainingDiverged", "ShowerGenerator"]
