"""ArrayDataset validation and subsetting, BatchIterator reproducibility, binarization moments."""
import numpy as np
import pytest

from scratchvae.data.loader import ArrayDataset, BatchIterator, binarize, binarize_fixed
from scratchvae.errors import DataError, DTypeError, NonFiniteError, ShapeError


@pytest.fixture
def ds():
    rng = np.random.default_rng(0)
    x = rng.random((10, 1, 2, 3), dtype=np.float32)                # (N, C, H, W)
    return ArrayDataset(x, np.arange(10) % 3, name="toy",
                        factors=np.arange(20).reshape(10, 2), classes=("a", "b", "c"))


# -- ArrayDataset ------------------------------------------------------------

def test_dataset_basics(ds):
    assert len(ds) == 10
    assert ds.image_shape == (1, 2, 3)
    assert ds.n_features == 6
    assert ds.classes == ("a", "b", "c")
    assert "toy" in repr(ds) and "N=10" in repr(ds)


def test_getitem_indexes_x_y_and_per_sample_extras(ds):
    idx = np.array([7, 2, 2])
    sub = ds[idx]
    np.testing.assert_array_equal(sub.x, ds.x[idx])
    np.testing.assert_array_equal(sub.y, ds.y[idx])
    np.testing.assert_array_equal(sub.factors, ds.factors[idx])
    assert sub.classes == ds.classes
    assert len(ds[3]) == 1 and ds[3].x.shape == (1, 1, 2, 3)      # an int keeps the N axis
    assert len(ds[2:5]) == 3
    assert len(ds[ds.y == 0]) == 4


def test_empty_selection_raises(ds):
    with pytest.raises(DataError, match="no samples"):
        ds[np.array([], dtype=int)]


def test_flat_is_a_view(ds):
    flat = ds.flat()
    assert flat.x.shape == (10, 6)
    assert np.shares_memory(flat.x, ds.x)
    np.testing.assert_array_equal(flat.factors, ds.factors)


def test_split_partitions_the_samples(ds):
    a, b = ds.split(0.7, seed=3)
    assert (len(a), len(b)) == (7, 3)
    both = np.concatenate([a.factors[:, 0], b.factors[:, 0]])
    assert sorted(both) == sorted(ds.factors[:, 0])
    a2, _ = ds.split(0.7, seed=3)
    np.testing.assert_array_equal(a.x, a2.x)
    a3, _ = ds.split(0.7, seed=4)
    assert not np.array_equal(a.x, a3.x)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5, 0.01, 0.99])
def test_split_rejects_empty_parts(ds, fraction):
    with pytest.raises(DataError):
        ds.split(fraction)


def test_no_labels():
    d = ArrayDataset(np.zeros((4, 3), np.float64))
    assert d.y is None and d[np.array([1])].y is None


@pytest.mark.parametrize("x, error, pattern", [
    (np.zeros((4, 3), np.uint8), DTypeError, "floating dtype"),
    (np.array([[0.0, np.nan], [1.0, 2.0]]), NonFiniteError, "NaN"),
    (np.array([[0.0, np.inf]]), NonFiniteError, "Inf"),
    (np.zeros((0, 3), np.float32), DataError, "empty"),
    (np.zeros(5, np.float32), ShapeError, "features"),
    ([[0.0, 1.0]], DTypeError, "array"),
])
def test_bad_x(x, error, pattern):
    with pytest.raises(error, match=pattern):
        ArrayDataset(x)


def test_y_length_mismatch():
    with pytest.raises(ShapeError, match="length 3 .* 4 samples"):
        ArrayDataset(np.zeros((4, 2), np.float32), np.zeros(3))
    with pytest.raises(ShapeError):
        ArrayDataset(np.zeros((4, 2), np.float32), np.int64(2))


def test_per_sample_extra_length_mismatch():
    with pytest.raises(ShapeError, match="'factors'"):
        ArrayDataset(np.zeros((4, 2), np.float32), factors=np.zeros((3, 5)))


@pytest.mark.parametrize("key", ["split", "flat", "image_shape", "extra"])
def test_extras_may_not_shadow_attributes(key):
    with pytest.raises(DataError, match=key):
        ArrayDataset(np.zeros((2, 2), np.float32), **{key: (1, 2)})


# -- BatchIterator -------------------------------------------------------------

@pytest.mark.parametrize("n, b", [(10, 3), (10, 5), (1, 1), (7, 100), (64, 16)])
@pytest.mark.parametrize("shuffle", [True, False])
def test_each_index_exactly_once_per_epoch(n, b, shuffle):
    it = BatchIterator(n, b, shuffle=shuffle, seed=1)
    for e in range(3):
        batches = list(it.epoch(e))
        assert len(batches) == len(it) == -(-n // b)
        assert all(1 <= len(bt) <= b for bt in batches)
        np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(n))


