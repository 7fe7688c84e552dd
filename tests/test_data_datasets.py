"""Named data sets: registry, search order, checksums, download (local only), cosine3d.

No test touches the network: an autouse fixture replaces ``datasets._urlopen`` with a
guard that fails the test, HOME with a temporary directory (so ~/.cache is empty) and
the system directory /usr/share/datasets with an empty temporary one. Download tests
install an opener that serves ``file://`` URLs of a temporary "mirror" directory.
"""
import gzip
import hashlib
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from scratchvae.data import datasets, load_dataset, make_cosine3d, make_sprites
from scratchvae.data.cosine import DOMAIN, cosine3d_clean
from scratchvae.data.datasets import IdxDataset, RemoteFile, dataset_names, find_dataset_dir
from scratchvae.data.idx import write_idx
from scratchvae.errors import DataError

FASHION = Path("/usr/share/datasets/fashion-mnist")


def _no_network(url, timeout=None):
    raise AssertionError(f"a test tried to open {url}")


def _local_only(url, timeout=None):
    assert url.startswith("file:"), f"a test tried to open {url}"
    return urllib.request.urlopen(url, timeout=timeout)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SCRATCHVAE_DATA", raising=False)
    monkeypatch.setattr(datasets, "_SYSTEM_DIR", tmp_path / "system")
    monkeypatch.setattr(datasets, "_urlopen", _no_network)


