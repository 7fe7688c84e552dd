"""matmul_add (C += A @ B in place) and the layers that accumulate dW through it."""
import numpy as np
import pytest

from scratchvae import backend
from scratchvae.functional.gemm import matmul, matmul_add
from scratchvae.functional.linear import linear_backward, linear_forward
from scratchvae.nn import GatedLinear, Linear


def _operands(rng, M=37, K=300, N=45):
    return (rng.standard_normal((K, M)).astype(np.float32).T,     # an xᵀ view, as in dW
            rng.standard_normal((K, N)).astype(np.float32),
            rng.standard_normal((M, N)).astype(np.float32))


def test_kernel_and_reference_add_the_same_product(cpu_path):
    A, B, C0 = _operands(np.random.default_rng(0))
    C = C0.copy()
    assert matmul_add(C, A, B) is C
    R = C0.astype(np.float64) + A.astype(np.float64) @ B.astype(np.float64)
    np.testing.assert_allclose(C, R, rtol=1e-5, atol=1e-4)


def test_a_target_the_kernel_cannot_write_takes_the_reference():
    A, B, C0 = _operands(np.random.default_rng(1))
    F = np.asfortranarray(C0)                         # not C order: no kernel for it
    assert backend.kernel("matmul_add", F, A, B) is None
    assert backend.kernel("matmul_add", C0.copy(), A, B) is not None
    matmul_add(F, A, B)
    np.testing.assert_array_equal(F, C0 + np.matmul(A, B))


def test_linear_backward_into_a_zero_buffer_gives_the_plain_bits(cpu_path):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((50, 300)).astype(np.float32)
    W = rng.standard_normal((300, 45)).astype(np.float32)
    dy = rng.standard_normal((50, 45)).astype(np.float32)
    _, cache = linear_forward(x, W)
    _, dW, _ = linear_backward(dy, cache)
    buf = np.zeros_like(W)
    _, got, _ = linear_backward(dy, cache, dW_into=buf)
    assert got is buf
    np.testing.assert_array_equal(buf, dW)            # 0 + S₁ = S₁, then the same sums
    np.testing.assert_array_equal(dW, matmul(x.T, dy))


@pytest.mark.parametrize("layer", [Linear, GatedLinear])
def test_two_backwards_accumulate_both_gradients(layer, cpu_path):
    rng = np.random.default_rng(3)
    lin = layer(300, 40, rng=0)
    x1, x2 = (rng.standard_normal((32, 300)).astype(np.float32) for _ in range(2))
    dy1, dy2 = (rng.standard_normal((32, 40)).astype(np.float32) for _ in range(2))
    grads = []
    for xs, dys in (([x1], [dy1]), ([x2], [dy2]), ([x1, x2], [dy1, dy2])):
        lin.zero_grad()
        for x, dy in zip(xs, dys):
            lin.forward(x)
            lin.backward(dy)
        grads.append({k: g.astype(np.float64) for k, g in lin.grads.items()})
    for k in grads[2]:                                # dW(x1) + dW(x2), to round-off
        np.testing.assert_allclose(grads[2][k], grads[0][k] + grads[1][k],
                                   rtol=1e-5, atol=1e-4)
