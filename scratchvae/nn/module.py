"""The layer contract every scratchvae layer and model follows.

A ``Module`` owns three dictionaries of arrays and one cache:

    params   name -> array      learnable values, updated in place by optimizers
    grads    name -> array      same keys and shapes; ``backward`` ADDS into them
                                 (so gradients accumulate until ``zero_grad()``)
    buffers  name -> array      saved state that is not learned (e.g. running means)
    _cache                     what the last ``forward`` kept for ``backward``

``forward(x)`` returns the output and stores the cache; ``backward(dy)`` consumes
it, adds parameter gradients into ``grads`` and returns dL/dx. A module holds
one cache, so each ``backward`` must follow its own ``forward``.

Sub-modules assigned as attributes (``self.fc = Linear(...)``) are registered
automatically, as in PyTorch, and their parameters appear under dotted names
(``"fc.W"``) in ``named_parameters()`` and ``state_dict()``.

Arrays are never replaced behind an optimizer's back: ``zero_grad`` fills,
``load_state_dict`` copies into the existing arrays. ``astype``/``to`` do
replace them, so build the optimizer after casting or moving a model. A mistake here
cannot go unnoticed: the NumPy arrays ``astype``/``to`` replace are made read-only
(a write into one raises), and each ``(name, param, grad)`` triple of
``parameters()`` remembers the dict that holds its array (``Param.home``), so an
optimizer's ``step()`` sees that the model's array is no longer its own (NumPy or CuPy)
and says so.

Bad input is reported where it enters: ``forward`` refuses an input that is not a
floating array (one O(1) test), and ``backward(dy)`` refuses a ``dy`` whose shape is not
that of the output its forward produced, naming the layer and both shapes.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..backend import check_device, to_device, to_numpy
from ..errors import CheckpointError, ConfigError
from ..functional.checks import FLOAT_DTYPES, check_dtype, check_floating, check_grad

_F32, _F64 = FLOAT_DTYPES


class Param(tuple):
    """One ``(name, param, grad)`` triple of ``parameters()``: a plain tuple to unpack,
    which also remembers where its array lives, ``home = (params dict, key)``. An
    optimizer compares ``home[0][home[1]] is param`` before each step: False means
    ``astype()``/``to()`` replaced the model's arrays after the optimizer was built."""

    def __new__(cls, triple, params: dict, key: str):
        self = super().__new__(cls, triple)
        self.home = (params, key)
        return self

    def __reduce__(self):                     # copies and pickles are plain tuples
        return tuple, (tuple(self),)


def _retire(old, new) -> None:
    """Make a NumPy array that ``astype``/``to`` replaced read-only, so that whoever still
    holds it (an optimizer built too early) cannot write into it unnoticed."""
    if old is new or not isinstance(old, np.ndarray):
        return
    if isinstance(new, np.ndarray) and np.may_share_memory(old, new):
        return                                # the same memory lives on in the model
    old.flags.writeable = False


