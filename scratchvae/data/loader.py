"""In-memory data sets, reproducible mini-batch order, and dynamic binarization.

Notation
--------
N   number of samples
D   number of features of one flattened sample (C*H*W for images)
B   batch size
x   (N, ...) float samples, e.g. (N, 1, 28, 28) images in [0, 1] or (N, 3) points
y   (N,) labels (int64) or None

Resuming a run must replay exactly the batches it would have seen, so the
order of epoch ``e`` is a pure function of ``(seed, e)`` and never of how many
epochs were iterated before (see :class:`BatchIterator`).
"""
from __future__ import annotations

import numpy as np

from scratchvae.errors import DataError, ShapeError, check_float_array


class ArrayDataset:
    """A set of N samples ``x`` with optional labels ``y`` and extra per-sample arrays.

    Parameters
    ----------
    x : (N, ...) float array, finite, N >= 1 (integer images must be scaled first).
    y : (N,) array or None.
    name : str, shown in messages and reprs (e.g. ``"fashion-mnist/train"``).
    **extra : more attributes. NumPy arrays count as *per-sample* and must have
        length N — they are indexed along with ``x`` (e.g. ``factors`` (N, 5) of the
        sprites); anything else (tuples, strings, numbers) is metadata copied as is
        (e.g. ``classes``, ``factor_names``). Each is readable as ``ds.<key>``.

    Raises
    ------
    DTypeError / NonFiniteError / DataError from :func:`check_float_array`;
    ShapeError if x has fewer than 2 dimensions or y / an extra array has a length
    other than N.
    """

    def __init__(self, x, y=None, name: str = "", **extra):
        check_float_array(x, f"{name or 'dataset'} x")
        if x.ndim < 2:
            raise ShapeError(f"{name or 'dataset'} x must be (N, features...), got shape "
                             f"{tuple(x.shape)}; use x[:, None] for one feature per sample")
        n = x.shape[0]
        if y is not None:
            y = np.asarray(y)
            if y.ndim == 0 or y.shape[0] != n:
                raise ShapeError(f"{name or 'dataset'} y has length {_length(y)} but x has "
                                 f"{n} samples; they must match")
        shadowed = sorted(k for k in extra if k in _RESERVED)
        if shadowed:
            raise DataError(f"extra attribute name(s) {shadowed} would hide ArrayDataset's own; "
                            f"rename them")
        for key, value in extra.items():
            if isinstance(value, np.ndarray) and (value.ndim == 0 or value.shape[0] != n):
                raise ShapeError(f"{name or 'dataset'} extra array {key!r} has length "
                                 f"{_length(value)} but x has {n} samples; per-sample arrays "
                                 f"must match (pass metadata as a tuple, not an array)")
        self._set(x, y, name, extra)

    @classmethod
    def _trusted(cls, x, y, name, extra):
        # Subsets of a validated data set skip re-validation: every batch would
        # otherwise pay an isfinite pass over its pixels.
        self = cls.__new__(cls)
        self._set(x, y, name, extra)
        return self

    def _set(self, x, y, name, extra):
        self.x = x                 # (N, ...)
        self.y = y                 # (N,) or None
        self.name = name
        self.extra = dict(extra)
        for key, value in extra.items():
            setattr(self, key, value)

    # -- access -----------------------------------------------------------

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, index) -> ArrayDataset:
        """Subset by index array, boolean mask, slice or int (an int keeps the N axis).

        Returns an ArrayDataset whose ``x``, ``y`` and per-sample extras are all
        indexed the same way; metadata extras are shared.
        """
        if isinstance(index, (int, np.integer)):
            index = np.array([index])
        x = self.x[index]
        if x.shape[0] == 0:
            raise DataError(f"index selects no samples of {self!r}")
        y = None if self.y is None else self.y[index]
        extra = {k: (v[index] if isinstance(v, np.ndarray) else v) for k, v in self.extra.items()}
        return ArrayDataset._trusted(x, y, self.name, extra)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Shape of one sample, ``x.shape[1:]`` (e.g. (1, 28, 28))."""
        return tuple(self.x.shape[1:])

    @property
    def n_features(self) -> int:
        """D, the number of values in one sample."""
        return int(np.prod(self.image_shape))

    def flat(self) -> ArrayDataset:
        """The same data set with x reshaped to (N, D) — a view, no copy, when x is contiguous."""
        return ArrayDataset._trusted(self.x.reshape(len(self), -1), self.y, self.name, self.extra)

    def split(self, fraction: float, seed: int = 0) -> tuple[ArrayDataset, ArrayDataset]:
        """Shuffle with ``seed`` and cut into (first, rest), ``first`` holding round(fraction*N).

        Raises DataError unless both parts are non-empty.
        """
        if not 0.0 < fraction < 1.0:
            raise DataError(f"split fraction must lie strictly between 0 and 1, got {fraction}")
        n = len(self)
        n_first = int(round(fraction * n))
        if n_first == 0 or n_first == n:
            raise DataError(f"split({fraction}) of {n} samples leaves one part empty "
                            f"({n_first} / {n - n_first}); use a larger data set or another fraction")
        order = np.random.default_rng(seed).permutation(n)
        return self[np.sort(order[:n_first])], self[np.sort(order[n_first:])]

    def __repr__(self) -> str:
        label = "no labels" if self.y is None else f"y {self.y.dtype}"
        extras = f", extra={sorted(self.extra)}" if self.extra else ""
        return (f"ArrayDataset({self.name!r}, N={len(self)}, sample shape {self.image_shape}, "
                f"x {self.x.dtype}, {label}{extras})")


# extras become attributes, so they must not hide the class's own names
_RESERVED = frozenset(dir(ArrayDataset)) | {"x", "y", "name", "extra"}


class BatchIterator:
    """Mini-batch *index arrays* over N samples, in an order reproducible per epoch.

    It yields index arrays, not data, so the same iterator drives any arrays that
    share the N axis (``ds[idx]``, ``x[idx]``, a binarized copy ``xb[idx]``).

    The permutation of epoch ``e`` is ``default_rng([seed, e]).permutation(N)``: a pure
    function of (seed, e), so a run resumed at epoch e sees exactly the batches it
    would have seen uninterrupted — use ``iterator.epoch(e)``. Plain ``for idx in
    iterator`` walks epoch ``next_epoch`` and then advances it.

    Parameters
    ----------
    n_or_dataset : int N, or anything with ``len()`` (an ArrayDataset).
    batch_size : B >= 1. The last batch of an epoch is smaller unless ``drop_last``.
    shuffle : if False every epoch is 0, 1, ..., N-1.
    seed : int >= 0.
    drop_last : drop the final short batch (needs B <= N).

    Raises DataError for N < 1, B < 1, or drop_last with B > N (no batch at all).
    """

    def __init__(self, n_or_dataset, batch_size: int, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False):
        n = n_or_dataset if isinstance(n_or_dataset, (int, np.integer)) else len(n_or_dataset)
        if n < 1:
            raise DataError(f"cannot iterate over an empty data set (N={n})")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise DataError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if drop_last and batch_size > n:
            raise DataError(f"batch_size {batch_size} > N={n} with drop_last=True yields no "
                            f"batch; lower batch_size or set drop_last=False")
        if seed < 0:
            raise DataError(f"seed must be >= 0, got {seed}")
        self.n = int(n)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_last = drop_last
        self.next_epoch = 0

    def __len__(self) -> int:
        """Number of batches per epoch."""
        full, rest = divmod(self.n, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def order(self, e: int) -> np.ndarray:
        """(N,) int64 sample order of epoch ``e`` (before cutting into batches)."""
        if e < 0:
            raise DataError(f"epoch must be >= 0, got {e}")
        if not self.shuffle:
            return np.arange(self.n)
        return np.random.default_rng([self.seed, int(e)]).permutation(self.n)

    def epoch(self, e: int):
        """Yield the (B,) int64 index arrays of epoch ``e``; does not touch ``next_epoch``."""
        order = self.order(e)
        for b in range(len(self)):
            yield order[b * self.batch_size:(b + 1) * self.batch_size]

    def __iter__(self):
        e, self.next_epoch = self.next_epoch, self.next_epoch + 1
        return self.epoch(e)


def binarize(x, rng) -> np.ndarray:
    """Dynamic binarization: one Bernoulli(x) sample per pixel, returned with x's dtype.

    Drawing a fresh sample every time an image is used (Salakhutdinov & Murray, 2008)
    treats grey levels as probabilities and acts as a regulariser.

    Parameters
    ----------
    x : float array of any shape with values in [0, 1].
    rng : np.random.Generator (or an int seed) — the only source of randomness.

    Raises DTypeError/NonFiniteError/DataError for non-float, NaN or empty x, and
    DataError for values outside [0, 1].
    """
    check_float_array(x, "x to binarize")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise DataError(f"binarize needs probabilities in [0, 1], got values in [{lo}, {hi}]")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    # float32 uniforms halve the cost; float16 is not supported by Generator.random
    u_dtype = np.float64 if x.dtype == np.float64 else np.float32
    return (rng.random(x.shape, dtype=u_dtype) < x).astype(x.dtype)


def binarize_fixed(x, seed: int = 0) -> np.ndarray:
    """A deterministic binarized copy of x (e.g. a fixed binarized test set): same x, same seed, same bits."""
    return binarize(x, np.random.default_rng(seed))


def _length(a) -> str:
    return "(scalar)" if np.ndim(a) == 0 else str(np.shape(a)[0])
