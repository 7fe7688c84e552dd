"""Every registered gradient check passes at rtol = 1e-6, and every layer is registered.

The registry (``scratchvae.gradcheck.CHECKS``) is the single list of checked ops;
this file runs each entry for three seeds, and fails when a layer exported by
``scratchvae.nn`` has no entry (so a new layer cannot ship unchecked).
"""
import inspect

import pytest

from scratchvae import nn
from scratchvae.gradcheck import CHECKS

RTOL = 1e-6
SEEDS = (0, 1, 2)
BASES = {"Module", "Sequential"}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(CHECKS), ids=list(CHECKS))
def test_registered_check_passes(name, seed):
    report = CHECKS[name](seed=seed)
    assert report.results, f"{name}: the check compared nothing"
    assert report.rtol <= RTOL and report.eps == pytest.approx(1e-6)
    assert report.passed, str(report)
    assert report.max_rel_error <= RTOL, str(report)


@pytest.mark.parametrize("name", list(CHECKS), ids=list(CHECKS))
def test_registered_check_takes_the_cli_options(name):
    """``python -m scratchvae gradcheck`` passes eps and mode to every entry; an entry that
    uses one of those names for something else (say ε of the reparameterization) breaks it."""
    report = CHECKS[name](seed=0, eps=1e-6, mode="directional")
    assert report.mode == "directional" and report.passed, str(report)


def exported_layer_classes():
    """Names of the Module subclasses that scratchvae.nn exports, bases excluded."""
    out = []
    for name in nn.__all__:
        obj = getattr(nn, name)
        if inspect.isclass(obj) and issubclass(obj, nn.Module) and name not in BASES:
            out.append(name)
    return out


def unregistered(class_names, registry_names):
    """Class names with no registry entry named ``Class`` or ``Class(...)``."""
    def covered(cls):
        return any(r == cls or r.startswith(cls + "(") for r in registry_names)
    return [c for c in class_names if not covered(c)]


def test_every_exported_layer_has_a_registered_check():
    classes = exported_layer_classes()
    assert len(classes) >= 8            # Linear and the activations, at least
    missing = unregistered(classes, list(CHECKS))
    assert not missing, f"layers without a gradient check in gradcheck/suite.py: {missing}"


def test_coverage_check_can_fail():
    names = list(CHECKS)
    assert unregistered(["Linear", "ReLU"], names) == []
    assert unregistered(["Conv3d"], names) == ["Conv3d"]
    # "ReLU" must not count as covering "LeakyReLU" and vice versa
    assert unregistered(["LeakyReLU"], ["ReLU"]) == ["LeakyReLU"]
    assert unregistered(["ReLU"], ["LeakyReLU"]) == ["ReLU"]
    assert unregistered(["Linear"], ["Linear(bias=False)"]) == []


def test_a_registered_check_fails_on_a_planted_bug(monkeypatch):
    # tanh backward with (1 + y^2) instead of (1 - y^2): the Tanh entry must catch it
    monkeypatch.setattr(nn.Tanh, "_bwd", staticmethod(lambda dy, y: dy * (1 + y * y)))
    report = CHECKS["Tanh"](seed=0)
    assert not report.passed
    assert report.max_rel_error > RTOL


def test_model_check_fails_on_a_planted_bug(monkeypatch):
    # a wrong reparameterization backward inside the model (dlogvar twice too big)
    # must make the whole-model entry fail
    import scratchvae.models.vae as vae_module
    from scratchvae.distributions import reparameterize_backward

    def bad_backward(dz, cache):
        dmu, dlogvar = reparameterize_backward(dz, cache)
        return dmu, 2 * dlogvar

    monkeypatch.setattr(vae_module, "reparameterize_backward", bad_backward)
    report = CHECKS["VAE(bernoulli)"](seed=0)
    assert not report.passed, str(report)

