"""Numerically stable building blocks shared by activations, losses and estimators.

Each function takes and returns arrays of one array module (NumPy or CuPy); the
module is found from the argument, so the same code runs on both devices.

The stable forms, and why:

    softplus(x)   = log(1 + e^x) = max(x, 0) + log1p(e^{-|x|})    e^x never overflows
    sigmoid(x)    = 1 / (1 + e^{-x})      for x >= 0
                  = e^x / (1 + e^x)       for x <  0                e^{-x} never overflows
    log_sigmoid(x)= -softplus(-x)
    logsumexp(a)  = m + log(sum(exp(a - m))),  m = max(a)           the largest term is e^0
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module


def softplus(x):
    """log(1 + exp(x)) without overflow, elementwise."""
    xp = get_array_module(x)
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def sigmoid(x):
    """1 / (1 + exp(-x)) without overflow, elementwise."""
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))                 # in (0, 1], never overflows
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def log_sigmoid(x):
    """log(sigmoid(x)) = -softplus(-x), elementwise."""
    return -softplus(-x)


def logsumexp(a, axis=None, keepdims=False):
    """log(sum(exp(a), axis)) with the max shift, so that no exp overflows.

    Rows that are all -inf give -inf (not NaN).
    """
    xp = get_array_module(a)
    m = xp.max(a, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)     # an all -inf row: shift by 0, result -inf
    with np.errstate(divide="ignore"):     # log(0) = -inf is the intended answer there
        out = xp.log(xp.sum(xp.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else xp.squeeze(out, axis=axis) if axis is not None else out.reshape(())
