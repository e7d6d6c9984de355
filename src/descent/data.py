"""MNIST for the lab, as tensors, from whatever this machine has.

:func:`load_mnist` tries, in order:

1. the IDX files (``*-idx3-ubyte[.gz]``, ``*-idx1-ubyte[.gz]``) in ``$DESCENT_DATA`` or
   ``data/mnist/`` of the repository, parsed with NumPy; a ``.gz`` file must have the MD5
   published with the data set (an uncompressed file has no published checksum: its header
   and size are checked instead);
2. a download of the four official files into ``data/mnist/`` (progress bar, MD5 checked),
   when ``download=True`` and the machine is online; offline, a clear message;
3. scikit-learn's bundled 8×8 handwritten digits, upsampled to MNIST's 28×28 layout, with
   a printed notice that the lab runs on the fallback.

What is present decides the split: the 60 000 training images for training and the
10 000 test images for validation; with only the test files (as in ``shared/data/mnist``),
a fixed, seeded split of those 10 000. Images come back as float32 tensors of shape
``(n, 1, 28, 28)`` with values in [0, 1], labels as int64 tensors, all on the CPU: the
training code moves them to its device once.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

#: MD5 of the official files, as published with the data set.
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
#: Where the official files are served (LeCun's page refuses many clients; a mirror first).
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://yann.lecun.com/exdb/mnist/",
)
#: Images held out for validation when only the 10 000 test images are present.
VALIDATION_FRACTION = 0.2
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class ChecksumError(ValueError):
    """A data file whose MD5 is not the published one (truncated or altered)."""


class Offline(OSError):
    """No mirror could be reached."""


@dataclass(frozen=True)
class Digits:
    """A classification data set of 28×28 grey images, split for training and validation."""

    x_train: torch.Tensor  # (n, 1, 28, 28) float32 in [0, 1]
    y_train: torch.Tensor  # (n,) int64 in 0..9
    x_val: torch.Tensor
    y_val: torch.Tensor
    source: str  # "mnist", "mnist-t10k" or "digits"
    note: str  # one line: where the images come from and how they were split

    def __repr__(self) -> str:
        return (f"Digits({self.source}: {len(self.y_train)} training, {len(self.y_val)} "
                f"validation images; {self.note})")


# ------------------------------------------------------------------ IDX files


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_idx(path: Path) -> np.ndarray:
    """The array stored in an IDX file (gzipped or not), as LeCun's format describes it.

    Header: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions,
    then each dimension as a big-endian int32; the values follow, row-major.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path.name} is not an IDX file (bad magic number {raw[:4]!r})")
    ndim = raw[3]
    shape = tuple(int(n) for n in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path.name} holds {len(raw)} bytes, its header announces "
                         f"{expected}: the file is truncated or damaged")
    return np.frombuffer(raw, dtype, offset=offset).reshape(shape)


def find_idx(folder: Path, stem: str) -> Path | None:
    """``folder/stem.gz`` or ``folder/stem``, whichever exists (the compressed one first)."""
    for name in (f"{stem}.gz", stem):
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    return None


def verify(path: Path) -> None:
    """Raise :class:`ChecksumError` when a ``.gz`` file's MD5 is not the published one."""
    expected = MNIST_MD5.get(Path(path).name)
    if expected is None:
        return  # an uncompressed file: read_idx checks its header and size
    found = md5(path)
    if found != expected:
        raise ChecksumError(
            f"{path} has MD5 {found}, but the published MD5 of {path.name} is {expected}: "
            "the file is truncated or altered. Delete it and run again to download it afresh.")


