"""Finite-difference gradient checking for any op, layer, loss or whole model.

The check, for a function y = f(a₁, …, a_k) with an analytic backward:

1. draw a **random** upstream gradient dy (never ones: a ones vector sums the
   columns of the Jacobian, and errors that cancel in that sum go unseen);
2. define the scalar L = Σ dy ⊙ f(a);
3. for each checked entry a[i], central differences in float64

       n_i = Σ dy ⊙ (f(a + ε e_i) − f(a − ε e_i)) / 2ε        ε ≈ 1e-6

   (the difference is taken elementwise *before* the dot product, so that the
   rounding error scales with each output entry rather than with L);
4. compare with the analytic g_i = backward(dy)[a][i] by the relative error

       rel_i = |g_i − n_i| / max(|g_i|, |n_i|, (r_i + atol) / rtol)

   where r_i is the **resolution of n_i itself**. Each output entry carries a
   rounding error of a few u·|y_k| (u = 2⁻⁵³), so the quotient is only known to

       r_i = 4 · u · Σ_{k: y⁺_k ≠ y⁻_k} |dy_k| (|y⁺_k| + |y⁻_k|) / 2ε

   summed over the outputs the perturbation actually moved. Entries well above
   r_i/rtol get the pure relative test at rtol; an entry at the noise level (a
   near-cancelling sum, or a gradient far below a scalar loss |L|) is held to the
   noise level rather than failing on rounding no backward can avoid. Example: in
   a VAE with L ≈ 18 an entry of 2.7e-5 is off by 1.5e-5 relative at ε = 1e-6, yet
   matches a 4th-order stencil at ε = 1e-2 to 8e-9. ``atol`` (default 0) adds an
   optional absolute tolerance; entries where both values are exactly 0 count as 0.

Inputs and parameters are checked alike: every array named in ``inputs`` is
perturbed in place (so parameters of a layer are passed as the layer's own
arrays). Three modes trade cost for coverage:

    "full"         every entry of every array
    "sampled"      ``n_samples`` random entries per array (plus its largest gradient)
    "directional"  one random unit direction v per array: Σ g ⊙ v against
                   Σ dy ⊙ (f(a + εv) − f(a − εv)) / 2ε — one comparison, all entries

The report names, for each array, the worst entry with both values and its
resolution; ``str(report)`` prints it and ``report.raise_if_failed()`` raises with it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

MODES = ("full", "sampled", "directional")
_U = np.finfo(np.float64).eps / 2          # unit round-off of float64, 2⁻⁵³
ROUNDING_FACTOR = 4                        # headroom for the few roundings inside each y_k


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree; the message holds the report."""


@dataclass
class ArrayResult:
    """Outcome for one checked array."""
    name: str
    shape: tuple
    n_checked: int
    max_rel_error: float
    worst_index: tuple | None      # None in directional mode
    analytic: float                # at the worst entry (or the directional derivative)
    numeric: float
    resolution: float              # r_i at that entry: the rounding bound of `numeric`
    passed: bool