def test_drop_last():
    it = BatchIterator(10, 3, seed=0, drop_last=True)
    batches = list(it.epoch(0))
    assert len(it) == len(batches) == 3
    assert all(len(bt) == 3 for bt in batches)
    assert len(np.unique(np.concatenate(batches))) == 9


def test_epoch_order_is_a_pure_function_of_seed_and_epoch():
    a = BatchIterator(100, 32, seed=5)
    b = BatchIterator(100, 32, seed=5)
    list(a.epoch(0)), list(a.epoch(1))                  # a has iterated, b has not
    for e in (7, 2):
        for x, y in zip(a.epoch(e), b.epoch(e), strict=True):
            np.testing.assert_array_equal(x, y)
    # the recipe is documented, so other code (and the resume logic) may rely on it
    np.testing.assert_array_equal(a.order(3), np.random.default_rng([5, 3]).permutation(100))


def test_epochs_and_seeds_differ():
    it = BatchIterator(100, 10, seed=0)
    assert not np.array_equal(it.order(0), it.order(1))
    assert not np.array_equal(it.order(0), BatchIterator(100, 10, seed=1).order(0))
    np.testing.assert_array_equal(BatchIterator(100, 10, shuffle=False).order(4), np.arange(100))


def test_plain_iteration_advances_the_epoch():
    it = BatchIterator(20, 8, seed=2)
    first, second = [np.concatenate(list(it)) for _ in range(2)]
    np.testing.assert_array_equal(first, it.order(0))
    np.testing.assert_array_equal(second, it.order(1))
    assert it.next_epoch == 2


def test_iterator_accepts_a_dataset(ds):
    it = BatchIterator(ds, 4)
    assert it.n == 10
    for idx in it.epoch(0):
        assert ds[idx].x.shape[1:] == (1, 2, 3)


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(n_or_dataset=10, batch_size=0), "batch_size"),
    (dict(n_or_dataset=10, batch_size=-2), "batch_size"),
    (dict(n_or_dataset=10, batch_size=2.5), "batch_size"),
    (dict(n_or_dataset=0, batch_size=4), "empty"),
    (dict(n_or_dataset=[], batch_size=4), "empty"),
    (dict(n_or_dataset=3, batch_size=4, drop_last=True), "no batch"),
    (dict(n_or_dataset=3, batch_size=1, seed=-1), "seed"),
])
def test_iterator_rejects_bad_arguments(kwargs, pattern):
    with pytest.raises(DataError, match=pattern):
        BatchIterator(**kwargs)


def test_negative_epoch():
    with pytest.raises(DataError, match="epoch"):
        BatchIterator(3, 1).order(-1)


# -- binarization ----------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_binarize_values_and_dtype(dtype):
    x = np.linspace(0, 1, 50).astype(dtype).reshape(5, 10)
    b = binarize(x, np.random.default_rng(0))
    assert b.dtype == dtype and b.shape == x.shape
    assert set(np.unique(b)) <= {0.0, 1.0}
    assert b[x == 0].max() == 0 and b[x == 1].min() == 1


def test_binarize_moments():
    # mean of K Bernoulli(p) draws has std sqrt(p(1-p)/K) <= 0.5/sqrt(K); allow 5 sigma
    k = 4000
    x = np.random.default_rng(1).random((3, 40)).astype(np.float32)
    rng = np.random.default_rng(2)
    mean = np.mean([binarize(x, rng) for _ in range(k)], axis=0)
    sigma = np.sqrt(x * (1 - x) / k) + 1e-6
    assert np.all(np.abs(mean - x) < 5 * sigma + 1e-3)
    # and it is not just rounding: pixels at p = 0.5 come out both ways
    assert 0.3 < mean[np.abs(x - 0.5) < 0.05].mean() < 0.7


def test_binarize_is_fresh_each_call_but_reproducible_by_seed():
    x = np.full((200,), 0.5, np.float32)
    rng = np.random.default_rng(0)
    assert not np.array_equal(binarize(x, rng), binarize(x, rng))
    np.testing.assert_array_equal(binarize(x, np.random.default_rng(9)), binarize(x, 9))
    np.testing.assert_array_equal(binarize_fixed(x, seed=3), binarize_fixed(x, seed=3))
    assert not np.array_equal(binarize_fixed(x, seed=3), binarize_fixed(x, seed=4))


@pytest.mark.parametrize("x, error", [
    (np.array([0.5, 1.5]), DataError),
    (np.array([-0.1, 0.5]), DataError),
    (np.array([0.5, np.nan]), NonFiniteError),
    (np.array([0, 1], np.uint8), DTypeError),
    (np.zeros(0, np.float32), DataError),
])
def test_binarize_rejects_bad_input(x, error):
    with pytest.raises(error):
        binarize(x, np.random.default_rng(0))
