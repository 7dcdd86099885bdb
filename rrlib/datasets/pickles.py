"""Reading the pickled files of the benchmarks (ground truth, training databases) without running code.

``pickle.load`` calls whatever a file names: a crafted ``gnd_*.pkl`` runs a shell command the moment
it is loaded. The published files hold only lists, dicts, strings, numbers and numpy arrays, so
:func:`load_pickle` reads them with :class:`RestrictedUnpickler`, whose ``find_class`` allows
exactly the callables those need (numpy's array and scalar reconstruction, ``set`` /
``frozenset`` / ``bytes`` / ``complex``, ``collections.OrderedDict`` and ``_codecs.encode``, which
protocol-2 pickles use for bytes) and refuses every other global with :class:`UnsafePickleError`.
Where the file's SHA-256 is known it is checked first.
"""
from __future__ import annotations

import _compat_pickle
import os
import pickle
from pathlib import Path

from rrlib.io import sha256sum

__all__ = ["ALLOWED_GLOBALS", "RestrictedUnpickler", "UnsafePickleError", "load_pickle"]

#: (module, name) pairs a data pickle may reference; everything else is refused.
ALLOWED_GLOBALS = frozenset({
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "bytes"), ("builtins", "bytearray"),
    ("builtins", "complex"), ("collections", "OrderedDict"), ("_codecs", "encode"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    *((f"{core}.multiarray", name) for core in ("numpy.core", "numpy._core") for name in ("_reconstruct", "scalar")),
    *((f"{core}.numeric", "_frombuffer") for core in ("numpy.core", "numpy._core")),
})


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """A pickle references a callable that plain data does not need (it could run code)."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds lists, dicts, strings, numbers and numpy arrays, and nothing else."""

    def find_class(self, module: str, name: str):
        # Python 2 names (protocols 0-2: __builtin__.set ...), as pickle's own find_class maps them.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafePickleError(
                f"the pickle references {module}.{name}, which plain data does not need; refusing to load it"
            )
        if module.startswith("numpy.core."):
            module = "numpy._core." + module[len("numpy.core."):]  # numpy >= 2 (no deprecation shim)
            try:
                return super().find_class(module, name)
            except (ImportError, AttributeError):  # numpy 1.x
                module = "numpy.core." + module[len("numpy._core."):]
        return super().find_class(module, name)


def load_pickle(path: str | os.PathLike, *, sha256: str | None = None):
    """Unpickle ``path`` with :class:`RestrictedUnpickler` after checking its SHA-256 (when given).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The file does not match ``sha256``, references a callable that data does not need
        (:class:`UnsafePickleError`), or is not a readable pickle; the message names the file.
    """
    path = Path(path)
    if sha256 is not None:
        digest = sha256sum(path)
        if digest != sha256.lower():
            raise ValueError(f"{path} has sha256 {digest}, expected {sha256.lower()}: the file is corrupt or "
                             "not the published one; delete it and download it again")
    try:
        with open(path, "rb") as f:
            return RestrictedUnpickler(f).load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{path}: {exc}") from None
    except FileNotFoundError:
        raise
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, TypeError, ValueError,
            UnicodeDecodeError, MemoryError, OverflowError) as exc:
        raise ValueError(f"{path} is not a readable pickle ({type(exc).__name__}: {exc}); "
                         "the file is corrupt or incomplete: delete it and download it again") from exc