@dataclass
class GradcheckReport:
    """Results for every checked array of one op."""
    op: str
    mode: str
    eps: float
    rtol: float
    atol: float
    results: list[ArrayResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def max_rel_error(self) -> float:
        return max((r.max_rel_error for r in self.results), default=0.0)

    def __str__(self) -> str:
        head = (f"gradcheck {self.op!r}: {'PASS' if self.passed else 'FAIL'} "
                f"(mode={self.mode}, eps={self.eps:g}, rtol={self.rtol:g}, atol={self.atol:g})")
        lines = [head]
        for r in self.results:
            where = "direction" if r.worst_index is None else f"index {r.worst_index}"
            lines.append(f"  {r.name:<14} shape={str(r.shape):<10} checked={r.n_checked:<5} "
                         f"max rel err={r.max_rel_error:.2e} at {where}: "
                         f"analytic={r.analytic:+.12e} numeric={r.numeric:+.12e} "
                         f"(resolution {r.resolution:.1e}){'' if r.passed else '   <-- FAIL'}")
        return "\n".join(lines)

    def raise_if_failed(self) -> GradcheckReport:
        if not self.passed:
            raise GradcheckError(str(self))
        return self


def check_function(forward: Callable[[], object], backward: Callable[[object], dict],
                   inputs: dict[str, np.ndarray], *, op: str = "function", eps: float = 1e-6,
                   rtol: float = 1e-6, atol: float = 0.0, mode: str = "full",
                   n_samples: int = 16, seed: int = 0) -> GradcheckReport:
    """Check ``backward`` against central differences of ``forward``.

    Args:
        forward: ``() -> y``; reads the arrays of ``inputs`` (which the checker
            perturbs in place) and returns an array, a float, or a tuple of them.
        backward: ``dy -> {name: dL/d(name)}`` for L = Σ dy ⊙ y, with dy shaped like y
            (a tuple when y is a tuple). Called once, after a clean forward.
        inputs: the float64 arrays to check, by name.
        eps: the central-difference step.
        rtol: the relative tolerance.
        atol: extra absolute tolerance on top of the resolution r_i (module docstring).
        mode: "full", "sampled" or "directional".
        n_samples: entries per array in "sampled" mode.
        seed: seeds the upstream gradient, the sampled entries and the directions.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    for name, a in inputs.items():
        if not isinstance(a, np.ndarray) or a.dtype != np.float64:
            raise TypeError(f"gradient checks run in float64 on NumPy arrays; {name!r} is "
                            f"{type(a).__name__} of dtype {getattr(a, 'dtype', None)} "
                            "(cast the model with .astype(np.float64))")
    rng = np.random.default_rng(seed)
    y = forward()
    dy = _random_like(y, rng)                       # random upstream gradient
    analytic = backward(dy)
    missing = set(inputs) - set(analytic)
    if missing:
        raise KeyError(f"backward returned no gradient for {sorted(missing)}")

    def numeric_along(a, step):
        """(Σ dy ⊙ (f(a + εd) − f(a − εd)) / 2ε, its resolution) for an entry index or a direction d."""
        if isinstance(step, tuple):                 # a single entry a[i]
            orig = a[step]
            a[step] = orig + eps
            y_plus = _copy(forward())
            a[step] = orig - eps
            y_minus = _copy(forward())
            a[step] = orig
        else:                                       # a direction d, shaped like a
            orig = a.copy()
            a += eps * step
            y_plus = _copy(forward())
            a[...] = orig - eps * step
            y_minus = _copy(forward())
            a[...] = orig
        value, scale = _dot_diff(dy, y_plus, y_minus)
        return value / (2 * eps), ROUNDING_FACTOR * _U * scale / (2 * eps)

    report = GradcheckReport(op=op, mode=mode, eps=eps, rtol=rtol, atol=atol)
    for name, a in inputs.items():
        g = np.asarray(analytic[name], dtype=np.float64)
        if g.shape != a.shape:
            raise ValueError(f"gradient for {name!r} has shape {g.shape}, input has {a.shape}")
        if mode == "directional":
            d = rng.standard_normal(a.shape)
            d /= np.linalg.norm(d) or 1.0
            n, res = numeric_along(a, d)
            an = float((g * d).sum())
            err = _rel(an, n, res + atol, rtol)
            report.results.append(ArrayResult(name, a.shape, a.size, err, None, an, n, res,
                                              err <= rtol))
            continue
        if mode == "full" or a.size <= n_samples:
            indices = list(np.ndindex(a.shape))
        else:
            flat = rng.choice(a.size, size=n_samples, replace=False)
            flat = np.union1d(flat, [int(np.argmax(np.abs(g)))])
            indices = [np.unravel_index(k, a.shape) for k in flat]
        worst = (-1.0, None, 0.0, 0.0, 0.0)
        for i in indices:
            i = tuple(int(k) for k in i)
            n, res = numeric_along(a, i)
            err = _rel(float(g[i]), n, res + atol, rtol)
            if err > worst[0]:
                worst = (err, i, float(g[i]), n, res)
        err, idx, an, n, res = worst
        report.results.append(ArrayResult(name, a.shape, len(indices), err, idx, an, n, res,
                                          err <= rtol))
    return report


def _rel(a: float, n: float, tol_abs: float, rtol: float) -> float:
    denom = max(abs(a), abs(n), tol_abs / rtol if rtol > 0 else 0.0)
    return 0.0 if denom == 0.0 else abs(a - n) / denom


def _random_like(y, rng):
    if isinstance(y, tuple):
        return tuple(_random_like(t, rng) for t in y)
    if np.ndim(y) == 0:
        return float(rng.standard_normal())
    return rng.standard_normal(np.shape(y))


def _copy(y):
    if isinstance(y, tuple):
        return tuple(_copy(t) for t in y)
    return np.array(y, dtype=np.float64, copy=True)


def _dot_diff(dy, y_plus, y_minus) -> tuple[float, float]:
    """Σ dy ⊙ (y⁺ − y⁻) and its rounding scale Σ_{moved k} |dy_k| (|y⁺_k| + |y⁻_k|)."""
    if isinstance(dy, tuple):
        parts = [_dot_diff(d, p, m) for d, p, m in zip(dy, y_plus, y_minus)]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)
    moved = y_plus != y_minus
    scale = np.abs(dy) * (np.abs(y_plus) + np.abs(y_minus))
    return float(np.sum(dy * (y_plus - y_minus))), float(np.sum(np.where(moved, scale, 0.0)))
