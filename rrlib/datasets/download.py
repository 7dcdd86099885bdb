"""Robust downloads and safe archive extraction, in pure Python (no ``wget``/``tar`` shell-outs).

:func:`download_file` fetches one URL into one file:

* **atomic**: bytes go to ``<dest>.part``; ``dest`` appears (``os.replace``) only once the data
  verified, so a crash, a wrong checksum or a lost connection never leaves a half file under the
  final name and never touches a good ``dest`` that was already there;
* **resumable**: a ``.part`` left by an interrupted run is continued with an HTTP ``Range`` request;
  a server that answers ``200`` instead of ``206`` (ignores ranges) restarts the file cleanly;
* **verified**: SHA-256 when known, else the exact size when known;
* **patient but not stubborn**: connection errors, timeouts, truncated bodies and ``5xx`` answers are
  retried with exponential backoff; ``404`` and other client errors fail at once;
* **explicit** on failure: :class:`DownloadError` names the URL and says where to put the file by
  hand.

:func:`extract_archive` unpacks ``.tar``, ``.tar.gz``/``.tgz`` and ``.zip`` files after checking
every member (no absolute paths, no ``..``, no links leaving the folder, no device files) into a
temporary folder next to the destination, then moves the result into place.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import lzma
import os
import re
import shutil
import socket
import stat
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from rrlib.io import CHUNK, sha256sum

__all__ = [
    "DownloadError",
    "ChecksumError",
    "UnsafeArchiveError",
    "download_file",
    "extract_archive",
    "file_matches",
]

USER_AGENT = "rrlib-downloader/0.1 (+https://github.com/; python-urllib)"
# Client errors worth retrying (rate limiting, request timeout); every other 4xx is final.
_RETRY_4XX = {408, 425, 429}


class DownloadError(RuntimeError):
    """A file could not be downloaded; the message names the URL and the manual fix.

    Attributes
    ----------
    url : str
        The URL that failed.
    dest : pathlib.Path
        Where the file was to be written (and where to place it by hand).
    """

    def __init__(self, message: str, url: str, dest: Path):
        super().__init__(message)
        self.url = url
        self.dest = Path(dest)


class ChecksumError(DownloadError):
    """The downloaded bytes do not match the expected SHA-256 or size."""


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the destination folder (or is a device file)."""


# --------------------------------------------------------------------------------------------
# Integrity
# --------------------------------------------------------------------------------------------
def file_matches(path: str | os.PathLike, sha256: str | None = None, size: int | None = None) -> bool:
    """Whether ``path`` is a file with the expected size and SHA-256 (each checked when given).

    With neither ``sha256`` nor ``size`` a file that exists matches: there is nothing to check.
    """
    path = Path(path)
    if not path.is_file():
        return False
    if size is not None and path.stat().st_size != size:
        return False
    if sha256 is not None and sha256sum(path) != sha256.lower():
        return False
    return True


def _manual_hint(url: str, dest: Path) -> str:
    return (
        f"To place the file by hand: fetch {url} with a browser or any other tool and save it as\n"
        f"    {dest}\n"
        "then run the same command again (a file there that verifies is used without network)."
    )


# --------------------------------------------------------------------------------------------
# Download
# --------------------------------------------------------------------------------------------
class _Transient(Exception):
    """Internal: an attempt failed in a way worth retrying."""


class _Restart(Exception):
    """Internal: the partial file cannot be continued; start again from byte 0."""


