"""Command line: ``python -m scratchvae {train, sample, reconstruct, evaluate, gradcheck}``.

    python -m scratchvae train                      # VAE on the embedded sprites, ~30 s
    python -m scratchvae train --model cvae         # any model of scratchvae.models.MODELS
    python -m scratchvae train --data fashion-mnist --epochs 3 --binarize
    python -m scratchvae sample runs/vae-sprites/checkpoint.npz --n 64
    python -m scratchvae reconstruct runs/vae-sprites/checkpoint.npz
    python -m scratchvae evaluate runs/vae-sprites/checkpoint.npz --k 5000   # IWAE NLL, ELBO, AU
    python -m scratchvae gradcheck                  # every layer and loss, a table

One module per command (``train``, ``generate`` for sample/reconstruct, ``evaluate``,
``gradcheck``); ``model_options`` maps the model options to the models' constructors.
Every error the library raises on purpose, and every error of the disk (full, read-only,
no permission), is printed as one line with exit code 2; arguments are validated when
they are parsed (argparse's exit code 2, before anything runs).
"""
from __future__ import annotations

import argparse
import sys
import traceback

from ..errors import ScratchVAEError
from . import evaluate, generate, gradcheck, train

EPILOG = """Each command's --help lists its options. Runs write to --out (default
runs/<model>-<data>/): checkpoint.npz, history.json/.csv, results.json and PNG figures."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m scratchvae", description=__doc__.split("\n")[0],
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train.add_parser(sub)
    generate.add_parsers(sub)
    evaluate.add_parser(sub)
    gradcheck.add_parser(sub)
    return p


def main(argv=None) -> int:
    from ..backend import prefer_sleeping_threads  # noqa: PLC0415
    prefer_sleeping_threads()               # before any kernel runs (docs/kernels/threads.md)
    args = build_parser().parse_args(argv)
    if getattr(args, "cpu_kernels", None):
        from ..backend import set_cpu_kernels  # noqa: PLC0415
        set_cpu_kernels(args.cpu_kernels)
    try:
        return args.func(args)
    except ScratchVAEError as exc:
        _say(exc, f"error: {exc}")
        return _ended(exc, 2)
    except OSError as exc:              # the disk, not the program: full, read-only, denied
        where = f" {exc.filename}" if exc.filename else ""
        _say(exc, f"error: could not read or write{where}: {exc.strerror or exc} (errno "
                  f"{exc.errno}); free some space, fix the permissions, or choose another --out")
        return _ended(exc, 2)
    except KeyboardInterrupt as exc:
        print("interrupted", file=sys.stderr)
        return _ended(exc, 130)
    except Exception as exc:            # a bug: its traceback, then end the other ranks too
        traceback.print_exc()
        _ended(exc, 1)
        raise


def _world():
    """The communicator if one was made (None: nothing of MPI was touched)."""
    from ..distributed import comm as comm_module  # noqa: PLC0415
    return comm_module._WORLD


def _say(exc, line: str) -> None:
    """Print the error's line — once, on rank 0, for an error every rank raised together."""
    world = _world()
    if getattr(exc, "collective", False) and world is not None and not world.is_root:
        return
    prefix = f"[rank {world.rank}] " if world is not None and world.size > 1 and \
        not getattr(exc, "collective", False) else ""
    print(prefix + line, file=sys.stderr)


def _ended(exc, code: int) -> int:
    """Under MPI with P > 1, an error that only this rank met would leave the others
    waiting in their next collective forever: end them all (MPI_Abort). An error every
    rank raised together (``collective``, from ``root_call``) needs no abort."""
    world = _world()
    if world is not None and world.size > 1 and not getattr(exc, "collective", False):
        sys.stderr.flush()
        world.abort(code)
    return code
