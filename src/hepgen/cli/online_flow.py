"""``hepgen online-flow``: train an OnlineFlow ensemble on an event stream from a file, and sample from it
(Butter, Diefenbacher et al., "Ephemeral Learning – Augmenting Triggers with Online-Trained Normalizing Flows",
arXiv:2202.09375)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

online_flow_app = typer.Typer(
    no_args_is_help=True,
    help="OnlineFlow: MAFs trained on an event stream read chunk by chunk (double buffers, weight averaging, "
    "Poisson bootstrap), and events sampled from them. `hepgen online-flow train --help`.")


@online_flow_app.command("train")
def train(
    source: str = typer.Argument(..., help="Events (n, d): a .npy file or an HDF5 dataset (file.h5:dataset)."),
    output: Path = typer.Option(..., "--output", "-o", help="Ensemble checkpoint (.pt), written after every "
                                "--checkpoint-every buffers and at the end."),
    resume: bool = typer.Option(False, "--resume", help="Continue the ensemble in OUTPUT on the same stream "
                                "(its events already seen are skipped)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start afresh over an existing OUTPUT."),
    n_buffer: int = typer.Option(10_000, help="Events per buffer (thesis 10,000)."),
    n_batch: int = typer.Option(250, help="Mini-batch size (thesis 250)."),
    n_iter: int = typer.Option(10, help="Passes over each buffer (thesis 100; 1000 for LHCO)."),
    n_ens: int = typer.Option(1, help="Flows, each with Poisson(1) event weights when > 1 (thesis: 20)."),
    swa_skip: int = typer.Option(2, help="Buffers before stochastic weight averaging starts."),
    transforms: int = typer.Option(5, help="MADE blocks (thesis 5 for 1-d, 10 for the 5 LHCO features)."),
    hidden: int = typer.Option(32, help="Nodes of each of the two layers per block (thesis 32; LHCO 128)."),
    transform: str = typer.Option("affine", help="affine (the thesis's MAF) or spline."),
    lr: float = typer.Option(1e-3, help="Adam learning rate (thesis 1e-5 over 5M events x 100 passes)."),
    max_events: Optional[int] = typer.Option(None, help="Stop after this many (more) events."),
    checkpoint_every: int = typer.Option(1, help="Buffers between checkpoints."),
    seed: int = typer.Option(0, help="Seed of the flows, the batches and the bootstrap weights."),
) -> None:
    """Train (or continue) an ensemble of MAFs on the events of SOURCE read as a stream: each event is used only
    while its buffer is active and nothing else is kept. Prints the stream's and the training's events/s."""
    from hepgen.data import check_writable
    from hepgen.data.stream import iter_chunks
    from hepgen.errors import InputError
    from hepgen.training.online import OnlineConfig, OnlineEnsemble

    if resume and overwrite:
        raise InputError("--resume and --overwrite exclude each other")
    if resume:
        if not output.is_file():
            raise InputError("no ensemble to resume", file=str(output))
        ensemble = OnlineEnsemble.load(output)
    else:
        check_writable(output, overwrite)
        config = OnlineConfig(n_buffer=n_buffer, n_batch=n_batch, n_iter=n_iter, n_ens=n_ens, swa_skip=swa_skip,
                              bootstrap=n_ens > 1, seed=seed,
                              model={"lr": lr, "transforms": transforms, "hidden": [hidden, hidden],
                                     "transform": transform})
        first = next(iter_chunks(source, 1), None)
        if first is None:
            raise InputError("the stream holds no events", file=source)
        ensemble = OnlineEnsemble(first.shape[1], config)
    summary = ensemble.run(iter_chunks(source, ensemble.config.n_buffer), checkpoint=output,
                           checkpoint_every=checkpoint_every, max_events=max_events)
    typer.echo(f"{output}: {ensemble.events_seen} events in {ensemble.buffers_done} buffers "
               f"({summary['events']} now; training {summary['train_rate']:.3g} events/s, stream "
               f"{summary['stream_rate']:.3g} events/s)")


@online_flow_app.command("sample")
def sample(
    ensemble_path: Path = typer.Argument(..., help="Ensemble checkpoint written by `hepgen online-flow train`."),
    number: int = typer.Option(..., "-n", "--number", help="Events per flow."),
    output: Path = typer.Option(..., "--output", "-o", help="Output: .npy, or HDF5 (dataset 'events', and "
                                "'member' with the flow of each event)."),
    member: Optional[int] = typer.Option(None, help="Only this flow (default: every flow, one after the other)."),
    seed: int = typer.Option(0, help="Random seed (flow k uses seed * 1000 + k)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
) -> None:
    """Events from the weight-averaged flows of an ensemble, in the stream's units."""
    import numpy as np

    from hepgen.data import atomic_path, check_writable
    from hepgen.errors import InputError
    from hepgen.training.online import OnlineEnsemble

    check_writable(output, overwrite)
    if number < 1:
        raise InputError(f"number of events must be >= 1, got {number}")
    ensemble = OnlineEnsemble.load(ensemble_path)
    members = range(ensemble.config.n_ens) if member is None else [member]
    if member is not None and not 0 <= member < ensemble.config.n_ens:
        raise InputError(f"flow {member} does not exist: the ensemble has {ensemble.config.n_ens}",
                         file=str(ensemble_path))
    events = np.concatenate([ensemble.sample(number, k, seed=seed * 1000 + k) for k in members])
    which = np.repeat(np.asarray(list(members), np.int32), number)
    with atomic_path(output, overwrite) as tmp:
        if output.suffix == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, events)
        else:
            import h5py

            with h5py.File(tmp, "w") as h5:
                h5.create_dataset("events", data=events)
                h5.create_dataset("member", data=which)
    typer.echo(f"{output}: {len(events)} events from {len(members)} flow(s)")
