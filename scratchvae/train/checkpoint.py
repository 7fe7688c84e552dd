"""Checkpoints: one ``.npz`` file holding everything needed to continue a run exactly.

Layout (all entries are plain arrays; nothing is pickled, so loading runs no code):

    model/<dotted name>                 parameters and buffers
    optim/<param name>/<slot>           optimizer moments (Adam's m and v, ...) of every
                                        parameter group (names are unique across groups)
    meta                                a JSON string: model config, optimizer step,
                                        learning rate, epoch, RNG states, train config,
                                        history, format version

Writes are atomic (:mod:`.atomic`).

A checkpoint is an untrusted file: it may be cut short, damaged on disk, edited by hand
or crafted. Reading is therefore bounded and checked before anything is trusted:

1. the zip directory is read and every entry name checked against the layout above
   (an entry the format does not define is refused without being read);
2. every entry's ``.npy`` header is read first, and its dtype, shape and byte size checked
   against the entry's size in the archive and a cap (``max_bytes``) *before* an array
   is allocated — an entry claiming 2⁴⁰ values costs nothing;
3. the metadata is parsed and checked (:func:`check_meta`): the keys the format requires,
   the model config against the model class's constructor signature, the optimizer and
   RNG records;
4. the arrays are read (the zip CRC catches a flipped byte) and must have the declared
   float dtype, fit each other (an optimizer slot has its parameter's shape) and be finite.

Whatever goes wrong, the caller gets one :class:`~scratchvae.errors.CheckpointError`
naming the file, the problem and what to do.
"""
from __future__ import annotations

import inspect
import io
import json
import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from ..errors import CheckpointError
from ..atomic import atomic_write

FORMAT_VERSION = 1
#: default cap on the bytes of all arrays of one checkpoint (raise it with max_bytes=)
MAX_CHECKPOINT_BYTES = 4 << 30
MAX_META_BYTES = 64 << 20             # the JSON metadata, stored as UTF-32
_FLOAT_DTYPES = ("float32", "float64")
_NAME = r"[A-Za-z0-9_.\-]{1,200}"
_ENTRY = re.compile(rf"^(?:(?P<meta>meta)|model/(?P<param>{_NAME})"
                    rf"|optim/(?P<oparam>{_NAME})/(?P<slot>{_NAME}))\.npy$")
_CHUNK = 1 << 20                      # bytes read at a time
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
_REPLACE = ("use another checkpoint (an earlier one, or a copy), or train again; "
            "this file is damaged or was not written by scratchvae")


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


# ---------------------------------------------------------------------------- reading

