"""Latent-space tools: the normal inverse CDF, paths, the quantile grid, traversals,
and the factor/latent correlation score (each shown able to fail on a wrong answer)."""
import math
from statistics import NormalDist

import numpy as np
import pytest

from scratchvae.analysis.latent import (
    correlation_gap, factor_correlations, interpolate, latent_grid, linear_path, manifold_grid,
    normal_cdf, normal_ppf, quantile_grid, traverse,
)
from scratchvae.errors import DataError, ShapeError
from scratchvae.models import VAE

# Φ⁻¹ at textbook probabilities (R's qnorm to 16 digits)
KNOWN = [(0.5, 0.0), (0.975, 1.959963984540054), (0.95, 1.644853626951472),
         (0.995, 2.575829303548901), (0.001, -3.090232306167813), (0.8413447460685429, 1.0)]


class Linear2:
    """A stand-in model: encode(x) = (x[:, :L], 0), decode(z) = z @ A (a known linear map)."""

    def __init__(self, latent_dim=2, out=3, seed=0):
        self.latent_dim = latent_dim
        self.A = np.random.default_rng(seed).normal(size=(latent_dim, out))

    def encode(self, x):
        return x[:, :self.latent_dim], np.zeros((len(x), self.latent_dim))

    def decode(self, z):
        return np.asarray(z) @ self.A


# ----------------------------------------------------------- normal quantiles
@pytest.mark.parametrize("p, x", KNOWN)
def test_normal_ppf_known_values(p, x):
    assert normal_ppf(p) == pytest.approx(x, rel=1e-13, abs=1e-15)


def test_normal_ppf_matches_an_independent_implementation():
    # the standard library's NormalDist uses Wichura's AS241, not Acklam + Halley
    p = np.concatenate([np.logspace(-15, -1, 57), np.linspace(0.001, 0.999, 999),
                        1 - np.logspace(-12, -2, 41)])
    ref = np.array([NormalDist().inv_cdf(v) for v in p])
    np.testing.assert_allclose(normal_ppf(p), ref, rtol=2e-15, atol=2e-16)


def test_normal_ppf_inverts_the_cdf_across_both_tails():
    # the error in x implied by the CDF residual, (Φ(x̂) − p) / φ(x̂), is at rounding level
    # (≈ 5 u) from p = 1e-300 (x ≈ −37) to the centre; Acklam alone would be off by ~1e-9
    p = np.concatenate([np.logspace(-300, -1, 200), np.linspace(0.01, 0.99, 301)])
    x = normal_ppf(p)
    pdf = np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    err_x = (normal_cdf(x) - p) / pdf
    assert (np.abs(err_x) <= 1e-15 * np.maximum(1.0, np.abs(x))).all(), np.abs(err_x).max()
    np.testing.assert_allclose(normal_ppf(1 - p[-301:]), -normal_ppf(p[-301:]), atol=1e-14)
    assert (np.diff(normal_ppf(np.linspace(0.001, 0.999, 999))) > 0).all()      # increasing


def test_normal_cdf_known_values():
    assert normal_cdf(0.0) == 0.5
    assert normal_cdf(1.959963984540054) == pytest.approx(0.975, rel=1e-15)
    assert normal_cdf(-10.0) == pytest.approx(7.619853024160527e-24, rel=1e-13)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_normal_ppf_rejects_probabilities_outside_the_open_interval(bad):
    with pytest.raises(ValueError, match=r"strictly inside \(0, 1\)"):
        normal_ppf(np.array([0.5, bad]))


# ---------------------------------------------------------------------- paths
def test_linear_path_is_a_straight_evenly_spaced_segment():
    z0, z1 = np.array([1.0, -2.0, 0.5]), np.array([3.0, 2.0, 0.5])
    path = linear_path(z0, z1, 5)
    assert path.shape == (5, 3)
    np.testing.assert_array_equal(path[0], z0)
    np.testing.assert_array_equal(path[-1], z1)
    np.testing.assert_allclose(np.diff(path, axis=0), np.tile((z1 - z0) / 4, (4, 1)))
    with pytest.raises(ShapeError, match="latent vectors"):
        linear_path(z0, z1[:2], 5)
    with pytest.raises(ValueError, match="at least 2"):
        linear_path(z0, z1, 1)


def test_interpolate_decodes_the_line_between_posterior_means():
    m = Linear2()
    x0, x1 = np.array([1.0, 2.0, 9.0]), np.array([-3.0, 0.0, 9.0])   # μ = first 2 entries
    out = interpolate(m, x0, x1, steps=3)
    np.testing.assert_allclose(out, np.array([[1, 2], [-1, 1], [-3, 0]]) @ m.A)


def test_interpolate_with_a_real_vae():
    m = VAE(6, (5,), 3, seed=0)
    x = np.random.default_rng(0).uniform(0, 1, (2, 6)).astype(np.float32)
    out = interpolate(m, x[0], x[1], steps=7)
    assert out.shape == (7, 6)
    np.testing.assert_allclose(out[0], m.reconstruct(x[:1])[0], rtol=1e-5)
    np.testing.assert_allclose(out[-1], m.reconstruct(x[1:])[0], rtol=1e-5)


