"""Untrusted files: every IDX file and checkpoint either loads correctly or raises the
library's error (DataError / CheckpointError) — never another exception, never a wrong
result, and never at the cost of memory the file does not justify.

Three parts:

* **IDX fuzz** (hypothesis): random headers (type codes, dims from 0 to 2³²−1, magic),
  payloads of the right, short or long length, byte flips, cuts, appended bytes, each raw
  or gzip-wrapped (one or several members, then maybe damaged). Every outcome is judged
  against an independent oracle that reads the same bytes with ``gzip.decompress`` and
  the format description: a result must equal the oracle's, a refusal must be DataError.
* **Checkpoint fuzz** (hypothesis): valid checkpoints written by the Trainer and by
  ``save_checkpoint`` (a VAE with Adam, a VAE-GAN with three parameter groups, a float64
  autoencoder without optimizer), then byte flips, cuts, removed / renamed / added /
  duplicated / recompressed zip entries, edited metadata JSON (any key, any JSON value,
  not JSON at all), and replaced arrays (wrong dtype, shape, NaN/Inf, pickled objects,
  byte order, Fortran order). Each is read by ``load_checkpoint``, ``load_model`` and a
  Trainer's ``load`` (the resume path); what loads must be exactly what the file holds.
* **Memory**: a 1 MB gzip bomb (inflating to 1 GiB) and crafted checkpoints whose entries
  claim 2⁴⁰ values must fail with the library's error while tracemalloc (which sees
  NumPy's allocations) measures under 100 MB above the baseline.

Outcomes are counted by category (tried / ok / accepted edit / clean error / silent wrong
/ crash) and printed at the end of the module; silent and crashing outcomes fail the test
at once. ``SCRATCHVAE_FUZZ_EXAMPLES`` scales the number of examples (default 1.0).
"""
from __future__ import annotations

import functools
import gzip
import io
import json
import math
import os
import struct
import tracemalloc
import warnings
import zipfile
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.lib import format as npy_format

from scratchvae.data import datasets, load_dataset
from scratchvae.data.idx import IDX_DTYPES, MAX_GZIP_BYTES, parse_idx, read_idx
from scratchvae.errors import CheckpointError, DataError
from scratchvae.models import VAE, VAEGAN, Autoencoder
from scratchvae.train import TrainConfig, Trainer, load_checkpoint, load_model, save_checkpoint

SCALE = float(os.environ.get("SCRATCHVAE_FUZZ_EXAMPLES", "1"))
MB = 1 << 20
OUTCOMES: dict[str, Counter] = {}
MEMORY: dict[str, int] = {}
UNNAMED: Counter = Counter()      # resume-path CheckpointErrors that do not name the file
STRICTER: Counter = Counter()     # IDX inputs the oracle read but the library refused


def fuzz_settings(n):
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None, derandomize=True,
                    database=None, suppress_health_check=[HealthCheck.too_slow,
                                                          HealthCheck.data_too_large])


def _count(kind, outcome, detail=""):
    OUTCOMES.setdefault(kind, Counter())[outcome] += 1
    OUTCOMES[kind]["tried"] += 1
    assert outcome not in ("silent wrong", "crash"), f"{kind}: {outcome}: {detail}"


@pytest.fixture(scope="module", autouse=True)
def outcome_table(request):
    yield
    columns = ("tried", "ok", "accepted edit", "clean error", "silent wrong", "crash")
    lines = ["", "untrusted files, outcomes by category:",
             f"  {'case':34s}" + "".join(f"{c:>14s}" for c in columns)]
    total = Counter()
    for kind, counts in sorted(OUTCOMES.items()):
        total.update(counts)
        lines.append(f"  {kind:34s}" + "".join(f"{counts[c]:14d}" for c in columns))
    lines.append(f"  {'all':34s}" + "".join(f"{total[c]:14d}" for c in columns))
    for kind, n in STRICTER.items():
        lines.append(f"  {kind}: {n} clean error(s) where the oracle (gzip.decompress) read the file")
    for what, n in UNNAMED.items():
        if n:
            lines.append(f"  Trainer.load refused {n} file(s) without naming them: {what}…")
    for name, peak in MEMORY.items():
        lines.append(f"  memory: {name}: peak {peak / MB:.2f} MB above the baseline")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            for line in lines:
                reporter.write_line(line)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("untrusted")


