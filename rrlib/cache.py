"""One cache for every result rrlib computes once and keeps in the data root: global descriptors,
SIFT, vocabularies, frozen feature maps and fine-tuned runs.

An entry is the file ``<data root>/<folder>/<label>_<key><suffix>`` (:func:`entry`):

* ``key`` = :func:`digest` of *everything that determines the result*: a content digest of the
  inputs (:func:`dataset_digest`, :func:`images_digest`: the bytes of the image files, not their
  names), the parameters, the model's weights and architecture (:func:`module_digest`), the
  functions applied (:func:`callable_digest`) and a code version -- a constant each caller bumps
  when its algorithm changes. Equal keys mean equal results; a changed input means a new file.
* ``label`` is a readable prefix of names (dataset, tag), each checked by :func:`check_name`, so no
  name can make a path outside the data root.

:func:`cached` loads an entry or computes and stores it. A file that cannot be read (truncated,
corrupt, of another format) is reported by ``warnings.warn`` naming the file, recomputed and
overwritten. :func:`atomic_write` writes under a temporary name unique to the writer, in the same
folder, then renames: readers and concurrent writers see the old file or a whole new one, never a
part of one.

Cost, measured on one core of the machine this was written on: SHA-256 of a file runs at about 1.5 GB/s, plus
about 45 us per file opened; the 870 database and query images of synth-landmarks take 0.06 s
cold, roxford5k's 5,063 JPEGs (about 1.9 GB) would take about 1.5 s from the page cache
(extrapolated). :func:`file_digest` remembers each file's digest in the process by
``(path, size, mtime_ns, inode)``, so later calls cost a ``stat`` per file (0.04 s for
synth-landmarks). A model's digest (MobileNetV2, 3.5 M weights) takes 0.01 s.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import os
import re
import tempfile
import types
import warnings
from pathlib import Path, PurePath
from typing import Any, BinaryIO, Callable, Iterable, TypeVar

import numpy as np
from PIL import Image

from .io import data_root, sha256sum

__all__ = ["atomic_write", "cached", "callable_digest", "check_name", "dataset_digest", "digest", "entry",
           "file_digest", "images_digest", "module_digest", "read"]

T = TypeVar("T")

#: hex digits of a cache key (64 bits: a collision among a data root's entries is out of reach)
KEY_DIGITS = 16
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=,-]*")


def check_name(name: str, what: str = "name") -> str:
    """``name`` if it is safe as part of a file name in the data root, else ValueError naming
    ``what``: letters, digits and ``. _ + = , -``, not starting with a dot or a dash, no ``..``
    (so no path separator, no absolute path, no parent folder)."""
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, got {type(name).__name__}")
    if not _NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"{what} {name!r} cannot be part of a cache file name: use letters, digits and . _ + = , - "
                         "(no path separator, no '..', not absolute)")
    return name


# ------------------------------------------------------------------------------------------------
# Digests
# ------------------------------------------------------------------------------------------------
_FILE_DIGESTS: dict[tuple, str] = {}


def file_digest(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, remembered in this process by ``(path, size, mtime_ns, inode)``
    (a file rewritten since has another ``mtime_ns``, and usually another size or inode)."""
    path = Path(path)
    st = path.stat()
    memo = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if memo not in _FILE_DIGESTS:
        _FILE_DIGESTS[memo] = sha256sum(path)
    return _FILE_DIGESTS[memo]


def digest(*parts: Any) -> str:
    """A ``KEY_DIGITS``-hex SHA-256 of ``parts`` in a canonical encoding: numbers, strings, bytes,
    None, paths (their text), lists/tuples/dicts of these, numpy arrays and tensors (dtype, shape,
    bytes), PIL images (mode, size, pixels), dataclasses (their fields), modules
    (:func:`module_digest`) and functions (:func:`callable_digest`). Anything else is a TypeError:
    a key part whose text would change between runs (``<object at 0x...>``) makes no key."""
    h = hashlib.sha256()
    for p in parts:
        _feed(h, p, 0)
    return h.hexdigest()[:KEY_DIGITS]


def images_digest(images: Iterable) -> str:
    """:func:`digest` of a list of images by *content*: the bytes of each file (for paths), the
    pixels of PIL images and arrays, in order."""
    return digest([file_digest(im) if isinstance(im, (str, os.PathLike)) else im for im in images])


def dataset_digest(data) -> str:
    """:func:`digest` of a :class:`rrlib.datasets.RetrievalDataset`: its name, image lists and
    ground truth (boxes, labels) and the content of every database and query image, so regenerated
    pictures with the same labels change it."""
    return digest(data.name, data.imlist, data.qimlist, data.gnd, images_digest(data.images),
                  images_digest(data.queries))


def module_digest(module) -> str:
    """:func:`digest` of a torch module: its architecture (``repr``: layers, strides, dilations,
    GeM's p) and every tensor of its ``state_dict`` (weights and buffers)."""
    return digest(module)


def callable_digest(fn: Callable) -> str:
    """:func:`digest` of a function applied to the data: module, name, byte code, constants,
    defaults and closure (``functools.partial``: the function and its bound arguments; a torch
    module: :func:`module_digest`). Functions it calls are identified by name only: bump the code
    version of the cache when they change."""
    return digest(fn)