# ---------------------------------------------------------------------- grids
def test_quantile_grid_gives_equal_prior_mass_between_points():
    axis = quantile_grid(3)
    np.testing.assert_allclose(axis, [-1.6448536269514722, 0.0, 1.6448536269514722], atol=1e-14)
    np.testing.assert_allclose(np.diff(normal_cdf(quantile_grid(9, 0.1, 0.9))), 0.1, rtol=1e-12)


def test_latent_grid_reads_like_a_plot():
    n = 4
    z = latent_grid(n)
    axis = quantile_grid(n)
    assert z.shape == (n * n, 2)
    img = z.reshape(n, n, 2)                   # (row, column, coordinate)
    np.testing.assert_array_equal(img[0, :, 0], axis)           # z₁ grows left → right
    np.testing.assert_array_equal(img[:, 0, 1], axis[::-1])     # z₂ grows bottom → top
    assert (img[:, :, 0] == img[0, :, 0]).all() and (img[:, :, 1].T == img[:, 0, 1]).all()


def test_latent_grid_in_two_of_many_dimensions_keeps_the_base():
    base = np.array([0.3, -1.0, 0.7, 2.0])
    z = latent_grid(3, latent_dim=4, dims=(2, 0), base=base)
    np.testing.assert_array_equal(z[:, 1], -1.0)
    np.testing.assert_array_equal(z[:, 3], 2.0)
    np.testing.assert_array_equal(z[:3, 2], quantile_grid(3))
    assert not np.array_equal(z[:, 0], np.full(9, 0.3))


def test_manifold_grid_decodes_every_grid_point():
    m = Linear2()
    np.testing.assert_allclose(manifold_grid(m, 5), latent_grid(5) @ m.A)


# ----------------------------------------------------------------- traversals
def test_traverse_moves_one_coordinate_per_row():
    m = Linear2(latent_dim=3, out=4)
    m.A = np.eye(3, 4)                                    # decode(z) shows z itself
    base, values = np.array([0.5, -0.5, 1.0]), np.array([-2.0, 0.0, 2.0])
    out = traverse(m, base, dims=[2, 0], values=values)
    assert out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out[0, :, 2], values)                 # dim 2 swept
    np.testing.assert_array_equal(out[0, :, :2], np.tile(base[:2], (3, 1)))
    np.testing.assert_array_equal(out[1, :, 0], values)                 # dim 0 swept
    np.testing.assert_array_equal(out[1, :, 1:3], np.tile(base[1:], (3, 1)))


# ---------------------------------------------------------- factor correlation
def test_factor_correlations_find_linear_relations_and_ignore_constants():
    rng = np.random.default_rng(0)
    f = rng.integers(0, 8, (2000, 2)).astype(float)            # two independent factors
    mu = np.stack([f[:, 0], -2 * f[:, 1] + 3, rng.normal(size=2000), np.full(2000, 4.0)], 1)
    r = factor_correlations(mu, f)
    assert r.shape == (4, 2)
    np.testing.assert_allclose([r[0, 0], r[1, 1]], 1.0, rtol=1e-12)
    assert r[0, 1] < 0.1 and r[1, 0] < 0.1 and (r[2] < 0.1).all()
    np.testing.assert_array_equal(r[3], 0.0)                    # a constant unit: no relation
    with pytest.raises(ShapeError, match="share N"):
        factor_correlations(mu[:10], f)
    with pytest.raises(DataError, match="at least 2"):
        factor_correlations(mu[:1], f[:1])


def test_correlation_gap_rewards_one_unit_per_factor():
    score, gaps, best = correlation_gap(np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
    assert score == 1.0 and list(best) == [0, 1]
    entangled = np.array([[0.7, 0.7], [0.7, 0.7]])              # both units follow both
    assert correlation_gap(entangled)[0] == 0.0
    score, gaps, best = correlation_gap(np.array([[0.9, 0.2], [0.3, 0.6], [0.1, 0.5]]))
    np.testing.assert_allclose(gaps, [0.6, 0.1])
    assert score == pytest.approx(0.35) and list(best) == [0, 1]
    with pytest.raises(ShapeError, match="L ≥ 2"):
        correlation_gap(np.ones((1, 3)))


def test_correlation_gap_on_factors_recovered_by_separate_units():
    rng = np.random.default_rng(1)
    f = rng.integers(0, 8, (3000, 2)).astype(float)
    clean = np.stack([f[:, 0], f[:, 1], rng.normal(size=3000)], 1)
    mixed = np.stack([f[:, 0] + f[:, 1], f[:, 0] - f[:, 1], rng.normal(size=3000)], 1)
    good = correlation_gap(factor_correlations(clean, f))[0]
    bad = correlation_gap(factor_correlations(mixed, f))[0]
    assert good > 0.9 and bad < 0.1, (good, bad)
    assert math.isfinite(good)
