"""Public CaloChallenge submissions run by their own code beside hepgen's models (``bench_fidelity.py --peer``).

A peer adapter is one module here with ``NAME``, ``PAPER`` and the functions ``check_checkout``, ``train``,
``generate`` and ``parameters`` (see :mod:`peers.calodiffusion`). Its code is never copied into hepgen: the user
gives the path of a checkout of the peer's repository, and the adapter runs the peer's own scripts in it.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from types import ModuleType

PEERS = ("calodiffusion",)


def parse_peer(text: str) -> tuple[str, Path]:
    """``(name, checkout path)`` from ``NAME=CHECKOUT_PATH`` (the name in lower case, checked against PEERS).

    >>> parse_peer("CaloDiffusion=../CaloDiffusion")
    ('calodiffusion', PosixPath('../CaloDiffusion'))
    >>> parse_peer("caloflow=x")
    Traceback (most recent call last):
    ...
    ValueError: unknown peer 'caloflow': known peers are calodiffusion
    """
    name, sep, path = text.partition("=")
    name = name.strip().lower()
    if not sep or not path.strip():
        raise ValueError(f"--peer expects NAME=CHECKOUT_PATH, got {text!r}")
    if name not in PEERS:
        raise ValueError(f"unknown peer '{name}': known peers are {', '.join(PEERS)}")
    return name, Path(path.strip())


def load_peer(name: str) -> ModuleType:
    """The adapter module of peer ``name``."""
    return import_module(f"peers.{name}")