def _feed(h, obj: Any, depth: int) -> None:
    """Write a type tag and the content of ``obj`` into the hash ``h`` (see :func:`digest`)."""
    if depth > 32:
        raise TypeError("cache key too deeply nested (a reference cycle?)")

    def tag(text: str, content: bytes = b"") -> None:
        h.update(f"\0{text}:".encode())
        h.update(content)

    def each(*items: Any) -> None:
        for x in items:
            _feed(h, x, depth + 1)

    if obj is None or isinstance(obj, (bool, int, float, complex, str)):
        tag(type(obj).__name__, repr(obj).encode())
    elif isinstance(obj, bytes):
        tag(f"bytes{len(obj)}", obj)
    elif isinstance(obj, PurePath):
        tag("path", str(obj).encode())
    elif isinstance(obj, (np.ndarray, np.generic)):
        arr = np.asarray(obj)
        if arr.dtype == object:
            tag(f"objects{arr.shape}")
            each(arr.tolist())
        else:
            tag(f"array{arr.dtype.str}{arr.shape}", np.ascontiguousarray(arr).tobytes())
    elif isinstance(obj, (list, tuple)):
        tag(f"{type(obj).__name__}{len(obj)}")
        each(*obj)
    elif isinstance(obj, (set, frozenset)):
        tag(f"set{len(obj)}")
        each(*sorted(obj, key=repr))
    elif isinstance(obj, dict):
        tag(f"dict{len(obj)}")
        for k in sorted(obj, key=repr):
            each(k, obj[k])
    elif isinstance(obj, Image.Image):
        tag(f"image{obj.mode}{obj.size}", obj.tobytes())
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        tag(type(obj).__qualname__)
        each(dataclasses.asdict(obj))
    elif type(obj).__module__.startswith("torch") and hasattr(obj, "detach"):  # a tensor or a Parameter
        t = obj.detach().cpu().contiguous()
        try:
            values = t.numpy()
        except TypeError:  # bfloat16 has no numpy type; float32 holds every bfloat16 exactly
            values = t.float().numpy()
        tag(f"tensor{t.dtype}{tuple(t.shape)}", values.tobytes())
    elif hasattr(obj, "state_dict") and hasattr(obj, "named_modules"):  # a torch module
        tag("module", repr(obj).encode())
        each(dict(obj.state_dict()))
    elif isinstance(obj, functools.partial):
        tag("partial")
        each(obj.func, obj.args, obj.keywords)
    elif isinstance(obj, types.MethodType):
        tag("method")
        each(obj.__self__, obj.__func__)
    elif isinstance(obj, types.FunctionType):
        tag(f"function {obj.__module__}.{obj.__qualname__}")
        each(obj.__code__, obj.__defaults__, obj.__kwdefaults__, [c.cell_contents for c in obj.__closure__ or ()])
    elif isinstance(obj, types.CodeType):
        tag("code", obj.co_code)
        each(obj.co_consts, obj.co_names, obj.co_varnames)
    elif isinstance(obj, (types.BuiltinFunctionType, type)):
        tag(f"named {getattr(obj, '__module__', '')}.{obj.__qualname__}")
    else:
        raise TypeError(f"cannot make a cache key of a {type(obj).__name__} ({obj!r:.80}): pass plain values, "
                        "arrays, modules, functions or functools.partial, or cache=False")


# ------------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------------
def entry(folder: str, label: Iterable[str], key: str, suffix: str = "") -> Path:
    """``<data root>/<folder>/<label parts joined by _>_<key><suffix>``; every folder component and
    label part is checked by :func:`check_name`."""
    parts = [check_name(p, "cache folder") for p in folder.split("/")]
    name = "_".join([check_name(p, "cache label") for p in label] + [check_name(key, "cache key")])
    return data_root().joinpath(*parts, name + suffix)


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Create or replace ``path`` with what ``write(file)`` writes into a binary file object.

    It writes into a temporary file of a name unique to this writer (``tempfile.mkstemp``) in the
    same folder, flushes it to disk, then renames it over ``path`` (``os.replace``, atomic): a
    reader or a concurrent writer never sees a partial file. On error the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes the file private (0600); an output file is readable like any other
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def read(path: str | os.PathLike, load: Callable[[Path], T]) -> T | None:
    """``load(path)``; None when the file is absent, or -- with a warning naming the file -- when
    ``load`` fails on it (corrupt, truncated, another format): the caller recomputes and overwrites."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return load(path)
    except Exception as err:  # any failure to read a cache file means: recompute it
        warnings.warn(f"cache file {path} is unreadable ({type(err).__name__}: {err}); recomputing and "
                      "overwriting it", stacklevel=3)
        return None


def cached(path: Path, compute: Callable[[], T], save: Callable[[T, BinaryIO], None],
           load: Callable[[Path], T], *, enabled: bool = True) -> T:
    """The value stored at ``path`` (:func:`read` with ``load``), else ``compute()``, stored with
    ``save(value, file)`` (:func:`atomic_write`). ``enabled=False``: compute, store nothing."""
    if enabled:
        value = read(path, load)
        if value is not None:
            return value
    value = compute()
    if enabled:
        atomic_write(path, lambda f: save(value, f))
    return value
