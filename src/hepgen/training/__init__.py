"""Training and sampling: one config schema, one Lightning loop for every data kind, run directories, generation.

>>> from hepgen.training import train, Validate, load_generator, Generator, generate, resolve_config
"""

from hepgen.training.config import resolve_config
from hepgen.training.generate import generate, load_generator
from hepgen.training.sampling import Generator
from hepgen.training.kinds import Conditions, DataKind
from hepgen.training.loop import TrainingDiverged, Validate, train

__all__ = ["train", "Validate", "load_generator", "Generator", "generate", "resolve_config", "TrainingDiverged",
           "Conditions", "DataKind"]
