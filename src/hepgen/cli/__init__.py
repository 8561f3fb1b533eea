"""The ``hepgen`` command line.

Each command lives in its own module of this package and is registered in :data:`COMMANDS`; heavy
libraries (torch, h5py, matplotlib) are imported inside the commands, so ``hepgen --help`` is fast.
Bad input raises :class:`hepgen.errors.InputError`, which :func:`main` prints as one line with exit
code 2.
"""

from __future__ import annotations

import importlib
import sys

import typer

from hepgen import __version__

__all__ = ["app", "main"]

app = typer.Typer(
    name="hepgen",
    help="Generative surrogates of detector simulation: simulate reference showers and jets, train "
    "generators, sample fast, judge fidelity, measure amplification, export to ONNX. Energies in MeV.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# (module in hepgen.cli, function or typer.Typer name, command name); one line per command.
COMMANDS: list[tuple[str, str, str]] = [
    ("info", "info", "info"),
    ("info", "geometries", "geometries"),
    ("convert", "convert", "convert"),
    ("demo", "demo", "demo"),
    ("merge", "merge", "merge"),
    ("simulate", "simulate_app", "simulate"),
    ("train", "train", "train"),
    ("generate", "generate", "generate"),
    ("evaluate", "evaluate", "evaluate"),
    ("amplify", "amplify", "amplify"),
    ("jets", "evaluate_jets", "evaluate-jets"),
    ("benchmark", "benchmark", "benchmark"),
    ("export", "export", "export"),
    ("regress", "regress", "regress"),
    ("betavae", "beta_vae_study", "beta-vae-study"),
    ("ampstudies", "gan_toys", "gan-toys"),
    ("ampstudies", "calomplification", "calomplification"),
    ("online", "online_bumphunt", "online-bumphunt"),
    ("online_flow", "online_flow_app", "online-flow"),
    ("cwola", "online_cwola", "online-cwola"),
    ("playground", "playground", "playground"),
    ("playground", "morphing_toy", "morphing-toy"),
    ("testbeam", "calice_testbeam_study", "testbeam-study"),
    ("susy", "morph", "morph"),
    ("susy", "susy_morphing", "susy-morphing"),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hepgen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or status messages."),
) -> None:
    from hepgen.progress import set_quiet

    set_quiet(quiet)


for _module, _attr, _name in COMMANDS:
    _target = getattr(importlib.import_module(f"hepgen.cli.{_module}"), _attr)
    if isinstance(_target, typer.Typer):  # a command with subcommands, e.g. simulate / simulate jets
        app.add_typer(_target, name=_name)
    else:
        app.command(_name)(_target)


def main(argv: list[str] | None = None) -> None:
    """Run the command line; bad input gives one line on stderr and exit code 2."""
    from hepgen.errors import InputError

    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="hepgen", standalone_mode=True)
    except InputError as exc:
        print(f"hepgen: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except PermissionError as exc:    # e.g. a folder made read-only while a command runs
        print(f"hepgen: error: {exc.filename or ''}: permission denied", file=sys.stderr)
        sys.exit(2)
