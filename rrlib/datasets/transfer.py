"""Robust downloads in pure Python (no ``wget`` shell-outs): atomic, resumable, verified, bounded.

:func:`download_file` fetches one URL into one file:

* **atomic**: bytes go to ``<dest>.part``; ``dest`` appears (``os.replace``) only once the data
  verified, so a crash, a wrong checksum or a lost connection never leaves a half file under the
  final name and never touches a good ``dest`` that was already there;
* **verified**: SHA-256 when known (or a prefix of it, as in torch.hub's file names), else the
  exact size when known;
* **bounded**: never more bytes are read than the known length -- the pinned ``size``, else the
  total the server announced (``Content-Length``, ``Content-Range``). A server that announces
  another size than the pinned one is refused before its body is read, and one that sends more
  than it announced is cut off: a bad server cannot fill the disk;
* **complete**: a body counts as complete only when its length is confirmed -- by ``size``, by the
  server's ``Content-Length`` (or chunked framing), or, for a body that simply ends when the
  connection closes, by a ranged request at its end whose ``Content-Range`` gives the file's total.
  A server that gives no length and ignores ranges cannot be confirmed: :class:`DownloadError`;
* **resumable without splicing**: a ``.part`` left by an interrupted run is continued with
  ``Range: bytes=<n - 64 KiB>-``. The first 64 KiB of the answer must equal the last 64 KiB of the
  ``.part``; otherwise the ``.part`` is no prefix of the file on the server (the file changed, or
  another file has that name) and the download restarts from byte 0. A server that answers ``200``
  instead of ``206`` (ignores ranges) restarts the file cleanly. (Only a SHA-256 proves the whole
  file; the overlap proves that the two transfers join where they should.)
* **patient but not stubborn**: connection errors, timeouts, truncated bodies and ``5xx`` answers
  are retried with exponential backoff; ``404`` and other client errors fail at once;
* **explicit** on failure: :class:`DownloadError` names the URL and says where to put the file by
  hand.

Archives are unpacked by :mod:`rrlib.datasets.archives`.
"""
from __future__ import annotations

import http.client
import os
import re
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

from tqdm.auto import tqdm

from rrlib.io import CHUNK, sha256sum

__all__ = [
    "DownloadError",
    "ChecksumError",
    "download_file",
    "file_matches",
    "OVERLAP",
]

USER_AGENT = "rrlib-downloader/0.1 (+https://github.com/; python-urllib)"
# Client errors worth retrying (rate limiting, request timeout); every other 4xx is final.
_RETRY_4XX = {408, 425, 429}
#: Bytes of a ``.part`` that a resumed transfer fetches again and compares (see module docstring).
OVERLAP = 1 << 16
_HEX = re.compile(r"[0-9a-f]{6,64}")


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


# --------------------------------------------------------------------------------------------
# Integrity
# --------------------------------------------------------------------------------------------
def _normalise_sha256(sha256: str | None) -> str | None:
    """Lower-case hex digest or prefix (6 to 64 hex digits); ValueError naming ``sha256`` otherwise."""
    if sha256 is None:
        return None
    if not isinstance(sha256, str) or not _HEX.fullmatch(sha256.lower()):
        raise ValueError(f"sha256 must be 6 to 64 hex digits (a SHA-256 or a prefix of it), got {sha256!r}")
    return sha256.lower()


def _check_size(size: int | None) -> int | None:
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise ValueError(f"size must be a byte count >= 0 or None, got {size!r}")
    return size


def file_matches(path: str | os.PathLike, sha256: str | None = None, size: int | None = None) -> bool:
    """Whether ``path`` is a file with the expected size and SHA-256 (each checked when given).

    ``sha256`` may be a prefix of the digest (at least 6 hex digits, as in torch.hub's
    ``name-<sha256 prefix>.pth`` file names). With neither ``sha256`` nor ``size`` a file that
    exists matches: there is nothing to check.
    """
    path, sha256, size = Path(path), _normalise_sha256(sha256), _check_size(size)
    if not path.is_file():
        return False
    if size is not None and path.stat().st_size != size:
        return False
    if sha256 is not None and not sha256sum(path).startswith(sha256):
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
    """Internal: an attempt failed in a way worth retrying (the ``.part`` is kept)."""


class _Restart(Exception):
    """Internal: the partial file cannot be continued; start again from byte 0."""


class _Mismatch(Exception):
    """Internal: the server's file is not the expected one (announced size, or too long)."""