# ======================================================================= IDX files

def oracle(data: bytes):
    """Read IDX bytes the obvious way (unbounded: only for small fuzz inputs); None if invalid."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except Exception:                                 # noqa: BLE001 - any failure: invalid
            return None
    if len(data) < 4 or data[0] or data[1] or data[2] not in IDX_DTYPES or data[3] == 0:
        return None
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        return None
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = IDX_DTYPES[data[2]]
    if len(data) - header != math.prod(shape) * dtype.itemsize:
        return None
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _same_array(a, b) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@st.composite
def idx_files(draw):
    valid = draw(st.booleans())             # half of the files start out valid
    code = draw(st.sampled_from(sorted(IDX_DTYPES)) if valid else st.integers(0, 255))
    shape = draw(st.lists(st.integers(0, 6) if valid else
                          st.one_of(st.integers(0, 6), st.integers(0, 2 ** 32 - 1)),
                          min_size=1 if valid else 0, max_size=4))
    magic = b"\0\0" if valid else draw(st.sampled_from([b"\0\0", b"\x01\0", b"\0\x08"]))
    ndim = len(shape) if valid else draw(st.one_of(st.just(len(shape)), st.integers(0, 255)))
    data = magic + bytes([code, ndim]) + b"".join(s.to_bytes(4, "big") for s in shape)
    need = math.prod(shape) * IDX_DTYPES.get(code, np.dtype("u1")).itemsize
    length = need if valid else draw(st.one_of(st.just(need), st.integers(max(0, need - 9), need + 9))
                                     if need <= 2048 else st.integers(0, 64))
    data += draw(st.binary(min_size=length, max_size=length))

    def damage(blob):
        if valid and draw(st.booleans()):
            return blob
        for op, where, value in draw(st.lists(st.tuples(
                st.sampled_from(["flip", "cut", "append"]), st.integers(0, 1 << 16),
                st.integers(1, 255)), max_size=2)):
            if not blob:
                break
            i = where % len(blob)
            if op == "flip":
                blob = blob[:i] + bytes([blob[i] ^ value]) + blob[i + 1:]
            elif op == "cut":
                blob = blob[:i]
            else:
                blob = blob + bytes([value]) * (where % 7 + 1)
        return blob

    data = damage(data)
    wrap = draw(st.sampled_from(["raw", "gzip", "gzip members", "gzip padded"]))
    if wrap == "gzip":
        data = gzip.compress(data, compresslevel=draw(st.integers(0, 9)), mtime=0)
    elif wrap == "gzip members":
        cut = draw(st.integers(0, len(data)))
        data = gzip.compress(data[:cut], mtime=0) + gzip.compress(data[cut:], mtime=0)
    elif wrap == "gzip padded":
        data = gzip.compress(data, mtime=0) + bytes(draw(st.integers(1, 5)))
    if wrap != "raw" and draw(st.booleans()):
        data = damage(data)
    return wrap, data


@fuzz_settings(900)
@given(case=idx_files())
def test_idx_fuzz_loads_correctly_or_raises_data_error(workdir, case):
    wrap, data = case
    kind = f"idx fuzz ({'raw' if wrap == 'raw' else 'gzip'})"
    expected = oracle(data)
    path = workdir / "fuzz-idx"
    path.write_bytes(data)
    results = []
    for reader in (lambda: parse_idx(data, source="fuzz"), lambda: read_idx(path)):
        try:
            results.append(reader())
        except DataError as exc:
            message = str(exc)
            assert message.startswith(("fuzz: ", f"{path}: ")) and "\n" not in message
            results.append(None)
        except Exception as exc:                          # noqa: BLE001 - counted as a crash
            _count(kind, "crash", f"{type(exc).__name__}: {exc} on {data[:40]!r}")
    a, b = results
    if (a is None) != (b is None) or (a is not None and not _same_array(a, b)):
        _count(kind, "silent wrong", f"parse_idx and read_idx disagree on {data[:40]!r}")
    if a is None:
        # refusing what the oracle reads is allowed (zlib checks a gzip header CRC and
        # reserved flags that gzip.decompress skips); accepting what it refuses is not
        STRICTER[kind] += expected is not None
        _count(kind, "clean error")
    elif expected is None or not _same_array(a, expected):
        _count(kind, "silent wrong", f"read {a.shape} {a.dtype} from {data[:40]!r}; oracle "
                                     f"{None if expected is None else expected.shape}")
    else:
        _count(kind, "ok")


@pytest.mark.parametrize("code, dims, payload, raw_error, gzip_error", [
    (0x08, (2 ** 32 - 1,) * 3, b"", "truncated IDX payload", "over the limit"),
    (0x0E, (2 ** 32 - 1,) * 8, b"\0" * 16, "truncated IDX payload", "over the limit"),
    (0x08, (2 ** 16, 2 ** 16), b"\0" * 4, "truncated IDX payload", "over the limit"),
    (0x08, (3,), b"\1\2\3" + b"\0" * 10, "10 trailing bytes", "10 trailing bytes"),
    (0x08, (0, 2 ** 32 - 1), b"\0", "1 trailing bytes", "1 trailing bytes"),
])
def test_huge_and_odd_headers_are_data_errors_without_overflow(code, dims, payload, raw_error,
                                                               gzip_error):
    data = bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims) + payload
    with pytest.raises(DataError, match=raw_error):
        parse_idx(data, source="crafted")
    with pytest.raises(DataError, match=gzip_error):
        parse_idx(gzip.compress(data), source="crafted")


def test_max_bytes_and_expected_shape_refuse_at_the_header(tmp_path):
    a = np.zeros((5, 4), np.uint8)
    data = gzip.compress(bytes([0, 0, 8, 2]) + struct.pack(">2I", 5, 4) + a.tobytes())
    assert parse_idx(data, max_bytes=32).shape == (5, 4)
    with pytest.raises(DataError, match=r"over the limit of 31 bytes.*max_bytes="):
        parse_idx(data, max_bytes=31)
    with pytest.raises(DataError, match=r"declares shape \(5, 4\).*must hold shape \(5, 5\)"):
        parse_idx(data, shape=(5, 5))
    with pytest.raises(DataError, match="declares uint8 values.*must hold float32"):
        parse_idx(data, dtype=np.float32)


def test_registered_sets_know_their_shapes():
    for spec in datasets._REGISTRY.values():
        for split, (images, labels) in spec.files.items():
            n = 60_000 if split == "train" else 10_000
            assert images.shape == (n, 28, 28) and labels.shape == (n,)
            assert images.idx_bytes() == 16 + n * 784 <= MAX_GZIP_BYTES


# ====================================================================== checkpoints

def _data(n=32, d=12):
    return np.random.default_rng(0).uniform(0.05, 0.95, (n, d)).astype(np.float32)


def _trained(model):
    trainer = Trainer(model, _data(), None, TrainConfig(epochs=1, batch_size=16, progress=False))
    trainer.fit()
    return trainer


@functools.lru_cache(maxsize=None)
def bases() -> dict:
    """name -> (file bytes, meta, model state, optimizer state, a trainer to resume into)."""
    import tempfile  # noqa: PLC0415

    out = {}
    with tempfile.TemporaryDirectory() as d:
        makers = {
            "vae+adam": lambda: _trained(VAE(12, (8,), 2, seed=0)),
            "vae-gan+groups": lambda: _trained(VAEGAN(12, (8,), 2, dis_hidden=(8, 4), seed=0)),
            "ae float64": lambda: Autoencoder(12, (8,), 2, seed=0, dtype=np.float64),
        }
        for name, make in makers.items():
            thing = make()
            path = Path(d) / "c.npz"
            if isinstance(thing, Trainer):
                thing.save(path)
                model = thing.model
                resume = Trainer(type(model)(**{k: v for k, v in model.config.items()
                                                if k != "model"}), _data(), None,
                                 TrainConfig(epochs=1, batch_size=16, progress=False))
            else:
                save_checkpoint(path, thing)
                resume = None
            meta, state, opt = load_checkpoint(path)
            out[name] = (path.read_bytes(), meta, state, opt, resume)
    return out


def _members(blob: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


def _zip(members, method=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                   # "Duplicate name" is the point
        with zipfile.ZipFile(buf, "w", method) as z:
            for name, data in members:
                z.writestr(name, data)
    return buf.getvalue()


def _npy(array, **kw) -> bytes:
    buf = io.BytesIO()
    npy_format.write_array(buf, array, allow_pickle=True, **kw)
    return buf.getvalue()


def _jsonable_equal(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _numbers(v):
    """A config value with ints and floats compared by value (1 == 1.0), lists as tuples."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, (list, tuple)):
        return tuple(_numbers(x) for x in v)
    return json.dumps(v, sort_keys=True)