def download_file(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    size: int | None = None,
    *,
    retries: int = 5,
    timeout: float = 60.0,
    backoff: float = 1.0,
    progress: bool = True,
    desc: str | None = None,
) -> Path:
    """Download ``url`` to ``dest``: resumable, verified, atomic.

    Parameters
    ----------
    url : str
        ``http(s)://`` (resumable) or any other scheme urllib opens (``ftp://``, ``file://``;
        restarted from zero after an interruption).
    dest : path-like
        Final file name. Parent folders are created.
    sha256 : str, optional
        Expected hex SHA-256 of the whole file.
    size : int, optional
        Expected size in bytes (checked when given; the only check when ``sha256`` is unknown).
    retries : int
        Attempts after the first one for transient failures (connection errors, timeouts,
        truncated transfers, HTTP 5xx/429). HTTP 404 and other client errors are not retried.
    timeout : float
        Socket timeout in seconds for connecting and for each read.
    backoff : float
        Wait ``backoff * 2**k`` seconds before retry ``k`` (0, 1, ...).
    progress : bool
        Show a tqdm progress bar.
    desc : str, optional
        Label of the progress bar (default: the file name).

    Returns
    -------
    pathlib.Path
        ``dest``, which now exists and verifies.

    Raises
    ------
    DownloadError
        The URL could not be fetched (HTTP error, offline, retries exhausted). The message names
        the URL and where to place the file by hand; a ``.part`` file is kept so that a rerun
        resumes.
    ChecksumError
        The data arrived but does not match ``sha256``/``size``; the bad ``.part`` is removed and
        ``dest`` (if it existed before) is left untouched.
    """
    dest = Path(dest)
    if file_matches(dest, sha256, size):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if part.is_file() and size is not None and part.stat().st_size > size:
        part.unlink()  # longer than the real file: not a prefix of it

    restarted_after_mismatch = False
    attempt = 0
    last_error: BaseException | None = None
    while True:
        try:
            resumed = _fetch_to_part(url, dest, part, size, timeout, progress, desc or dest.name)
        except _Restart:
            part.unlink(missing_ok=True)
            continue  # immediately, it is not a failure of the server
        except _Transient as exc:
            last_error = exc.__cause__ or exc
            if attempt >= retries:
                break
            time.sleep(backoff * 2**attempt)
            attempt += 1
            continue

        # The transfer completed: verify before the file gets its final name.
        actual_size = part.stat().st_size
        bad = []
        if size is not None and actual_size != size:
            bad.append(f"size {actual_size:,} bytes, expected {size:,}")
        if sha256 is not None and not bad:
            digest = sha256sum(part)
            if digest != sha256.lower():
                bad.append(f"sha256 {digest}, expected {sha256.lower()}")
        if not bad:
            os.replace(part, dest)
            return dest
        part.unlink(missing_ok=True)
        if resumed and not restarted_after_mismatch:
            # A resumed file can be spoiled by a server whose file changed between the two
            # transfers: one clean download from byte 0 settles it.
            restarted_after_mismatch = True
            continue
        where = f" (the existing {dest} was kept)" if dest.exists() else ""
        raise ChecksumError(
            f"Checksum mismatch for {url}: {'; '.join(bad)}. The download was discarded{where}. "
            "The file on the server may have changed or the transfer was corrupted; try again, "
            f"or check the URL.\n{_manual_hint(url, dest)}",
            url,
            dest,
        )

    reason = _describe(last_error).rstrip(".")
    reason += "" if reason.endswith("?") else "."
    kept = f" The partial data is kept in {part}; a rerun resumes it." if part.is_file() else ""
    raise DownloadError(
        f"Could not download {url} after {retries + 1} attempt(s): {reason}{kept}\n"
        f"{_manual_hint(url, dest)}",
        url,
        dest,
    ) from last_error