class Module:
    """Base class: parameters, gradients, buffers, sub-modules and modes."""

    def __init__(self):
        object.__setattr__(self, "_modules", {})
        self.params: dict = {}
        self.grads: dict = {}
        self.buffers: dict = {}
        self.training = True
        self._cache = None
        self._out_shape = None                # the shape of the last forward's output

    # ---------------------------------------------------------------- structure
    def __setattr__(self, name, value):
        if isinstance(value, Module):
            self._modules[name] = value
        elif name in self.__dict__.get("_modules", {}):
            del self._modules[name]
        object.__setattr__(self, name, value)

    def children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every descendant, depth first, with dotted names."""
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.modules(f"{prefix}.{name}" if prefix else name)

    def add_param(self, name: str, value) -> None:
        """Register a learnable array and a zero gradient of the same shape."""
        self.params[name] = value
        self.grads[name] = value * 0

    # ------------------------------------------------------------- the contract
    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, dy):
        raise NotImplementedError(f"{type(self).__name__}.backward")

    #: True for layers whose ``backward(dy, input_grad=False)`` skips dL/dx (Sequential
    #: uses it for the first layer when the input is data)
    skips_input_grad = False

    def __call__(self, x):
        return self.forward(x)

    def _label(self) -> str:
        """The layer as messages name it, e.g. ``Linear(784, 400, bias=True)``."""
        return f"{type(self).__name__}({self.extra_repr()})"

    def _check_float_input(self, x):
        """Refuse (DTypeError) an input that is not a floating array; O(1)."""
        return check_floating(x, self._label(), "x", "the layer's input",
                              "wrap it with np.asarray(x, dtype=np.float32)")

    def _keep(self, y, cache):
        """Store the cache and the output's shape (for ``backward``'s check); return y."""
        self._cache = cache
        self._out_shape = y.shape
        return y

    def _pop_cache(self, dy=None):
        """Return and clear the cache; a clear error if backward has no forward, and —
        given ``dy`` — if dy is not a floating array shaped like the forward's output."""
        cache = self._cache
        if cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called without a forward "
                               "(or twice for one forward); call forward(x) first")
        if dy is not None and self._out_shape is not None:
            dtype = getattr(dy, "dtype", None)
            if not ((dtype is _F32 or dtype is _F64) and dy.shape == self._out_shape):
                check_grad(dy, self._out_shape, f"{self._label()}.backward")   # names the layer
        self._cache = None
        return cache

    # ----------------------------------------------------------------- parameters
    def named_parameters(self) -> Iterator[tuple[str, object, object]]:
        """Yield ``(dotted_name, param, grad)`` for every learnable array (a :class:`Param`)."""
        for prefix, mod in self.modules():
            for key, value in mod.params.items():
                yield Param(((f"{prefix}.{key}" if prefix else key), value, mod.grads[key]),
                            mod.params, key)

    def parameters(self) -> list[tuple[str, object, object]]:
        """List of ``(name, param, grad)`` triples (:class:`Param`), the optimizer's input."""
        return list(self.named_parameters())

    def num_parameters(self) -> int:
        return sum(int(p.size) for _, p, _ in self.named_parameters())

    def zero_grad(self) -> None:
        for _, mod in self.modules():
            for g in mod.grads.values():
                g.fill(0)

    # ---------------------------------------------------------------------- modes
    def train(self, mode: bool = True):
        for _, mod in self.modules():
            mod.training = mode
        return self

    def eval(self):
        return self.train(False)

    # ------------------------------------------------------------ dtype / device
    def _map_arrays(self, fn):
        """Replace every array by ``fn(array)``; the replaced NumPy arrays become read-only
        (module docstring: an optimizer built before this call fails loudly)."""
        for _, mod in self.modules():
            for d in (mod.params, mod.grads, mod.buffers):
                for k in d:
                    old = d[k]
                    d[k] = fn(old)
                    _retire(old, d[k])
            mod._cache = None
        return self

    def astype(self, dtype):
        """Cast every parameter, gradient and buffer to ``dtype`` (float32/float64)."""
        dt = check_dtype(dtype, "the dtype a model is cast to",
                         "e.g. model.astype(np.float64) for gradient checks")
        return self._map_arrays(lambda a: a.astype(dt))

    def to(self, device: str):
        """Move every array to ``"cpu"`` or ``"cuda"``."""
        device = check_device(device)
        return self._map_arrays(lambda a: to_device(a, device))

    @property
    def dtype(self):
        for _, p, _ in self.named_parameters():
            return p.dtype
        return np.dtype(np.float32)

    # --------------------------------------------------------------- state dicts
    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat ``{dotted_name: NumPy copy}`` of all parameters and buffers."""
        out = {}
        for prefix, mod in self.modules():
            for d in (mod.params, mod.buffers):
                for k, v in d.items():
                    out[f"{prefix}.{k}" if prefix else k] = to_numpy(v).copy()
        return out

    def load_state_dict(self, state: dict) -> None:
        """Copy values into the existing arrays; names and shapes must match exactly."""
        if not hasattr(state, "keys") or not hasattr(state, "__getitem__"):
            raise CheckpointError(f"a state dict maps names to arrays (model.state_dict()), got "
                                  f"{type(state).__name__}")
        targets = {}
        for prefix, mod in self.modules():
            for d in (mod.params, mod.buffers):
                for k, v in d.items():
                    targets[f"{prefix}.{k}" if prefix else k] = v
        missing = sorted(set(targets) - set(state))
        unexpected = sorted(set(state) - set(targets))
        if missing or unexpected:
            raise CheckpointError(f"state dict does not fit {type(self).__name__}: "
                                  f"missing {missing}, unexpected {unexpected}")
        values = {name: np.asarray(state[name]) for name in targets}
        for name, target in targets.items():       # validate everything before changing anything
            if values[name].shape != target.shape:
                raise CheckpointError(f"state dict entry {name!r} has shape {values[name].shape}, "
                                      f"the model expects {target.shape}")
        for name, target in targets.items():
            value = values[name]
            target[...] = value if isinstance(target, np.ndarray) else to_device(value, "cuda")

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in self._modules.items():
            lines.append(f"  ({name}): " + repr(child).replace("\n", "\n  "))
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"

    def extra_repr(self) -> str:
        return ""


class Sequential(Module):
    """Chain of modules: forward left to right, backward right to left."""

    def __init__(self, *layers: Module):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                hint = " (unpack a list: Sequential(*layers))" if isinstance(layer, (list, tuple)) \
                    else ""
                raise ConfigError(f"Sequential takes layers (Module instances); argument {i} is "
                                  f"a {type(layer).__name__}{hint}")
        self.layers = list(layers)
        for i, layer in enumerate(layers):
            setattr(self, str(i), layer)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        self._out_shape = x.shape                 # what backward's dy must match
        return x

    def backward(self, dy, input_grad: bool = True):
        """Run the layers' backward passes in reverse and return dL/dx.

        ``input_grad=False`` says the input is data (nothing upstream needs dL/dx): the
        backward stops at the first layer that holds parameters, which skips its own
        input gradient when it can (Linear and the convolutions accept the same flag:
        the 784-wide dx GEMM of a first layer is pure waste), and None is returned.
        """
        if self._out_shape is not None and getattr(dy, "shape", None) != self._out_shape:
            check_grad(dy, self._out_shape, f"Sequential({len(self.layers)} layers).backward")
        stop = 0 if input_grad else self._first_parametrised()
        for i in range(len(self.layers) - 1, stop - 1, -1):
            layer = self.layers[i]
            if not input_grad and i == stop and layer.skips_input_grad:
                return layer.backward(dy, input_grad=False)
            dy = layer.backward(dy)
        return dy if input_grad else None

    def _first_parametrised(self) -> int:
        """Index of the first layer with parameters (0 if none has any)."""
        for i, layer in enumerate(self.layers):
            if any(True for _ in layer.parameters()):
                return i
        return 0

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]
