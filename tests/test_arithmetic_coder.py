"""The arithmetic coder (scratchvae/compression/arithmetic.py): exact round trips, the
Shannon bound, edge symbols and empty input, and clear errors."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchvae.compression import FrequencyTable, decode, encode
from scratchvae.errors import ConfigError, DataError


@st.composite
def messages(draw):
    """A frequency table (1–30 symbols, skewed or flat) and a message drawn from it."""
    freqs = draw(st.lists(st.integers(1, 5000), min_size=1, max_size=30))
    symbols = draw(st.lists(st.integers(0, len(freqs) - 1), max_size=200))
    return FrequencyTable(freqs), symbols


@settings(max_examples=150, deadline=None, derandomize=True)
@given(messages())
def test_every_message_round_trips_within_two_bits_of_its_information(case):
    table, symbols = case
    data, n_bits = encode(symbols, table)
    assert decode(data, table, len(symbols)) == symbols
    ideal = sum(table.bits(s) for s in symbols)                 # Σ −log₂ p(s)
    assert n_bits <= ideal + 2 + 1e-9 * len(symbols), (n_bits, ideal)
    assert len(data) == -(-n_bits // 8)                         # whole bytes, zero-padded


def test_empty_and_single_symbol_messages():
    table = FrequencyTable([5, 1, 2])
    assert encode([], table) == (b"", 0) and decode(b"", table, 0) == []
    for s in range(3):
        data, n_bits = encode([s], table)
        assert decode(data, table, 1) == [s] and 1 <= n_bits <= 2 + math.ceil(table.bits(s))


def test_edge_symbols_of_extremely_skewed_tables():
    """A symbol of probability 2⁻³⁰ (the finest the 32-bit coder allows), first and last."""
    for freqs in ([1, (1 << 30) - 1], [(1 << 30) - 1, 1], [1, (1 << 30) - 2, 1]):
        table = FrequencyTable(freqs)
        rare = [i for i, f in enumerate(freqs) if f == 1]
        message = [rare[0]] * 5 + [int(np.argmax(freqs))] * 50 + rare
        data, n_bits = encode(message, table)
        assert decode(data, table, len(message)) == message
        assert n_bits <= sum(table.bits(s) for s in message) + 2


def test_one_table_per_symbol():
    rng = np.random.default_rng(3)
    tables = [FrequencyTable.from_probabilities(rng.dirichlet(np.ones(k)))
              for k in rng.integers(1, 20, size=100)]
    message = [int(rng.integers(0, len(t))) for t in tables]
    data, _ = encode(message, tables)
    assert decode(data, tables, len(message)) == message


def test_tables_from_probabilities_keep_every_symbol_and_the_total():
    p = np.array([0.0, 1e-12, 0.5, 0.5 - 1e-12])
    table = FrequencyTable.from_probabilities(p, total=1000)
    assert table.total == 1000 and min(table.frequencies) == 1 and len(table) == 4
    flat = FrequencyTable.from_probabilities(np.ones(7), total=7)
    assert flat.frequencies == [1] * 7


def test_a_long_message_of_a_known_distribution_costs_its_entropy():
    rng = np.random.default_rng(0)
    p = np.array([0.7, 0.2, 0.05, 0.05])
    table = FrequencyTable.from_probabilities(p)
    message = rng.choice(4, size=20_000, p=p).tolist()
    _, n_bits = encode(message, table)
    entropy = -(p * np.log2(p)).sum() * len(message)
    assert abs(n_bits - entropy) < 0.01 * entropy                # within 1 %


def test_errors_name_the_problem():
    table = FrequencyTable([1, 2])
    with pytest.raises(DataError, match="symbol 2 at position 1"):
        encode([0, 2], table)
    with pytest.raises(ConfigError, match="one frequency table per symbol"):
        encode([0, 1], [table])
    with pytest.raises(ConfigError, match="≥ 1"):
        FrequencyTable([3, 0])
    with pytest.raises(ConfigError, match="2\\^30"):
        FrequencyTable([1 << 30, 1])
    with pytest.raises(ConfigError, match="at least one symbol"):
        FrequencyTable([])
    with pytest.raises(ConfigError, match="probabilities"):
        FrequencyTable.from_probabilities([np.nan, 1.0])
    with pytest.raises(ConfigError, match="≥ 0"):
        decode(b"", table, -1)


# ------------------------------------------------------------------ the VAE codec
def _vae():
    from scratchvae.models import VAE
    return VAE(20, (16,), 4, seed=1)


def test_prior_bins_are_a_distribution_of_the_right_shape():
    from scratchvae.compression import prior_bins
    p = prior_bins(0.5, 12)
    assert p.shape == (25,) and abs(p.sum() - 1) < 1e-12 and (p > 0).all()
    assert p[12] == max(p) and np.allclose(p, p[::-1])           # centred, symmetric


def test_the_codec_round_trips_every_image_exactly():
    from scratchvae.compression import LatentCodec
    model = _vae()
    x = np.random.default_rng(0).uniform(0, 1, (32, 20)).astype(np.float32)
    codec = LatentCodec(model, step=0.25)
    q = codec.quantize(x)
    codes = codec.encode(x)
    assert len(codes) == 32 and all(n >= 1 for _, n in codes)
    np.testing.assert_array_equal(codec.decode_indices(codes), q)    # the same integers
    np.testing.assert_array_equal(codec.decode(codes),
                                  model.decode((q * 0.25).astype(np.float32)))
    ideal = codec.ideal_bits(q)
    assert all(n <= b + 2 for (_, n), b in zip(codes, ideal))


def test_a_coarser_grid_costs_fewer_bits():
    from scratchvae.compression import LatentCodec
    model = _vae()
    x = np.random.default_rng(1).uniform(0, 1, (16, 20)).astype(np.float32)
    rates = [sum(n for _, n in LatentCodec(model, step).encode(x)) for step in (0.05, 0.2, 1.0)]
    assert rates[0] > rates[1] > rates[2], rates


def test_codec_errors_name_the_problem():
    from scratchvae.compression import LatentCodec
    with pytest.raises(ConfigError, match="step"):
        LatentCodec(_vae(), step=0)
    with pytest.raises(ConfigError, match="bound"):
        LatentCodec(_vae(), step=0.1, bound=float("nan"))