def load_checkpoint(path, max_bytes: int = MAX_CHECKPOINT_BYTES) -> tuple[dict, dict, dict]:
    """Read a checkpoint. Returns ``(meta, model_state, optimizer_state_or_empty)``.

    ``max_bytes`` caps the bytes of all its arrays together (default 4 GiB); a larger
    genuine checkpoint needs ``load_checkpoint(path, max_bytes=...)``.

    Raises CheckpointError naming the file for a missing, truncated, damaged, foreign or
    inconsistent file (see the module docstring for what is checked). Which parts of a
    run the file holds (optimizer, the model's noise generator): :func:`checkpoint_contents`.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist"
                              + (" (it is a directory)" if path.is_dir() else "")
                              + "; check the path (a run keeps its checkpoint in "
                              "<out dir>/checkpoint.npz)")
    try:
        with _Archive(path, max_bytes) as archive:
            meta = check_meta(archive.read_meta(), path, archive.model_values())
            return archive.read_state(meta)
    except CheckpointError:
        raise
    except Exception as exc:     # zip/npy/JSON damage of any kind; never KeyboardInterrupt
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt or not a scratchvae "
                              f"checkpoint ({type(exc).__name__}: {_one_line(exc)}); "
                              f"{_REPLACE}") from exc


def load_model(path, max_bytes: int = MAX_CHECKPOINT_BYTES):
    """Rebuild the model stored in a checkpoint, with its weights and ε generator.

    Raises CheckpointError naming the file if the model cannot be rebuilt from its
    config or the stored arrays do not fit it (names, shapes).
    """
    from ..models import build_model  # noqa: PLC0415 - models import train lazily

    path = Path(path)
    meta, model_state, _ = load_checkpoint(path, max_bytes=max_bytes)
    try:
        model = build_model(meta["model_config"], dtype=np.dtype(meta.get("dtype", "float32")))
    except Exception as exc:
        raise CheckpointError(f"checkpoint {str(path)!r}: its model_config "
                              f"{_short(meta['model_config'])} does not build a model "
                              f"({type(exc).__name__}: {_one_line(exc)}); {_REPLACE}") from exc
    try:
        model.load_state_dict(model_state)
        if "model_rng" in meta and getattr(model, "rng", None) is not None:
            model.rng.bit_generator.state = meta["model_rng"]
    except Exception as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} does not fit the model its config "
                              f"describes ({type(exc).__name__}: {_one_line(exc)}); "
                              f"{_REPLACE}") from exc
    return model, meta


@dataclass(frozen=True)
class CheckpointContents:
    """What of a run a checkpoint holds (from its metadata); see :func:`checkpoint_contents`.

    ``optimizer``      the optimizer's step count, learning rate and slots (Adam's moments)
    ``model_rng``      the state of the model's own noise generator (ε, corruption)
    ``epoch``          the epoch count, if a Trainer wrote it (else None)
    ``train_config``   the Trainer's configuration, if a Trainer wrote it
    """
    optimizer: bool
    model_rng: bool
    epoch: int | None
    train_config: bool

    def missing_for_resume(self, model) -> list[str]:
        """What an exact resume of ``model`` would lack; empty if it can be exact."""
        missing = []
        if not self.optimizer:
            missing.append("the optimizer state")
        if getattr(model, "rng", None) is not None and not self.model_rng:
            missing.append("the state of the model's noise generator")
        if self.epoch is None:
            missing.append("the epoch count")
        if not self.train_config:
            missing.append("the training configuration")
        return missing


def checkpoint_contents(meta: dict) -> CheckpointContents:
    """Which parts of a run the checkpoint with this (checked) ``meta`` holds.

    The Trainer uses it to refuse an inexact resume, e.g.::

        meta, state, opt = load_checkpoint(path)
        missing = checkpoint_contents(meta).missing_for_resume(model)
        if missing: raise CheckpointError(f"{path} lacks {', '.join(missing)} ...")
    """
    return CheckpointContents(optimizer="optimizer" in meta, model_rng="model_rng" in meta,
                              epoch=meta.get("epoch"), train_config="train_config" in meta)


# ------------------------------------------------------------------ metadata checks

def check_meta(meta, path, size_limit: int | None = None) -> dict:
    """Check the metadata of checkpoint ``path``; return it, or raise CheckpointError.

    Required: ``format_version`` (this scratchvae's) and ``model_config`` (checked by
    :func:`check_model_config`); ``dtype`` is float32 or float64 (float32 if absent).
    Optional records, checked where present: ``optimizer`` (``t`` ≥ 0, finite
    ``base_lr``, ``groups``), ``model_rng`` (a NumPy bit-generator state), ``epoch``
    (an int ≥ 0), ``train_config`` (a dict), ``history`` (a list of dicts).
    ``size_limit`` bounds the model config's integers (see check_model_config).
    """
    where = f"checkpoint {str(path)!r}"
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where} has metadata of type {type(meta).__name__}, not a JSON "
                              f"object; {_REPLACE}")
    version = meta.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise CheckpointError(f"{where} has format version {version!r}, this scratchvae reads "
                              f"{FORMAT_VERSION}; use the scratchvae version that wrote it, or "
                              f"train again")
    for key in ("model_config",):
        if key not in meta:
            raise CheckpointError(f"{where} lacks the metadata key {key!r}; {_REPLACE}")
    dtype = meta.get("dtype", "float32")
    if dtype not in _FLOAT_DTYPES:
        raise CheckpointError(f"{where} declares dtype {dtype!r}; a checkpoint holds float32 or "
                              f"float64 weights. {_REPLACE}")
    check_model_config(meta["model_config"], path, size_limit)
    if "optimizer" in meta:
        _check_optimizer_meta(meta["optimizer"], where)
    if "model_rng" in meta:
        _check_rng_state(meta["model_rng"], where)
    if "epoch" in meta and not _is_int(meta["epoch"], 0):
        raise CheckpointError(f"{where} has epoch {_short(meta['epoch'])}; it must be an "
                              f"integer ≥ 0. {_REPLACE}")
    if "train_config" in meta and not (isinstance(meta["train_config"], dict)
                                       and all(isinstance(k, str) for k in meta["train_config"])):
        raise CheckpointError(f"{where} has a train_config that is not a JSON object; {_REPLACE}")
    if "history" in meta and not (isinstance(meta["history"], list)
                                  and all(isinstance(r, dict) for r in meta["history"])):
        raise CheckpointError(f"{where} has a history that is not a list of records; {_REPLACE}")
    return meta


def check_model_config(config, path, size_limit: int | None = None) -> None:
    """Check a checkpoint's ``model_config`` against its model class's constructor.

    The model name must be one of ``REGISTRY`` (``MODELS`` and ``TASK_MODELS``); every key a
    parameter of that class's constructor (not ``dtype``: it is stored beside); every value
    of the kind the parameter's default has (bool, int, finite float, str, list of ints). With
    ``size_limit`` (the number of values stored for the model), no integer but the seed
    may exceed it in size: a model has at least as many parameters as any of its sizes,
    so a larger one was edited in, and would cost the memory of a model that large.
    Building it can still fail on a value its constructor refuses: :func:`load_model`
    reports that as CheckpointError too.
    """
    from ..models import REGISTRY  # noqa: PLC0415 - models import train lazily

    where = f"checkpoint {str(path)!r}"
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise CheckpointError(f"{where} has a model_config that is not a JSON object; {_REPLACE}")
    name = config.get("model", "vae")
    if not isinstance(name, str) or name not in REGISTRY:
        raise CheckpointError(f"{where} stores an unknown model {_short(name)}; this scratchvae "
                              f"knows {', '.join(sorted(REGISTRY))} (a newer version's model? "
                              f"use that version)")
    signature = inspect.signature(REGISTRY[name].__init__)
    params = {p.name: p for p in list(signature.parameters.values())[1:]
              if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "dtype"}
    unexpected = sorted(set(config) - set(params) - {"model"})
    if unexpected:
        raise CheckpointError(f"{where}: model_config has key(s) {unexpected} that model {name!r} "
                              f"does not take (it takes {', '.join(params)}); {_REPLACE}")
    missing = sorted(k for k, p in params.items() if p.default is p.empty and k not in config)
    if missing:
        raise CheckpointError(f"{where}: model_config lacks {missing}, which model {name!r} "
                              f"requires; {_REPLACE}")
    for key, value in config.items():
        if key == "model":
            continue
        problem = _value_problem(key, value, params[key].default, size_limit)
        if problem:
            raise CheckpointError(f"{where}: model_config[{key!r}] = {_short(value)} {problem} "
                                  f"for model {name!r}; {_REPLACE}")


def _value_problem(key, value, default, size_limit) -> str | None:
    """Why ``value`` cannot stand where ``default`` stands, or None."""
    def int_problem(v):
        if not _is_int(v):
            return "is not an integer"
        if key == "seed":
            return None if 0 <= v < 2 ** 128 else "is not a seed in [0, 2**128)"
        if size_limit is not None and abs(v) > max(size_limit, 1):
            return (f"is larger than the {size_limit} values the checkpoint stores for the "
                    f"whole model")
        return None

    if isinstance(default, bool):
        return None if isinstance(value, bool) else "is not true/false"
    if isinstance(default, int):
        return int_problem(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "is not a number"
        return None if math.isfinite(value) else "is not finite"
    if isinstance(default, str):
        return None if isinstance(value, str) and len(value) <= 100 else "is not a short string"
    if isinstance(default, (tuple, list)):
        if not isinstance(value, (list, tuple)) or len(value) > 256:
            return "is not a list of at most 256 sizes"
        for v in value:
            problem = int_problem(v)
            if problem:
                return f"holds {_short(v)}, which {problem}"
        return None
    if default is None or default is inspect.Parameter.empty:     # no kind to compare with
        return None if isinstance(value, (str, int, float, bool, type(None))) else \
            "is not a plain value"
    return None


def _check_optimizer_meta(opt, where) -> None:
    def record_problem(rec):
        if not isinstance(rec, dict):
            return "is not a JSON object"
        if not _is_int(rec.get("t"), 0):
            return f"has step count t = {_short(rec.get('t'))}, not an integer ≥ 0"
        lr = rec.get("base_lr")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr):
            return f"has base_lr = {_short(lr)}, not a finite number"
        return None

    problem = record_problem(opt)
    if problem is None and "type" in opt and not isinstance(opt["type"], str):
        problem = "has a type that is not a string"
    if problem is None and "groups" in opt:
        groups = opt["groups"]
        if not isinstance(groups, dict) or not groups:
            problem = "has groups that are not a non-empty JSON object"
        else:
            for g, rec in groups.items():
                sub = record_problem(rec)
                if sub:
                    problem = f"group {g!r} {sub}"
                    break
    if problem:
        raise CheckpointError(f"{where}: the optimizer record {problem}; {_REPLACE}")


def _check_rng_state(state, where) -> None:
    """A bit-generator state is valid if a fresh generator of its kind accepts it."""
    kind = state.get("bit_generator") if isinstance(state, dict) else None
    if kind not in _BIT_GENERATORS:
        raise CheckpointError(f"{where}: model_rng is not a NumPy bit-generator state "
                              f"(bit_generator {_short(kind)}); {_REPLACE}")
    try:
        getattr(np.random, kind)().state = state
    except Exception as exc:
        raise CheckpointError(f"{where}: model_rng is not a valid {kind} state "
                              f"({type(exc).__name__}: {_one_line(exc)}); {_REPLACE}") from exc


# --------------------------------------------------------------- the archive reader

@dataclass
class _Entry:
    info: zipfile.ZipInfo
    shape: tuple
    fortran_order: bool
    dtype: np.dtype
    offset: int                     # where the array's bytes start within the entry
    nbytes: int


class _Archive:
    """The entries of a checkpoint's zip file, headers checked before any payload is read."""

    def __init__(self, path: Path, max_bytes: int):
        self.path = path
        self.where = f"checkpoint {str(path)!r}"
        self.max_bytes = max_bytes
        self.size = path.stat().st_size
        self.zip = zipfile.ZipFile(path)

    def __enter__(self):
        try:
            self.entries = self._read_directory()
        except BaseException:
            self.zip.close()
            raise
        return self

    def __exit__(self, *exc):
        self.zip.close()

    def fail(self, problem: str, fix: str = _REPLACE) -> CheckpointError:
        return CheckpointError(f"{self.where} {problem}; {fix}")

    def _read_directory(self) -> dict[str, _Entry]:
        infos = self.zip.infolist()
        names = [i.filename for i in infos]
        if "meta.npy" not in names:
            raise CheckpointError(f"{self.where} is an .npz file but not a scratchvae checkpoint "
                                  f"(no 'meta' entry); give the checkpoint.npz a run wrote")
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise self.fail(f"holds the entries {dup[:3]} twice (a tampered archive)")
        for name in names:
            if _ENTRY.match(name) is None:
                raise self.fail(f"holds an entry {name[:80]!r} that is not part of the checkpoint "
                                f"format (meta, model/<name>, optim/<name>/<slot>)")
        entries, total = {}, 0
        for info in infos:
            entry = self._read_header(info)
            total += entry.nbytes
            if total > self.max_bytes:
                raise CheckpointError(
                    f"{self.where} holds more than {self.max_bytes} bytes of arrays (the cap); "
                    f"if it is a genuine, larger checkpoint, load it with "
                    f"load_checkpoint(path, max_bytes=...)")
            entries[info.filename[:-len(".npy")]] = entry
        return entries

    def _read_header(self, info: zipfile.ZipInfo) -> _Entry:
        name = info.filename
        if info.flag_bits & 0x1:
            raise self.fail(f"has an encrypted entry {name!r}")
        if info.compress_type != zipfile.ZIP_STORED:
            raise self.fail(f"has entry {name!r} compressed with method {info.compress_type}; "
                            f"checkpoints are stored uncompressed (np.savez)")
        if info.compress_size != info.file_size or \
                info.header_offset + info.compress_size > self.size:
            raise self.fail(f"has entry {name!r} claiming {info.file_size} bytes, more than "
                            f"the file holds (truncated or tampered)")
        with self.zip.open(info) as f:
            version = npy_format.read_magic(f)
            if version == (1, 0):
                shape, fortran_order, dtype = npy_format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran_order, dtype = npy_format.read_array_header_2_0(f)
            else:
                raise self.fail(f"has entry {name!r} in .npy format version {version}, "
                                f"not 1.0 or 2.0")
            offset = f.tell()
        if not isinstance(shape, tuple) or not all(_is_int(s, 0) for s in shape) or len(shape) > 32:
            raise self.fail(f"has entry {name!r} with an invalid shape {_short(shape)}")
        is_meta = name == "meta.npy"
        if is_meta:
            ok = dtype.kind == "U" and shape == () and dtype.itemsize <= MAX_META_BYTES
        else:
            ok = (dtype.kind == "f" and dtype.names is None and dtype.subdtype is None
                  and dtype.newbyteorder("=").name in _FLOAT_DTYPES)
        if not ok:
            want = "a text string" if is_meta else "an array of float32 or float64"
            raise self.fail(f"has entry {name!r} of dtype {dtype.str} and shape {shape}, "
                            f"not {want}")
        nbytes = math.prod(shape) * dtype.itemsize           # Python ints: no overflow
        if offset + nbytes != info.file_size:
            raise self.fail(f"has entry {name!r} whose header declares {shape} of {dtype.name} "
                            f"({nbytes} bytes) but which holds {info.file_size - offset} bytes")
        return _Entry(info, shape, fortran_order, dtype, offset, nbytes)

    def model_values(self) -> int:
        """How many values the checkpoint stores for the model (from the headers)."""
        return sum(math.prod(e.shape) for n, e in self.entries.items() if n.startswith("model/"))

    def read(self, name: str) -> np.ndarray:
        """The array of entry ``name``: exactly the bytes its header declares, CRC-checked."""
        e = self.entries[name]
        buf = np.empty(e.nbytes, dtype=np.uint8)
        view = memoryview(buf)
        with self.zip.open(e.info) as f:
            f.read(e.offset)                                   # the header, already checked
            pos = 0
            while pos < e.nbytes:
                got = f.readinto(view[pos:pos + _CHUNK])
                if not got:
                    raise self.fail(f"has entry {name!r} cut short ({pos} of {e.nbytes} bytes)")
                pos += got
            if f.read(1):                                      # end of entry: CRC verified
                raise self.fail(f"has entry {name!r} longer than its header declares")
        values = buf.view(e.dtype)
        if not e.dtype.isnative:
            values = values.byteswap(inplace=True).view(e.dtype.newbyteorder("="))
        if e.fortran_order:
            return values.reshape(e.shape[::-1]).T
        return values.reshape(e.shape)

    def read_meta(self):
        text = str(self.read("meta")[()])
        return json.loads(text)

    def read_state(self, meta: dict) -> tuple[dict, dict, dict]:
        dtype = np.dtype(meta.get("dtype", "float32"))
        model_state, slots = {}, {}
        for name, e in self.entries.items():
            m = _ENTRY.match(name + ".npy")
            if m["meta"]:
                continue
            if e.dtype.newbyteorder("=") != dtype:
                raise self.fail(f"has entry {name!r} of dtype {e.dtype.name}, but the checkpoint "
                                f"declares {dtype.name} weights")
            if m["param"]:
                model_state[m["param"]] = name
            else:
                slots.setdefault(m["oparam"], {})[m["slot"]] = name
        if slots and "optimizer" not in meta:
            raise self.fail("holds optimizer slots but no optimizer record in its metadata")
        slot_sets = {tuple(sorted(s)) for s in slots.values()}
        if len(slot_sets) > 1:
            raise self.fail(f"has parameters with different optimizer slots {sorted(slot_sets)}")
        for param, names in slots.items():
            if param not in model_state:
                raise self.fail(f"has optimizer slots for {param!r}, which the model state lacks")
            for slot_name in names.values():
                if self.entries[slot_name].shape != self.entries[model_state[param]].shape:
                    raise self.fail(f"has optimizer slot {slot_name!r} of shape "
                                    f"{self.entries[slot_name].shape}, but parameter {param!r} "
                                    f"has shape {self.entries[model_state[param]].shape}")
        model_state = {k: self._read_finite(n) for k, n in model_state.items()}
        optim = {p: {s: self._read_finite(n) for s, n in names.items()} for p, names in slots.items()}
        opt_state = {}
        if "optimizer" in meta:
            opt_state = {"t": meta["optimizer"]["t"], "base_lr": meta["optimizer"]["base_lr"],
                         "state": optim}
            if "groups" in meta["optimizer"]:
                opt_state["groups"] = meta["optimizer"]["groups"]
        return meta, model_state, opt_state

    def _read_finite(self, name: str) -> np.ndarray:
        values = self.read(name)
        bad = ~np.isfinite(values)
        if bad.any():
            raise self.fail(f"has {int(bad.sum())} NaN/Inf value(s) of {values.size} in {name!r} "
                            f"(a run that diverged, or damage)",
                            "use an earlier checkpoint, or train again (a lower --lr or "
                            "--clip-norm helps a diverging run)")
        return values


# -------------------------------------------------------------------------- helpers

def _is_int(v, minimum=None) -> bool:
    return type(v) is int and (minimum is None or v >= minimum)


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"cannot store {type(o).__name__} in checkpoint metadata")
