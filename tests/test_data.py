"""descent.data: MNIST from IDX files, a download (from local fakes only), the fallback.

Nothing here touches the network: downloads come from a file:// mirror in a temporary
folder, and "offline" is an opener that raises. The real files are the official t10k set
in $DESCENT_DATA (CI) or ../shared/data/mnist.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from descent import data
from descent.paths import repo_root

SHARED = Path(os.environ.get("DESCENT_DATA") or repo_root().parent / "shared" / "data" / "mnist")


def real_folder() -> Path:
    if not (SHARED / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the official t10k files are not in {SHARED} (set DESCENT_DATA)")
    return SHARED


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_set(folder: Path, prefix: str, n: int, seed: int = 0, gz: bool = False) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for kind, array in (("images-idx3", rng.integers(0, 256, (n, 28, 28))),
                        ("labels-idx1", rng.integers(0, 10, n))):
        raw = idx_bytes(array)
        name = f"{prefix}-{kind}-ubyte"
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw, mtime=0))
        else:
            (folder / name).write_bytes(raw)


# ---------------------------------------------------------------- the real files


def test_the_official_test_files_are_split_with_a_seed(monkeypatch):
    monkeypatch.setenv("DESCENT_DATA", str(real_folder()))
    digits = data.load_mnist(download=False, verbose=False)
    assert digits.source == "mnist-t10k"
    assert digits.x_train.shape == (8000, 1, 28, 28) and digits.x_val.shape == (2000, 1, 28, 28)
    assert digits.x_train.dtype == torch.float32 and digits.y_train.dtype == torch.int64
    assert 0.0 <= float(digits.x_train.min()) and float(digits.x_train.max()) <= 1.0
    assert set(digits.y_val.tolist()) == set(range(10))
    again = data.load_mnist(download=False, verbose=False)
    assert torch.equal(again.y_val, digits.y_val)
    other = data.load_mnist(download=False, verbose=False, seed=1)
    assert not torch.equal(other.y_val, digits.y_val)
    # The split is a partition of the 10 000 images.
    everything = data.read_idx(real_folder() / "t10k-labels-idx1-ubyte.gz")
    assert np.array_equal(np.bincount(everything, minlength=10),
                          np.bincount(np.concatenate([digits.y_train, digits.y_val]), minlength=10))


def test_the_published_checksums_are_verified():
    folder = real_folder()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        data.verify(folder / name)  # the official files pass
    assert data.md5(folder / "t10k-labels-idx1-ubyte.gz") == data.MNIST_MD5[
        "t10k-labels-idx1-ubyte.gz"]


def test_the_loader_prints_where_the_data_came_from(capsys):
    data.load_mnist(real_folder(), download=False)
    assert "only the t10k files, split 8000/2000" in capsys.readouterr().out


# ---------------------------------------------------------------- IDX files


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trips(tmp_path, gz):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / ("a.gz" if gz else "a")
    raw = idx_bytes(array)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    assert np.array_equal(data.read_idx(path), array)


def test_read_idx_rejects_damaged_files(tmp_path):
    raw = idx_bytes(np.zeros((3, 28, 28), dtype=np.uint8))
    (tmp_path / "short").write_bytes(raw[:-5])
    with pytest.raises(ValueError, match="truncated"):
        data.read_idx(tmp_path / "short")
    (tmp_path / "magic").write_bytes(b"\x01\x02" + raw[2:])
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(tmp_path / "magic")


def test_a_gz_file_with_another_md5_is_refused(tmp_path):
    write_set(tmp_path, "t10k", 20, gz=True)  # valid IDX, but not the published bytes
    with pytest.raises(data.ChecksumError, match="published MD5"):
        data.load_mnist(tmp_path, download=False)


def test_uncompressed_test_files_are_split(tmp_path):
    write_set(tmp_path, "t10k", 50)
    digits = data.from_folder(tmp_path, seed=3)
    assert digits.source == "mnist-t10k"
    assert len(digits.y_train) == 40 and len(digits.y_val) == 10


def test_with_the_training_files_the_test_files_validate(tmp_path):
    write_set(tmp_path, "train", 30, seed=1)
    write_set(tmp_path, "t10k", 12, seed=2)
    digits = data.from_folder(tmp_path)
    assert digits.source == "mnist"
    assert len(digits.y_train) == 30 and len(digits.y_val) == 12


def test_descent_data_is_the_first_place_looked(tmp_path, monkeypatch):
    write_set(tmp_path, "t10k", 25)
    monkeypatch.setenv("DESCENT_DATA", str(tmp_path))
    assert len(data.load_mnist(download=False, verbose=False).y_val) == 5


def test_without_descent_data_the_repository_folder_is_used(monkeypatch):
    monkeypatch.delenv("DESCENT_DATA", raising=False)
    assert data.default_folder() == repo_root() / "data" / "mnist"


def test_data_is_git_ignored():
    assert "/data/" in (repo_root() / ".gitignore").read_text().split()


# ---------------------------------------------------------------- download


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A file:// mirror of four small fake files, whose MD5s become the published ones."""
    folder = tmp_path / "mirror"
    write_set(folder, "train", 30, seed=1, gz=True)
    write_set(folder, "t10k", 10, seed=2, gz=True)
    sums = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    monkeypatch.setattr(data, "MNIST_MD5", sums)
    return folder.as_uri() + "/"


def test_download_from_a_mirror(tmp_path, mirror, capsys):
    target = tmp_path / "mnist"
    digits = data.load_mnist(target, mirrors=("file:///nowhere/", mirror))
    assert digits.source == "mnist" and len(digits.y_train) == 30
    assert sorted(p.name for p in target.iterdir()) == sorted(data.MNIST_MD5)
    assert "downloading it into" in capsys.readouterr().out


def test_a_damaged_download_is_retried_then_refused(tmp_path, mirror, monkeypatch):
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in data.MNIST_MD5:
        (bad / name).write_bytes(b"not the file")
    data.download_mnist(tmp_path / "a", (bad.as_uri() + "/", mirror))  # second mirror serves
    with pytest.raises(data.ChecksumError, match="every mirror"):
        data.download_mnist(tmp_path / "b", (bad.as_uri() + "/",))


def test_offline_the_lab_says_so_and_uses_the_fallback(tmp_path, monkeypatch, capsys):
    def no_network(url, timeout=None):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.delenv("DESCENT_DATA", raising=False)
    monkeypatch.setattr(data, "default_folder", lambda: tmp_path / "data" / "mnist")
    monkeypatch.setattr("urllib.request.urlopen", no_network)
    digits = data.load_mnist()  # exactly what the page calls
    out = capsys.readouterr().out
    assert "Offline" in out and "Name or service not known" in out
    assert "NOTICE: the lab is running on the fallback" in out
    assert digits.source == "digits"


# ---------------------------------------------------------------- the fallback


def test_the_fallback_looks_like_mnist():
    digits = data.digits_fallback(seed=0)
    assert digits.x_train.shape[1:] == (1, 28, 28) and digits.x_train.dtype == torch.float32
    assert len(digits.y_train) + len(digits.y_val) == 1797
    assert len(digits.y_val) == round(0.2 * 1797)
    images = torch.cat([digits.x_train, digits.x_val])
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    border = torch.ones(28, 28, dtype=torch.bool)
    border[4:24, 4:24] = False
    assert float(images[:, 0][:, border].abs().max()) == 0.0  # a 20×20 digit, 4 px of margin
    assert "FALLBACK" in digits.note