def _same_state(a: dict, b: dict) -> bool:
    return set(a) == set(b) and all(np.asarray(a[k]).dtype == np.asarray(b[k]).dtype
                                    and np.array_equal(a[k], b[k]) for k in a)


def _same_opt(a: dict, b: dict) -> bool:
    if set(a) != set(b):
        return False
    if not a:
        return True
    return (_jsonable_equal({k: v for k, v in a.items() if k != "state"},
                            {k: v for k, v in b.items() if k != "state"})
            and set(a["state"]) == set(b["state"])
            and all(_same_state(a["state"][p], b["state"][p]) for p in a["state"]))


def judge(kind, workdir, blob, base, expect=None):
    """Load ``blob`` every way a user can; count the outcome.

    ``expect`` = (meta, state, opt) the file holds when an edit made it a different but
    valid checkpoint; by default, the base checkpoint's. What loads must equal it.
    """
    _, meta0, state0, opt0, resume = bases()[base]
    meta_e, state_e, opt_e = expect or (meta0, state0, opt0)
    path = workdir / "fuzz.npz"
    path.write_bytes(blob)
    step = "load_checkpoint"
    try:
        meta, state, opt = load_checkpoint(path)
        step = "load_model"
        model, meta2 = load_model(path)
        if resume is not None:
            step = "Trainer.load"
            resume.load(path)
    except CheckpointError as exc:
        message = str(exc)
        assert "\n" not in message, message
        if step == "Trainer.load":
            # the resume path's own checks (model and optimizer load_state_dict) raise
            # CheckpointError, but do not all name the file: counted, not failed here
            UNNAMED[message.split(":")[0][:60]] += str(path) not in message
        else:
            assert str(path) in message, message
        _count(kind, "clean error")
        return "clean error"
    except Exception as exc:                              # noqa: BLE001 - counted as a crash
        _count(kind, "crash", f"{type(exc).__name__}: {exc}")
    wrong = []
    if not _jsonable_equal(meta, meta_e) or not _jsonable_equal(meta2, meta_e):
        wrong.append("metadata")
    if not _same_state(state, state_e) or not _same_state(model.state_dict(), state_e):
        wrong.append("weights")
    if not _same_opt(opt, opt_e):
        wrong.append("optimizer state")
    config = meta_e["model_config"]
    if any(_numbers(model.config.get(k)) != _numbers(v) for k, v in config.items()):
        wrong.append("model config")
    if wrong:
        _count(kind, "silent wrong", f"loaded with other {', '.join(wrong)}")
    outcome = "ok" if expect is None else "accepted edit"
    _count(kind, outcome)
    return outcome