class _Attempt(NamedTuple):
    resumed: bool    # bytes were appended to an existing .part
    confirmed: bool  # the length of the body was checked against a known length


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
    """Download ``url`` to ``dest``: atomic, resumable, verified, bounded (see the module docstring).

    Parameters
    ----------
    url : str
        ``http(s)://`` (resumable) or any other scheme urllib opens (``ftp://``, ``file://``;
        restarted from zero after an interruption).
    dest : path-like
        Final file name. Parent folders are created.
    sha256 : str, optional
        Expected hex SHA-256 of the whole file, or a prefix of it (6+ hex digits).
    size : int, optional
        Expected size in bytes: checked, and no byte beyond it is read.
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
        The URL could not be fetched (HTTP error, offline, retries exhausted, a length that cannot
        be confirmed). The message names the URL and where to place the file by hand; a ``.part``
        file is kept so that a rerun resumes.
    ChecksumError
        The data arrived but does not match ``sha256``/``size`` (or the server announced another
        size); the bad ``.part`` is removed and ``dest`` (if it existed before) is left untouched.
    """
    dest = Path(dest)
    sha256, size = _normalise_sha256(sha256), _check_size(size)
    if file_matches(dest, sha256, size):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if part.is_file() and size is not None and part.stat().st_size > size:
        part.unlink()  # longer than the real file: not a prefix of it

    restarted_after_mismatch = False
    unconfirmed = 0
    attempt = 0
    last_error: BaseException | None = None
    while True:
        bad: list[str] = []
        try:
            result = _fetch_to_part(url, dest, part, size, timeout, progress, desc or dest.name)
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
        except _Mismatch as exc:
            bad.append(str(exc))
            result = _Attempt(resumed=exc.resumed, confirmed=True)

        if not bad and not result.confirmed:
            # A body that ended with the connection, of no known length: ask where the file ends.
            unconfirmed += 1
            if unconfirmed == 1:
                continue  # the next attempt resumes with a range request, whose answer gives the total
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"Could not download {url}: the server sends no length and ignores range requests, "
                "so a transfer cut short cannot be told from a complete one; the download was "
                f"discarded.\n{_manual_hint(url, dest)}",
                url,
                dest,
            )

        # The transfer completed: verify before the file gets its final name.
        if not bad:
            actual_size = part.stat().st_size
            if size is not None and actual_size != size:
                bad.append(f"size {actual_size:,} bytes, expected {size:,}")
            if sha256 is not None and not bad:
                digest = sha256sum(part)
                if not digest.startswith(sha256):
                    bad.append(f"sha256 {digest}, expected {sha256}")
        if not bad:
            os.replace(part, dest)
            return dest
        part.unlink(missing_ok=True)
        if result.resumed and not restarted_after_mismatch:
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


_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, socket.timeout)


def _open(url: str, range_start: int | None, timeout: float, dest: Path):
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if range_start is not None:
        headers["Range"] = f"bytes={range_start}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and range_start is not None:
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
    except _NETWORK_ERRORS as exc:
        raise _Transient from exc


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _read_exactly(response, n: int) -> bytes:
    out = b""
    while len(out) < n and (block := response.read(n - len(out))):
        out += block
    return out


def _tail(part: Path, n: int) -> bytes:
    with open(part, "rb") as f:
        f.seek(-n, os.SEEK_END)
        return f.read(n)


def _fetch_to_part(url: str, dest: Path, part: Path, size: int | None, timeout: float,
                   progress: bool, desc: str) -> _Attempt:
    """One attempt: append the missing bytes to ``part`` (checking the overlap when resuming)."""
    offset = part.stat().st_size if part.is_file() else 0
    start = max(0, offset - OVERLAP) if offset > 0 else None
    response = _open(url, start, timeout, dest)
    with response:
        status = getattr(response, "status", None)
        length = response.headers.get("Content-Length")
        body_length = int(length) if length is not None and length.strip().isdigit() else None
        chunked = "chunked" in (response.headers.get("Transfer-Encoding") or "").lower()
        total = None
        try:
            if start is not None and status == 206:
                match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
                if not match or int(match.group(1)) != start:
                    raise _Restart
                total = int(match.group(3)) if match.group(3).isdigit() else None
                overlap = _read_exactly(response, offset - start)
                if len(overlap) < offset - start:
                    raise _Transient from ConnectionError(f"transfer cut after {start + len(overlap):,} bytes")
                if overlap != _tail(part, offset - start):
                    raise _Restart  # the .part is not a prefix of the file on the server
                mode, resumed = "ab", True
            else:
                # 200 (the server ignored Range), or a scheme without ranges: start from zero.
                offset, mode, resumed = 0, "wb", False
                total = body_length
            if total is None and body_length is not None:
                total = offset + body_length
            limit = size if size is not None else total
            try:
                if size is not None and total is not None and total != size:
                    raise _Mismatch(f"the server announces {total:,} bytes, expected {size:,}")
                received = _copy_body(response, part, mode, offset, limit, progress, desc)
            except _Mismatch as exc:
                exc.resumed = resumed
                raise
        except _NETWORK_ERRORS as exc:
            raise _Transient from exc
    end = offset + received
    if limit is not None and end < limit:
        raise _Transient from ConnectionError(f"transfer cut after {end:,} of {limit:,} bytes")
    return _Attempt(resumed, confirmed=limit is not None or chunked)


def _copy_body(response, part: Path, mode: str, offset: int, limit: int | None, progress: bool,
               desc: str) -> int:
    """Append the body to ``part``; never read past ``limit`` (+1 byte, to see that there is more)."""
    received = 0
    with open(part, mode) as f, tqdm(
        total=limit, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
        desc=desc, disable=not progress, leave=False,
    ) as bar:
        while True:
            want = CHUNK if limit is None else min(CHUNK, limit - offset - received + 1)
            block = response.read(want)
            if not block:
                return received
            if limit is not None and offset + received + len(block) > limit:
                raise _Mismatch(f"the server sends more than {limit:,} bytes")
            f.write(block)
            received += len(block)
            bar.update(len(block))