def _describe(error: BaseException | None) -> str:
    """A short human reason for a failed transfer (offline, refused, timeout, HTTP status...)."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        inner = error.reason
        if isinstance(inner, socket.gaierror):
            return f"host name not resolved ({inner}); are you offline?"
        if isinstance(inner, ConnectionRefusedError):
            return f"connection refused ({inner}); are you offline or is the server down?"
        return f"network error ({inner}); are you offline?"
    if isinstance(error, (TimeoutError, socket.timeout)):
        return f"timed out ({error})"
    return f"{type(error).__name__}: {error}"


def _open(url: str, offset: int, timeout: float, dest: Path):
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset > 0:
            raise _Restart from exc  # our partial file is no prefix the server knows about
        if exc.code >= 500 or exc.code in _RETRY_4XX:
            raise _Transient from exc
        raise DownloadError(
            f"Download of {url} failed: HTTP {exc.code} {exc.reason} "
            f"({'the file is not on the server' if exc.code in (404, 410) else 'request refused'}; "
            "the URL may have moved: check the dataset's home page).\n"
            f"{_manual_hint(url, dest)}",
            url,
            dest,
        ) from exc
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError,
            socket.timeout) as exc:
        raise _Transient from exc


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _fetch_to_part(url: str, dest: Path, part: Path, size: int | None, timeout: float,
                   progress: bool, desc: str) -> bool:
    """One attempt: append the missing bytes to ``part``. Returns whether it resumed."""
    offset = part.stat().st_size if part.is_file() else 0
    if size is not None and offset == size:
        return offset > 0  # complete already (a previous run died before verifying)
    response = _open(url, offset, timeout, dest)
    with response:
        status = getattr(response, "status", None)
        if offset > 0 and status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                raise _Restart
            mode, resumed = "ab", True
        else:
            # 200 (the server ignored Range), or a scheme without ranges: start from zero.
            offset, mode, resumed = 0, "wb", False
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None and length.isdigit() else None
        total = offset + expected if expected is not None else size
        received = 0
        with open(part, mode) as f, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
            desc=desc, disable=not progress, leave=False,
        ) as bar:
            try:
                while block := response.read(CHUNK):
                    f.write(block)
                    received += len(block)
                    bar.update(len(block))
            except (http.client.HTTPException, ConnectionError, TimeoutError, socket.timeout,
                    urllib.error.URLError) as exc:
                raise _Transient from exc
        if expected is not None and received < expected:
            raise _Transient from ConnectionError(
                f"transfer cut after {offset + received:,} of {offset + expected:,} bytes"
            )
    return resumed


# --------------------------------------------------------------------------------------------
# Archives
# --------------------------------------------------------------------------------------------
def _check_member_name(name: str, archive: Path) -> PurePosixPath:
    """Refuse absolute names and ``..`` components; return the normalised relative path."""
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or re.match(r"^[A-Za-z]:", normalised):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to extract")
    parts = [p for p in normalised.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} points outside the folder ('..'); refusing to extract")
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def _inside(path: PurePosixPath) -> bool:
    """Whether a relative posix path, once '..' are resolved, stays inside its root."""
    depth = 0
    for p in path.parts:
        depth += -1 if p == ".." else (0 if p == "." else 1)
        if depth < 0:
            return False
    return True


def _check_tar(tar: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    for m in members:
        rel = _check_member_name(m.name, archive)
        if m.issym() or m.islnk():
            target = m.linkname.replace("\\", "/")
            if target.startswith("/") or re.match(r"^[A-Za-z]:", target):
                raise UnsafeArchiveError(f"{archive}: link {m.name!r} -> {m.linkname!r} is absolute; refusing to extract")
            # symlinks resolve from the link's folder, hard links from the archive root
            base = rel.parent if m.issym() else PurePosixPath(".")
            if not _inside(base / target):
                raise UnsafeArchiveError(f"{archive}: link {m.name!r} -> {m.linkname!r} leaves the folder; refusing to extract")
        elif not (m.isfile() or m.isdir()):
            raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a device or fifo; refusing to extract")
    return members


def _check_zip(zf: zipfile.ZipFile, archive: Path) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    for info in infos:
        _check_member_name(info.filename, archive)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a symbolic link; refusing to extract")
    return infos


def extract_archive(path: str | os.PathLike, dest_dir: str | os.PathLike, *, flatten: bool = False) -> list[Path]:
    """Safely extract a ``.tar``, ``.tar.gz``/``.tgz`` or ``.zip`` archive into ``dest_dir``.

    Every member is checked **before anything is written**: absolute paths, ``..`` components,
    links whose target leaves the folder, and device files raise :class:`UnsafeArchiveError`.
    The archive is then extracted into a temporary folder beside ``dest_dir`` and moved into
    place, so an error midway leaves ``dest_dir`` as it was.

    Parameters
    ----------
    path : path-like
        The archive (type detected from its content, not its name).
    dest_dir : path-like
        Destination folder, created if needed; files already there with the same names are
        replaced.
    flatten : bool
        Move every regular file to ``dest_dir`` itself, dropping sub-folders (the revisitop
        ``jpg/`` layout: ``paris/defense/x.jpg`` -> ``jpg/x.jpg``). Two files with the same name
        raise ``ValueError``.

    Returns
    -------
    list of pathlib.Path
        The extracted regular files at their final place, sorted.
    """
    path, dest_dir = Path(path), Path(dest_dir)
    try:
        return _extract(path, dest_dir, flatten)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError) as exc:
        raise ValueError(
            f"{path} is corrupt or incomplete ({type(exc).__name__}: {exc}); nothing was extracted. "
            "Delete it and download it again."
        ) from exc


def _extract(path: Path, dest_dir: Path, flatten: bool) -> list[Path]:
    if tarfile.is_tarfile(path):
        with tarfile.open(path, "r:*") as tar:
            members = _check_tar(tar, path)
            files = [_check_member_name(m.name, path) for m in members if m.isfile()]
            _check_flatten(files, flatten, path)
            with _staging(dest_dir) as tmp:
                extract_kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(tmp, members=members, **extract_kwargs)
                return _move_into_place(tmp, dest_dir, files, flatten)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            infos = _check_zip(zf, path)
            files = [_check_member_name(i.filename, path) for i in infos if not i.is_dir()]
            _check_flatten(files, flatten, path)
            with _staging(dest_dir) as tmp:
                zf.extractall(tmp)
                return _move_into_place(tmp, dest_dir, files, flatten)
    raise ValueError(f"{path} is neither a tar nor a zip archive (corrupt or incomplete download?)")


def _check_flatten(files: list[PurePosixPath], flatten: bool, archive: Path) -> None:
    if not flatten:
        return
    seen: dict[str, PurePosixPath] = {}
    for f in files:
        if f.name in seen:
            raise ValueError(f"{archive}: {seen[f.name]} and {f} would both become {f.name} when flattened")
        seen[f.name] = f


class _staging:
    """Context manager: a temporary folder next to ``dest_dir`` (same file system), removed at exit."""

    def __init__(self, dest_dir: Path):
        self.dest_dir = dest_dir

    def __enter__(self) -> Path:
        self.dest_dir.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.dest_dir.name}.extract-", dir=self.dest_dir.parent))
        return self.tmp

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def _move_into_place(tmp: Path, dest_dir: Path, files: list[PurePosixPath], flatten: bool) -> list[Path]:
    dest_dir.mkdir(parents=True, exist_ok=True)
    if flatten:
        out = []
        for rel in files:
            target = dest_dir / rel.name
            os.replace(tmp / rel, target)
            out.append(target)
        return sorted(out)
    _merge(tmp, dest_dir)
    return sorted(dest_dir / rel for rel in files)


def _merge(src: Path, dst: Path) -> None:
    """Move the content of folder ``src`` into folder ``dst``, merging sub-folders."""
    for entry in src.iterdir():
        target = dst / entry.name
        if entry.is_dir() and not entry.is_symlink() and target.is_dir() and not target.is_symlink():
            _merge(entry, target)
        else:
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(entry, target)