BASES = st.sampled_from(["vae+adam", "vae-gan+groups", "ae float64"])


@fuzz_settings(400)
@given(base=BASES, flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(1, 255)),
                                  min_size=1, max_size=3))
def test_checkpoint_byte_flips(workdir, base, flips):
    blob = bytearray(bases()[base][0])
    for where, mask in flips:
        blob[where % len(blob)] ^= mask
    judge("checkpoint: byte flips", workdir, bytes(blob), base)


@fuzz_settings(80)
@given(base=BASES, keep=st.floats(0, 1, exclude_max=True))
def test_checkpoint_truncations(workdir, base, keep):
    blob = bases()[base][0]
    judge("checkpoint: truncated", workdir, blob[:int(len(blob) * keep)], base)


@st.composite
def zip_edits(draw):
    base = draw(BASES)
    members = _members(bases()[base][0])
    names = [n for n, _ in members]
    op = draw(st.sampled_from(["remove", "rename", "add", "duplicate", "reorder", "deflate"]))
    i = draw(st.integers(0, len(members) - 1))
    name, data = members[i]
    if op == "remove":
        members.pop(i)
    elif op == "rename":
        new = draw(st.one_of(st.sampled_from([
            "model/extra.npy", "optim/encoder.0.W/q.npy", "meta.npy", "evil.npy", "../x.npy",
            "model/a/b/c.npy", name[:-4], name + ".bak", name.upper()]),
            st.text(min_size=1, max_size=12).map(lambda s: f"model/{s}.npy")))
        members[i] = (new, data)
    elif op == "add":
        array = draw(st.sampled_from([np.zeros(3, np.float32), np.zeros((2, 2)),
                                      np.array([{"x": 1}], dtype=object), np.array("text")]))
        new = draw(st.sampled_from(["model/extra.npy", "optim/extra/m.npy", "notes.txt",
                                    "meta.npy", f"optim/{names[0][6:-4]}/q.npy"]))
        members.append((new, _npy(array)))
    elif op == "duplicate":
        members.append((name, data))
    elif op == "reorder":
        members = draw(st.permutations(members))
    return base, op, members, op == "deflate"


