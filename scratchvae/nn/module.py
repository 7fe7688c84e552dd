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
replace them, so build the optimizer after casting or moving a model.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..backend import check_device, to_device, to_numpy
from ..errors import CheckpointError


class Module:
    """Base class: parameters, gradients, buffers, sub-modules and modes."""

    def __init__(self):
        object.__setattr__(self, "_modules", {})
        self.params: dict = {}
        self.grads: dict = {}
        self.buffers: dict = {}
        self.training = True
        self._cache = None

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

    def _pop_cache(self):
        """Return and clear the cache; a clear error if backward has no forward."""
        cache = self._cache
        if cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called without a forward "
                               "(or twice for one forward); call forward(x) first")
        self._cache = None
        return cache

    # ----------------------------------------------------------------- parameters
    def named_parameters(self) -> Iterator[tuple[str, object, object]]:
        """Yield ``(dotted_name, param, grad)`` for every learnable array."""
        for prefix, mod in self.modules():
            for key, value in mod.params.items():
                yield (f"{prefix}.{key}" if prefix else key), value, mod.grads[key]

    def parameters(self) -> list[tuple[str, object, object]]:
        """List of ``(name, param, grad)`` triples, the optimizer's input."""
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
        for _, mod in self.modules():
            for d in (mod.params, mod.grads, mod.buffers):
                for k in d:
                    d[k] = fn(d[k])
            mod._cache = None
        return self

    def astype(self, dtype):
        """Cast every parameter, gradient and buffer to ``dtype`` (float32/float64)."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"a model can only be cast to a floating dtype, got {dtype}")
        return self._map_arrays(lambda a: a.astype(dtype))

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
        self.layers = list(layers)
        for i, layer in enumerate(layers):
            setattr(self, str(i), layer)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy, input_grad: bool = True):
        """Run the layers' backward passes in reverse and return dL/dx.

        ``input_grad=False`` says the input is data (nothing upstream needs dL/dx): the
        backward stops at the first layer that holds parameters, which skips its own
        input gradient when it can (Linear and the convolutions accept the same flag:
        the 784-wide dx GEMM of a first layer is pure waste), and None is returned.
        """
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