def _read_pair(folder: Path, prefix: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(images, labels) of ``prefix`` ("train" or "t10k") in ``folder``, or None if absent."""
    images = find_idx(folder, f"{prefix}-images-idx3-ubyte")
    labels = find_idx(folder, f"{prefix}-labels-idx1-ubyte")
    if images is None or labels is None:
        return None
    for path in (images, labels):
        verify(path)
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (x.shape[0],):
        raise ValueError(f"{images.name} and {labels.name} in {folder} are not MNIST: images "
                         f"{x.shape}, labels {y.shape}")
    return _as_tensors(x.astype(np.float32) / 255.0, y)


def _as_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)
    return x, torch.from_numpy(np.asarray(labels, dtype=np.int64))


def seeded_split(x, y, fraction: float = VALIDATION_FRACTION, seed: int = 0):
    """(x_train, y_train, x_val, y_val): a fixed random ``fraction`` held out for validation."""
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_val = round(fraction * len(y))
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


def from_folder(folder: Path, seed: int = 0) -> Digits | None:
    """The MNIST files in ``folder`` as a :class:`Digits`, or None when they are not there."""
    folder = Path(folder)
    test = _read_pair(folder, "t10k")
    train = _read_pair(folder, "train")
    if train is not None and test is not None:
        return Digits(*train, *test, source="mnist",
                      note=f"MNIST: {len(train[1])} training images, the {len(test[1])} test "
                           "images for validation")
    if test is not None or train is not None:
        prefix, pair = ("t10k", test) if test is not None else ("train", train)
        parts = seeded_split(*pair, seed=seed)
        return Digits(*parts, source=f"mnist-{prefix}",
                      note=f"MNIST: only the {prefix} files, split "
                           f"{len(parts[1])}/{len(parts[3])} with seed {seed}")
    return None


# ------------------------------------------------------------------ download


def _progress(total: int | None, name: str):
    from tqdm import tqdm

    from descent.widgets import static_mode

    return tqdm(total=total, unit="B", unit_scale=True, desc=name, file=sys.stdout,
                leave=False, disable=static_mode())


def _fetch(url: str, target: Path, opener, timeout: float) -> None:
    """Stream ``url`` into ``target`` (through a temporary file), with a progress bar."""
    partial = target.with_name(target.name + ".part")
    with opener(url, timeout=timeout) as response, open(partial, "wb") as out:
        length = response.headers.get("Content-Length") if hasattr(response, "headers") else None
        with _progress(int(length) if length else None, target.name) as bar:
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                bar.update(len(block))
    partial.replace(target)


def download_mnist(folder: Path, mirrors=None, *, opener=None, timeout: float = 20.0) -> Path:
    """Download the four official files into ``folder``, checking each MD5.

    Each file is tried on each mirror in turn; a file already there with the right MD5 is
    kept. Raises :class:`Offline` when no mirror answers, :class:`ChecksumError` when every
    mirror served a damaged file.
    """
    mirrors = MIRRORS if mirrors is None else mirrors
    opener = opener or urllib.request.urlopen
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, expected in MNIST_MD5.items():
        target = folder / name
        if target.is_file() and md5(target) == expected:
            continue
        errors = []
        for mirror in mirrors:
            try:
                _fetch(mirror + name, target, opener, timeout)
            except (urllib.error.URLError, OSError, TimeoutError) as error:
                errors.append(f"{mirror}: {getattr(error, 'reason', error)}")
                continue
            if md5(target) == expected:
                break
            target.unlink()
            errors.append(f"{mirror}: wrong MD5")
        else:
            if all("wrong MD5" in e for e in errors):
                raise ChecksumError(f"{name}: every mirror served a damaged file")
            raise Offline(f"could not download {name} ({'; '.join(errors)})")
    return folder


# ------------------------------------------------------------------ fallback


def digits_fallback(seed: int = 0) -> Digits:
    """scikit-learn's 1 797 bundled 8×8 digits, laid out like MNIST, split with ``seed``.

    MNIST centres each digit's 20×20 box in a 28×28 image: each 8×8 image (values 0-16)
    is scaled to 20×20 by bilinear interpolation and padded by 4 pixels on each side.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    small = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)
    big = torch.nn.functional.interpolate(small, size=(20, 20), mode="bilinear",
                                          align_corners=False)
    x = torch.nn.functional.pad(big, (4, 4, 4, 4)).clamp(0.0, 1.0)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    parts = seeded_split(x, y, seed=seed)
    return Digits(*parts, source="digits",
                  note="FALLBACK: scikit-learn's 8×8 digits upsampled to 28×28, split "
                       f"{len(parts[1])}/{len(parts[3])} with seed {seed} (not MNIST)")


# ------------------------------------------------------------------ the loader


def default_folder() -> Path:
    """``data/mnist/`` of the repository (of the current folder outside of it)."""
    try:
        from descent.paths import repo_root

        return repo_root() / "data" / "mnist"
    except FileNotFoundError:
        return Path.cwd() / "data" / "mnist"


def load_mnist(root: Path | str | None = None, *, download: bool = True, seed: int = 0,
               verbose: bool = True, mirrors=None, opener=None) -> Digits:
    """MNIST (or its fallback) as tensors: see the module's docstring for the order tried.

    Args:
        root: folder of IDX files; default ``$DESCENT_DATA``, else ``data/mnist/``.
        download: try to download the official files into ``data/mnist/`` when none are
            found (never in tests).
        seed: the seed of the train/validation split when only one set of files is there.
        verbose: print where the data came from (and the fallback notice, if it comes to that).
        mirrors, opener: where and how to download (default :data:`MIRRORS` and
            ``urllib.request.urlopen``; tests pass local fakes).
    """
    folder = Path(root or os.environ.get("DESCENT_DATA") or default_folder())
    found = from_folder(folder, seed) if folder.is_dir() else None
    if found is None and download:
        target = default_folder() if root is None else folder
        try:
            if verbose:
                print(f"MNIST not found in {folder}: downloading it into {target}")
            found = from_folder(download_mnist(target, mirrors, opener=opener), seed)
        except Offline as error:
            print(f"Offline: {error}. To use the real data, put the MNIST IDX files in "
                  f"{target} (or point DESCENT_DATA at a folder that holds them).")
    if found is None:
        found = digits_fallback(seed)
        if verbose:
            print(f"NOTICE: the lab is running on the fallback data set. {found.note}; "
                  "its results are not MNIST's.")
    elif verbose:
        print(found.note)
    return found
