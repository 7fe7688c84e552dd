"""Checkpoints: one ``.npz`` file holding everything needed to continue a run exactly.

Layout (all keys are plain arrays; nothing is pickled, so loading runs no code):

    model/<dotted name>                 parameters and buffers
    optim/<param name>/<slot>           optimizer moments (Adam's m and v, ...) of every
                                        parameter group (names are unique across groups)
    meta                                a JSON string: model config, optimizer step,
                                        learning rate, epoch, RNG states, train config,
                                        history, format version

Writes are atomic (:mod:`.atomic`).
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from ..errors import CheckpointError
from .atomic import atomic_write

FORMAT_VERSION = 1


def save_checkpoint(path, model, optimizer=None, meta: dict | None = None) -> Path:
    """Write model (+ optimizer) state and ``meta`` atomically to ``path``."""
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    info = {"format_version": FORMAT_VERSION, "model_config": model.config,
            "dtype": str(np.dtype(model.dtype)), **(meta or {})}
    if getattr(model, "rng", None) is not None:
        info["model_rng"] = model.rng.bit_generator.state
    if optimizer is not None:
        sd = optimizer.state_dict()
        info["optimizer"] = {"type": sd.get("type", type(optimizer).__name__), "t": sd["t"],
                             "base_lr": sd["base_lr"]}
        if "groups" in sd:                       # one optimizer per parameter group
            info["optimizer"]["groups"] = sd["groups"]
        for name, slots in sd["state"].items():
            for slot, value in slots.items():
                arrays[f"optim/{name}/{slot}"] = value
    arrays["meta"] = np.array(json.dumps(info, default=_json_default))

    def write(f):
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        f.write(buf.getvalue())

    return atomic_write(path, write)


def load_checkpoint(path) -> tuple[dict, dict, dict]:
    """Read a checkpoint. Returns ``(meta, model_state, optimizer_state_or_empty)``.

    Raises CheckpointError naming the file for a missing, truncated or foreign file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt or not a scratchvae "
                              f"checkpoint ({type(exc).__name__}: {exc})") from exc
    if "meta" not in data:
        raise CheckpointError(f"{str(path)!r} is an .npz file but not a scratchvae checkpoint "
                              "(no 'meta' entry)")
    try:
        meta = json.loads(str(data.pop("meta")))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} has unreadable metadata: {exc}") from exc
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {str(path)!r} has format version "
                              f"{meta.get('format_version')}, this scratchvae reads {FORMAT_VERSION}")
    model_state = {k[len("model/"):]: v for k, v in data.items() if k.startswith("model/")}
    optim = {}
    for k, v in data.items():
        if k.startswith("optim/"):
            name, slot = k[len("optim/"):].rsplit("/", 1)
            optim.setdefault(name, {})[slot] = v
    opt_state = {}
    if "optimizer" in meta:
        opt_state = {"t": meta["optimizer"]["t"], "base_lr": meta["optimizer"]["base_lr"],
                     "state": optim}
        if "groups" in meta["optimizer"]:
            opt_state["groups"] = meta["optimizer"]["groups"]
    return meta, model_state, opt_state


def load_model(path):
    """Rebuild the model stored in a checkpoint, with its weights and ε generator."""
    from ..models import build_model  # noqa: PLC0415 - models import train lazily

    meta, model_state, _ = load_checkpoint(path)
    model = build_model(meta["model_config"], dtype=np.dtype(meta.get("dtype", "float32")))
    model.load_state_dict(model_state)
    if "model_rng" in meta and getattr(model, "rng", None) is not None:
        model.rng.bit_generator.state = meta["model_rng"]
    return model, meta


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"cannot store {type(o).__name__} in checkpoint metadata")