def _md5(data):
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """Register data set "tiny" (train 5 and test 3 images of 4x4) served from a file:// mirror."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    rng = np.random.default_rng(0)
    arrays = {}
    files = {}
    for split, n in (("train", 5), ("test", 3)):
        pair = []
        for kind, array in (("images", rng.integers(0, 256, (n, 4, 4), dtype=np.uint8)),
                            ("labels", rng.integers(0, 10, n, dtype=np.uint8))):
            name = f"{split}-{kind}-idx.gz"
            write_idx(mirror / name, array)
            raw = gzip.decompress((mirror / name).read_bytes())
            pair.append(RemoteFile(name, _md5((mirror / name).read_bytes()), _md5(raw)))
            arrays[split, kind] = array
        files[split] = tuple(pair)
    spec = IdxDataset(name="tiny", mirrors=(mirror.as_uri() + "/",), files=files,
                      classes=tuple("0123456789"), homepage="https://example.invalid/tiny")
    monkeypatch.setitem(datasets._REGISTRY, "tiny", spec)
    return spec, mirror, arrays


def _copy(mirror, dest, names=None):
    dest.mkdir(parents=True, exist_ok=True)
    for path in mirror.iterdir():
        if names is None or path.name in names:
            shutil.copy(path, dest / path.name)
    return dest


# -- names and splits --------------------------------------------------------------

def test_names():
    assert set(dataset_names()) >= {"sprites", "cosine3d", "mnist", "fashion-mnist", "kmnist"}
    assert dataset_names()[0] == "sprites"


def test_registry_uses_the_standard_file_names():
    for name in ("mnist", "fashion-mnist", "kmnist"):
        spec = datasets._REGISTRY[name]
        names = {f.filename for pair in spec.files.values() for f in pair}
        assert names == {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}
        assert all(len(f.md5) == 32 for pair in spec.files.values() for f in pair)
    published = {f.filename: f.md5 for pair in datasets._REGISTRY["fashion-mnist"].files.values()
                 for f in pair}
    assert published["train-images-idx3-ubyte.gz"] == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    assert published["t10k-labels-idx1-ubyte.gz"] == "bb300cfdad3c16e7a12a480ee83cd310"


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(DataError, match="unknown data set 'cifar'") as info:
        load_dataset("cifar")
    for name in ("sprites", "cosine3d", "mnist", "fashion-mnist", "kmnist"):
        assert name in str(info.value)


@pytest.mark.parametrize("name", ["sprites", "cosine3d", "mnist"])
def test_unknown_split(name):
    with pytest.raises(DataError, match="unknown split 'valid'.*train.*test"):
        load_dataset(name, "valid")


def test_generated_sets_need_no_files():
    s = load_dataset("sprites", "test")
    np.testing.assert_array_equal(s.x, make_sprites(2000, seed=1).x)
    c = load_dataset("cosine3d", "train")
    assert c.x.shape == (10_000, 3) and c.y is None and c.name == "cosine3d/train"
    with pytest.raises(DataError, match="generated in memory"):
        find_dataset_dir("sprites")


# -- reading from a directory --------------------------------------------------------

def test_load_from_root(tiny, tmp_path):
    _, mirror, arrays = tiny
    root = _copy(mirror, tmp_path / "mine")
    ds = load_dataset("tiny", "train", root=root)
    assert ds.x.shape == (5, 1, 4, 4) and ds.x.dtype == np.float32
    np.testing.assert_array_equal(ds.x[:, 0], arrays["train", "images"] / np.float32(255))
    assert ds.y.dtype == np.int64
    np.testing.assert_array_equal(ds.y, arrays["train", "labels"])
    assert ds.source == str(root) and ds.name == "tiny/train"
    assert len(load_dataset("tiny", "test", root=root)) == 3


def test_search_order(tiny, tmp_path, monkeypatch):
    _, mirror, _ = tiny
    env = tmp_path / "env"
    monkeypatch.setenv("SCRATCHVAE_DATA", str(env))
    dirs = [env / "tiny", tmp_path / "home" / ".cache" / "scratchvae" / "tiny",
            tmp_path / "system" / "tiny"]
    assert datasets.search_dirs("tiny") == dirs
    for d in dirs:
        _copy(mirror, d)
    for d in dirs:                                   # remove the winner: the next one wins
        assert find_dataset_dir("tiny") == d
        assert load_dataset("tiny", "test", download=False).source == str(d)
        shutil.rmtree(d)
    assert find_dataset_dir("tiny") is None


def test_a_directory_wins_only_with_all_files_of_the_split(tiny, tmp_path, monkeypatch):
    _, mirror, _ = tiny
    env = tmp_path / "env"
    monkeypatch.setenv("SCRATCHVAE_DATA", str(env))
    _copy(mirror, env / "tiny", {"train-images-idx.gz", "train-labels-idx.gz"})
    system = _copy(mirror, tmp_path / "system" / "tiny")
    assert find_dataset_dir("tiny", "train") == env / "tiny"
    assert find_dataset_dir("tiny", "test") == system
    assert find_dataset_dir("tiny") == system        # all splits
    assert load_dataset("tiny", "test").source == str(system)


def test_root_is_the_only_place_searched(tiny, tmp_path):
    _, mirror, _ = tiny
    _copy(mirror, tmp_path / "system" / "tiny")
    assert find_dataset_dir("tiny", root=tmp_path / "elsewhere") is None
    with pytest.raises(DataError, match="not found.*elsewhere"):
        load_dataset("tiny", root=tmp_path / "elsewhere", download=False)


def test_checksum_mismatch_names_file_and_digests(tiny, tmp_path, monkeypatch):
    spec, mirror, _ = tiny
    env = _copy(mirror, tmp_path / "env" / "tiny")
    _copy(mirror, tmp_path / "system" / "tiny")      # a good copy later in the order is not used
    monkeypatch.setenv("SCRATCHVAE_DATA", str(tmp_path / "env"))
    bad = env / "train-labels-idx.gz"
    write_idx(bad, np.arange(5, dtype=np.uint8))     # valid IDX, different content
    with pytest.raises(DataError) as info:
        load_dataset("tiny", "train")
    message = str(info.value)
    expected = spec.files["train"][1]
    assert str(bad) in message and "checksum mismatch" in message
    assert expected.md5 in message and expected.idx_md5 in message
    assert _md5(bad.read_bytes()) in message


def test_recompressed_and_uncompressed_copies_pass_by_payload_digest(tiny, tmp_path):
    # a mirror that re-gzips the same IDX bytes (other header, other level) changes the
    # .gz digest but not the payload digest — the case of /usr/share/datasets/fashion-mnist
    spec, mirror, arrays = tiny
    root = tmp_path / "repacked"
    root.mkdir()
    for f in spec.files["train"]:
        raw = gzip.decompress((mirror / f.filename).read_bytes())
        repacked = gzip.compress(raw, compresslevel=1, mtime=123456)
        assert _md5(repacked) != f.md5
        (root / f.filename).write_bytes(repacked)
    np.testing.assert_array_equal(load_dataset("tiny", "train", root=root).y,
                                  arrays["train", "labels"])
    plain = tmp_path / "plain"
    plain.mkdir()
    for f in spec.files["test"]:
        (plain / f.filename[:-3]).write_bytes(gzip.decompress((mirror / f.filename).read_bytes()))
    assert len(load_dataset("tiny", "test", root=plain)) == 3


def test_uncompressed_copy_needs_a_known_payload_digest(tiny, tmp_path, monkeypatch):
    spec, mirror, _ = tiny
    stripped = {s: tuple(RemoteFile(f.filename, f.md5) for f in pair) for s, pair in spec.files.items()}
    monkeypatch.setitem(datasets._REGISTRY, "tiny", IdxDataset("tiny", spec.mirrors, stripped, spec.classes))
    plain = tmp_path / "plain"
    plain.mkdir()
    for f in stripped["test"]:
        (plain / f.filename[:-3]).write_bytes(gzip.decompress((mirror / f.filename).read_bytes()))
    assert find_dataset_dir("tiny", "test", root=plain) is None


def test_corrupt_gzip_in_a_data_directory(tiny, tmp_path):
    _, mirror, _ = tiny
    root = _copy(mirror, tmp_path / "r")
    path = root / "test-images-idx.gz"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset("tiny", "test", root=root)


def test_images_and_labels_must_agree(tiny, tmp_path, monkeypatch):
    spec, mirror, _ = tiny
    root = _copy(mirror, tmp_path / "r")
    write_idx(root / "test-labels-idx.gz", np.zeros(4, np.uint8))       # 4 labels, 3 images
    data = (root / "test-labels-idx.gz").read_bytes()
    images, _ = spec.files["test"]
    files = dict(spec.files, test=(images, RemoteFile("test-labels-idx.gz", _md5(data))))
    monkeypatch.setitem(datasets._REGISTRY, "tiny", IdxDataset("tiny", spec.mirrors, files, spec.classes))
    with pytest.raises(DataError, match="same N"):
        load_dataset("tiny", "test", root=root)


# -- downloading ---------------------------------------------------------------------

def test_download_into_the_cache(tiny, tmp_path, monkeypatch):
    _, _, arrays = tiny
    monkeypatch.setattr(datasets, "_urlopen", _local_only)
    ds = load_dataset("tiny", "test")
    cache = tmp_path / "home" / ".cache" / "scratchvae" / "tiny"
    assert ds.source == str(cache)
    assert sorted(p.name for p in cache.iterdir()) == ["test-images-idx.gz", "test-labels-idx.gz"]
    np.testing.assert_array_equal(ds.y, arrays["test", "labels"])
    # the second call finds the files and does not download again
    monkeypatch.setattr(datasets, "_urlopen", _no_network)
    assert load_dataset("tiny", "test").source == str(cache)


def test_download_goes_to_scratchvae_data_or_root(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "_urlopen", _local_only)
    monkeypatch.setenv("SCRATCHVAE_DATA", str(tmp_path / "env"))
    assert load_dataset("tiny", "train").source == str(tmp_path / "env" / "tiny")
    assert load_dataset("tiny", "train", root=tmp_path / "r").source == str(tmp_path / "r")
    assert (tmp_path / "r" / "train-images-idx.gz").is_file()


def test_download_falls_back_to_the_next_mirror(tiny, tmp_path, monkeypatch):
    spec, mirror, _ = tiny
    dead = (tmp_path / "dead").as_uri() + "/"
    calls = []

    def opener(url, timeout=None):
        calls.append(url)
        assert timeout == datasets.DOWNLOAD_TIMEOUT
        return _local_only(url, timeout)

    monkeypatch.setattr(datasets, "_urlopen", opener)
    monkeypatch.setitem(datasets._REGISTRY, "tiny",
                        IdxDataset("tiny", (dead,) + spec.mirrors, spec.files, spec.classes))
    assert len(load_dataset("tiny", "test")) == 3
    assert calls[0].startswith(dead) and calls[1].startswith(mirror.as_uri())


def test_download_with_a_wrong_checksum_keeps_nothing(tiny, tmp_path, monkeypatch):
    spec, mirror, _ = tiny
    write_idx(mirror / "test-images-idx.gz", np.zeros((3, 4, 4), np.uint8))   # mirror serves other data
    monkeypatch.setattr(datasets, "_urlopen", _local_only)
    with pytest.raises(DataError) as info:
        load_dataset("tiny", "test")
    message = str(info.value)
    expected = spec.files["test"][0]
    assert "could not download" in message and "checksum mismatch" in message
    assert (mirror / "test-images-idx.gz").as_uri() in message
    assert expected.md5 in message and _md5((mirror / "test-images-idx.gz").read_bytes()) in message
    cache = tmp_path / "home" / ".cache" / "scratchvae" / "tiny"
    assert list(cache.iterdir()) == []                # no partial or temporary file left behind


def test_truncated_download_is_rejected(tiny, tmp_path, monkeypatch):
    class Half:
        def __init__(self, data):
            self.data = data[: len(data) // 2]

        def read(self, n=-1):
            out, self.data = self.data, b""
            return out

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    _, mirror, _ = tiny
    monkeypatch.setattr(datasets, "_urlopen",
                        lambda url, timeout=None: Half((mirror / url.rsplit("/", 1)[1]).read_bytes()))
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset("tiny", "train")


def test_offline_error_says_what_was_tried_and_how_to_fix_it(tiny, tmp_path, monkeypatch):
    spec, _, _ = tiny
    mirrors = ("https://a.example.invalid/tiny/", "http://b.example.invalid/")
    monkeypatch.setitem(datasets._REGISTRY, "tiny", IdxDataset("tiny", mirrors, spec.files, spec.classes))

    def offline(url, timeout=None):
        if "b.example" in url:
            raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(datasets, "_urlopen", offline)
    with pytest.raises(DataError) as info:
        load_dataset("tiny", "train")
    message = str(info.value)
    assert "could not download tiny file train-images-idx.gz" in message
    assert "https://a.example.invalid/tiny/train-images-idx.gz" in message
    assert "http://b.example.invalid/train-images-idx.gz" in message
    assert "Temporary failure in name resolution" in message and "404" in message
    assert "SCRATCHVAE_DATA" in message
    assert str(tmp_path / "home" / ".cache" / "scratchvae" / "tiny") in message
    assert str(tmp_path / "system" / "tiny") in message


def test_download_false_reports_where_it_looked(tiny, tmp_path):
    with pytest.raises(DataError) as info:
        load_dataset("tiny", "train", download=False)
    message = str(info.value)
    assert "not found" in message and "download=True" in message
    assert str(tmp_path / "system" / "tiny") in message


# -- the real Fashion-MNIST, where this machine has it -------------------------------

@pytest.mark.skipif(not (FASHION / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="Fashion-MNIST is not installed under /usr/share/datasets/fashion-mnist")
def test_real_fashion_mnist():
    spec = datasets._REGISTRY["fashion-mnist"]
    for pair in spec.files.values():                     # all four files pass verification
        for f in pair:
            datasets._verified_payload(FASHION / f.filename, f)
    ds = load_dataset("fashion-mnist", "test", root=FASHION, download=False)
    assert ds.x.shape == (10_000, 1, 28, 28) and ds.x.dtype == np.float32
    assert 0.0 == ds.x.min() and ds.x.max() == 1.0
    assert ds.y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(ds.y), [1000] * 10)
    assert ds.classes[9] == "Ankle boot"


# -- cosine3d --------------------------------------------------------------------------

def test_cosine_shape_and_determinism():
    a = make_cosine3d(500, seed=3)
    assert a.x.shape == (500, 3) and a.x.dtype == np.float32 and a.y is None
    np.testing.assert_array_equal(a.x, make_cosine3d(500, seed=3).x)
    assert not np.array_equal(a.x, make_cosine3d(500, seed=4).x)
    assert a.noise == 0.05 and a.domain == DOMAIN


def test_cosine_points_lie_near_the_surface():
    clean = make_cosine3d(5000, noise=0.0, seed=0).x
    assert np.all(np.abs(clean[:, :2]) <= np.pi)
    np.testing.assert_allclose(clean[:, 2], cosine3d_clean(clean[:, 0], clean[:, 1]), atol=1e-6)
    noisy = make_cosine3d(5000, seed=0).x
    # |∂z/∂x|, |∂z/∂y| <= 1, so the residual std is at most 0.05 * sqrt(3)
    residual = noisy[:, 2] - cosine3d_clean(noisy[:, 0], noisy[:, 1])
    assert np.abs(residual).mean() < 0.1 and np.abs(residual).max() < 0.6
    # same seed: noisy - clean is exactly the noise term, N(0, 0.05²) per coordinate
    eps = noisy.astype(np.float64) - clean
    np.testing.assert_allclose(eps.std(axis=0), 0.05, rtol=0.05)
    np.testing.assert_allclose(eps.mean(axis=0), 0.0, atol=0.005)


def test_cosine_surface_values():
    assert cosine3d_clean(0.0, 0.0) == 1.0
    assert cosine3d_clean(np.pi, 0.0) == pytest.approx(-1.0)
    assert cosine3d_clean(0.0, -np.pi / 2) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("kwargs", [dict(n=0), dict(n=-1), dict(n=2.0), dict(noise=-0.1),
                                    dict(noise=float("nan"))])
def test_cosine_rejects_bad_arguments(kwargs):
    with pytest.raises(DataError):
        make_cosine3d(**kwargs)


# -- untrusted files: bounded reading, shapes checked at the header -------------------

def _with_shapes(spec, shapes):
    files = {s: tuple(RemoteFile(f.filename, f.md5, f.idx_md5, shape, "uint8")
                      for f, shape in zip(pair, shapes[s])) for s, pair in spec.files.items()}
    return IdxDataset(spec.name, spec.mirrors, files, spec.classes)


def test_a_file_must_hold_the_registered_shape(tiny, tmp_path, monkeypatch):
    spec, mirror, arrays = tiny
    right = {"train": ((5, 4, 4), (5,)), "test": ((3, 4, 4), (3,))}
    monkeypatch.setitem(datasets._REGISTRY, "tiny", _with_shapes(spec, right))
    assert len(load_dataset("tiny", "test", root=mirror)) == 3
    wrong = {"train": ((5, 4, 4), (5,)), "test": ((3, 4, 5), (3,))}
    monkeypatch.setitem(datasets._REGISTRY, "tiny", _with_shapes(spec, wrong))
    with pytest.raises(DataError, match=r"declares shape \(3, 4, 4\).*must hold shape \(3, 4, 5\)"):
        load_dataset("tiny", "test", root=mirror)


def test_a_file_larger_than_any_copy_is_refused_unread(tmp_path, monkeypatch):
    root = tmp_path / "mnist"
    root.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        with open(root / name, "wb") as f:
            f.truncate(64 << 20)                         # sparse: 64 MiB, no disk used
    with pytest.raises(DataError, match="more than any copy of t10k-images-idx3-ubyte.gz can be"):
        load_dataset("mnist", "test", root=root, download=False)


def test_a_decompression_bomb_is_a_checksum_mismatch(tiny, tmp_path):
    spec, mirror, _ = tiny
    root = _copy(mirror, tmp_path / "r")
    bomb = gzip.compress(b"\0\0\x08\x01\0\0\0\x05" + bytes(80 << 20), compresslevel=1)
    (root / "test-images-idx.gz").write_bytes(bomb)
    with pytest.raises(DataError, match="checksum mismatch.*could not be hashed.*over the limit"):
        load_dataset("tiny", "test", root=root)


def test_a_download_larger_than_the_file_can_be_is_refused(tmp_path, monkeypatch):
    class Endless:
        def read(self, n=-1):
            return bytes(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(datasets, "_urlopen", lambda url, timeout=None: Endless())
    with pytest.raises(DataError, match="the server sent more than"):
        load_dataset("mnist", "test", root=tmp_path / "m")
    assert list((tmp_path / "m").iterdir()) == []


def test_downloaded_files_follow_the_umask_and_leave_no_temp_file(tiny, tmp_path, monkeypatch):
    import os

    monkeypatch.setattr(datasets, "_urlopen", _local_only)
    old = os.umask(0o027)
    try:
        ds = load_dataset("tiny", "test", root=tmp_path / "d")
    finally:
        os.umask(old)
    files = sorted((tmp_path / "d").iterdir())
    assert [p.name for p in files] == ["test-images-idx.gz", "test-labels-idx.gz"]
    assert all(p.stat().st_mode & 0o777 == 0o640 for p in files)
    assert len(ds) == 3