@fuzz_settings(200)
@given(edit=zip_edits())
def test_checkpoint_zip_entries_removed_renamed_added(workdir, edit):
    base, op, members, deflate = edit
    blob = _zip(members, zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED)
    outcome = judge(f"checkpoint: zip entries ({op})", workdir, blob, base)
    if op in ("reorder",):
        assert outcome == "ok"                          # the order of entries does not matter


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.text(max_size=8),
              st.floats(allow_nan=True, allow_infinity=True),
              st.sampled_from([-1, 0, 1, 2 ** 31, 10 ** 12, 0.5, "vae", "", "float16", "int32"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict) and len(prefix) < 3:
        for k, v in obj.items():
            if k != "history":
                yield from _paths(v, prefix + (k,))


@st.composite
def meta_edits(draw):
    base = draw(BASES)
    meta = json.loads(json.dumps(bases()[base][1]))
    path = draw(st.sampled_from([p for p in _paths(meta) if p]))
    op = draw(st.sampled_from(["delete", "set", "set", "add key", "text"]))
    if op == "text":
        text = draw(st.one_of(st.text(max_size=30), JSON.map(json.dumps),
                              st.just("[" * 100000 + "]" * 100000)))
        return base, "not the metadata", text, None
    parent = meta
    for k in path[:-1]:
        parent = parent[k]
    if op == "delete":
        del parent[path[-1]]
    elif op == "set":
        parent[path[-1]] = draw(JSON)
    else:
        target = parent if not isinstance(parent.get(path[-1]), dict) else parent[path[-1]]
        target[draw(st.sampled_from(["extra", "dtype", "model", "t", "seed"]))] = draw(JSON)
    return base, "/".join(map(str, path)), json.dumps(meta), meta


@fuzz_settings(300)
@given(edit=meta_edits())
def test_checkpoint_metadata_edits(workdir, edit):
    base, where, text, meta = edit
    blob, _, state, opt, _ = bases()[base]
    members = [(n, _npy(np.array(text)) if n == "meta.npy" else d) for n, d in _members(blob)]
    expect = None
    if meta is not None:                # what the edited file holds, as load_checkpoint returns it
        record = meta.get("optimizer")
        expect_opt = opt
        if opt and isinstance(record, dict):
            expect_opt = {"t": record.get("t"), "base_lr": record.get("base_lr"),
                          "state": opt["state"]}
            if "groups" in record:
                expect_opt["groups"] = record["groups"]
        expect = (meta, state, expect_opt)
    key = where.split("/")[0]
    judge(f"checkpoint: meta edit ({key if key in ('model_config', 'optimizer', 'model_rng') else 'other'})",
          workdir, _zip(members), base, expect)


@st.composite
def array_edits(draw):
    base = draw(BASES)
    blob, meta, state, opt, _ = bases()[base]
    members = _members(blob)
    arrays = [i for i, (n, _) in enumerate(members) if n != "meta.npy"]
    i = draw(st.sampled_from(arrays))
    name, data = members[i]
    a = npy_format.read_array(io.BytesIO(data))
    op = draw(st.sampled_from(["dtype", "shape", "nonfinite", "pickle", "big-endian",
                               "fortran", "new values"]))
    valid = False
    if op == "dtype":
        other = "float32" if a.dtype == np.float64 else "float64"
        new = a.astype(draw(st.sampled_from([bool, np.int8, np.int32, np.int64, np.uint8,
                                             np.complex64, np.float16, other])))
    elif op == "shape":
        shapes = [a[None], a[..., None], np.zeros((0,), a.dtype), a.reshape(-1)[:1].reshape(())]
        if a.ndim == 2:
            shapes += [a.reshape(-1)] + ([a.T] if a.shape[0] != a.shape[1] else [])
        new = draw(st.sampled_from(shapes))
    elif op == "nonfinite":
        new = a.copy()
        new.reshape(-1)[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    elif op == "pickle":
        new = np.array([a.tolist()], dtype=object)
    elif op == "big-endian":
        new, valid = a.astype(a.dtype.newbyteorder(">")), True
    elif op == "fortran":
        new, valid = np.asfortranarray(a), True
    else:
        new = np.random.default_rng(draw(st.integers(0, 99))).standard_normal(a.shape).astype(a.dtype)
        new, valid = new, True
    members[i] = (name, _npy(new))
    expect = None
    if valid and op == "new values":
        state = dict(state)
        opt = {**opt, "state": {p: dict(s) for p, s in opt.get("state", {}).items()}} if opt else opt
        key = name[:-4]
        if key.startswith("model/"):
            state[key[6:]] = new
        else:
            param, slot = key[6:].rsplit("/", 1)
            opt["state"][param][slot] = new
        expect = (meta, state, opt)
    return base, op, _zip(members), expect


@fuzz_settings(250)
@given(edit=array_edits())
def test_checkpoint_arrays_replaced(workdir, edit):
    base, op, blob, expect = edit
    outcome = judge(f"checkpoint: arrays ({op})", workdir, blob, base, expect)
    if op in ("big-endian", "fortran", "new values"):
        assert outcome in ("ok", "accepted edit")          # valid files must load
    else:
        assert outcome == "clean error"


def test_the_base_checkpoints_load(workdir):
    for name in bases():
        assert judge("checkpoint: unmodified", workdir, bases()[name][0], name) == "ok"


def test_specific_damage_is_refused_with_a_message_that_names_it(workdir):
    blob, meta, *_ = bases()["vae+adam"]
    members = dict(_members(blob))

    def with_meta(**changes):
        m = {**meta, **changes}
        return _zip([(n, _npy(np.array(json.dumps(m))) if n == "meta.npy" else d)
                     for n, d in members.items()])

    cases = {
        "unknown model": (with_meta(model_config={**meta["model_config"], "model": "gpt"}),
                          "unknown model 'gpt'"),
        "unexpected key": (with_meta(model_config={**meta["model_config"], "depth": 3}),
                           "does not take"),
        "bad value": (with_meta(model_config={**meta["model_config"], "latent_dim": "two"}),
                      "is not an integer"),
        "huge size": (with_meta(model_config={**meta["model_config"], "hidden": [10 ** 9]}),
                      "larger than"),
        "bad likelihood": (with_meta(model_config={**meta["model_config"], "likelihood": "x"}),
                           "does not build a model"),
        "nan weights": (_zip([(n, _npy(np.full_like(npy_format.read_array(io.BytesIO(d)), np.nan))
                               if n == "model/encoder.0.W.npy" else d) for n, d in members.items()]),
                        "NaN/Inf value.*encoder.0.W"),
        "int weights": (_zip([(n, _npy(np.zeros((12, 8), np.int32)) if n == "model/encoder.0.W.npy"
                               else d) for n, d in members.items()]), "not an array of float"),
        "float16": (_zip([(n, _npy(np.zeros((12, 8), np.float16)) if n == "model/encoder.0.W.npy"
                           else d) for n, d in members.items()]), "float32 or float64"),
        "extra entry": (_zip(list(members.items()) + [("run.py", b"print(1)")]),
                        "not part of the checkpoint format"),
    }
    path = workdir / "specific.npz"
    for label, (data, pattern) in cases.items():
        path.write_bytes(data)
        with pytest.raises(CheckpointError, match=pattern) as info:
            load_model(path)
        assert str(path) in str(info.value), label


def test_checkpoint_contents_tell_an_exact_resume():
    from scratchvae.train.checkpoint import checkpoint_contents  # noqa: PLC0415

    _, meta, *_ = bases()["vae+adam"]
    contents = checkpoint_contents(meta)
    assert contents.optimizer and contents.model_rng and contents.epoch == 1
    assert contents.missing_for_resume(VAE(12, (8,), 2)) == []
    _, meta, *_ = bases()["ae float64"]
    missing = checkpoint_contents(meta).missing_for_resume(VAE(12, (8,), 2))
    assert "the optimizer state" in missing and "the state of the model's noise generator" in missing


# =========================================================================== memory

def _peak_bytes(fn) -> int:
    """Peak traced allocation of ``fn()`` above the allocation before it (fn must raise)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - before


def gzip_bomb(head: bytes, mib: int) -> bytes:
    """A valid gzip file of ``head`` + ``mib`` MiB of zeros, about 1 KB per MiB, built
    without compressing gigabytes: after a full flush every MiB of zeros compresses to
    the same bytes, so one block is repeated."""
    zeros = bytes(MB)
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = packer.compress(head + zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    end = packer.flush()[:-8]                           # the final block, without the trailer
    crc = zlib.crc32(head)
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    trailer = struct.pack("<II", crc, (len(head) + mib * MB) & 0xFFFFFFFF)
    return first + block * (mib - 1) + end + trailer


def test_the_bomb_is_a_valid_gzip_file():
    small = gzip_bomb(b"\0\0\x08\x01\0\0\0\x05", 3)
    assert gzip.decompress(small) == b"\0\0\x08\x01\0\0\0\x05" + bytes(3 * MB)


@pytest.fixture(scope="module")
def bombs(workdir):
    """1 MB gzip files inflating to 1 GiB, behind IDX headers that claim: the 47 MB of
    MNIST's training images, 2^64 bytes, and 70 MB (just over the default limit)."""
    out = {}
    for label, dims in {"mnist-sized header": (60_000, 28, 28),
                        "2^64-byte header": (2 ** 32 - 1, 2 ** 32 - 1),
                        "70 MB header": (70_000_000,)}.items():
        head = bytes([0, 0, 8, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
        path = workdir / f"bomb-{len(out)}.gz"
        path.write_bytes(gzip_bomb(head, 1024))
        out[label] = path
    return out


def test_a_gzip_bomb_fails_fast_within_100_mb(bombs):
    for label, path in bombs.items():
        assert path.stat().st_size < 1.1 * MB
        for how, fn in (("read_idx", lambda: read_idx(path)),
                        ("parse_idx", lambda: parse_idx(path.read_bytes(), source=str(path)))):
            def run():
                with pytest.raises(DataError) as info:
                    fn()
                assert str(path) in str(info.value)
                assert ("bomb" in str(info.value) or "over the limit" in str(info.value))

            peak = _peak_bytes(run)
            MEMORY[f"1 MB gzip bomb, {label}, {how}"] = peak
            _count("memory: gzip bomb", "clean error")
            assert peak < 100 * MB, f"{label}: {peak / MB:.0f} MB"


def test_a_gzip_bomb_in_a_data_directory_fails_within_100_mb(bombs, tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "_urlopen", lambda *a, **k: pytest.fail("network"))
    root = tmp_path / "mnist"
    root.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (root / name).write_bytes(bombs["2^64-byte header"].read_bytes())

    def run():
        with pytest.raises(DataError, match="checksum mismatch") as info:
            load_dataset("mnist", "train", root=root, download=False)
        assert "over the limit" in str(info.value)

    peak = _peak_bytes(run)
    MEMORY["1 MB gzip bomb as MNIST's train images, load_dataset"] = peak
    _count("memory: gzip bomb", "clean error")
    assert peak < 100 * MB


def _craft_checkpoint(blob: bytes, name: str, shape, zip_claim: int | None = None) -> bytes:
    """Replace entry ``name`` by a bare .npy header claiming ``shape`` of float32; with
    ``zip_claim``, also patch the zip directory to claim that many bytes for it."""
    members = _members(blob)
    header = io.BytesIO()
    npy_format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                               "shape": shape})
    members = [(n, header.getvalue() + b"\0" * 64 if n == name else d) for n, d in members]
    data = bytearray(_zip(members))
    if zip_claim is not None:
        start = struct.unpack("<I", data[-6:-2])[0]        # the central directory's offset
        while data[start:start + 4] == b"PK\x01\x02":
            n_len, x_len, c_len = struct.unpack("<HHH", data[start + 28:start + 34])
            if data[start + 46:start + 46 + n_len].decode() == name:
                data[start + 20:start + 28] = struct.pack("<II", zip_claim, zip_claim)
            start += 46 + n_len + x_len + c_len
    return bytes(data)


def test_a_checkpoint_claiming_2_to_the_40_values_fails_within_100_mb(workdir):
    blob = bases()["vae+adam"][0]
    cases = {
        "npy header claims 2^40 values": _craft_checkpoint(blob, "model/encoder.0.W.npy",
                                                           (2 ** 20, 2 ** 20)),
        "npy header and zip directory claim 4 GiB": _craft_checkpoint(
            blob, "model/encoder.0.W.npy", (2 ** 30 - 64,), zip_claim=4 * (2 ** 30 - 64) + 128),
        "optimizer slot claims 2^40 values": _craft_checkpoint(blob, "optim/encoder.0.W/m.npy",
                                                               (2 ** 40,)),
    }
    path = workdir / "crafted.npz"
    for label, data in cases.items():
        path.write_bytes(data)

        def run():
            with pytest.raises(CheckpointError) as info:
                load_model(path)
            assert str(path) in str(info.value)

        peak = _peak_bytes(run)
        MEMORY[f"crafted checkpoint, {label}"] = peak
        _count("memory: crafted checkpoint", "clean error")
        assert peak < 100 * MB, f"{label}: {peak / MB:.0f} MB"


def test_the_checkpoint_cap_can_be_raised(workdir):
    blob = bases()["vae+adam"][0]
    path = workdir / "cap.npz"
    path.write_bytes(blob)
    with pytest.raises(CheckpointError, match=r"max_bytes=\.\.\."):
        load_checkpoint(path, max_bytes=100)
    assert load_checkpoint(path, max_bytes=1 << 20)[1]
