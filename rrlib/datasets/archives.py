"""Safe, verified extraction of ``.tar`` (plain, gzip, bzip2, xz) and ``.zip`` archives, in pure Python.

:func:`extract_archive` accepts an archive only after it was read to its end:

1. **verified**: a compressed tar is decompressed to its last byte, so that gzip / bzip2 / xz check
   their CRC (tar itself stops at its end-of-archive marker and would never read it), and
   everything after that marker must be zero padding (a damaged header in the middle makes tar
   stop early, silently); every zip member is read and its CRC-32 checked;
2. **checked**: every member is checked before anything is written -- no absolute names, no
   ``..``, no device files or fifos, and no link whose target leaves the folder, resolved through
   the symbolic links that *earlier members create* (a chain ``d/up -> ..`` then ``d/up/x -> ..``
   looks harmless name by name and leaves the folder two levels up);
3. **staged**: extracted into a temporary folder beside the destination, named after this process
   (:mod:`rrlib.datasets.leftovers`: the next run removes the staging folders of killed runs),
   with tarfile's ``data`` filter where Python has it (3.10.12+, 3.11.4+, 3.12+) and, where it does
   not, with members stripped to plain files and folders of ordinary permissions;
4. **moved into place** without deleting anything: a member that would replace an existing folder
   by a file (or a file by a folder) is refused, before anything is moved.
"""
from __future__ import annotations

import copy
import gzip
import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from rrlib.datasets.leftovers import owner_tag, remove_stale
from rrlib.io import CHUNK

__all__ = ["UnsafeArchiveError", "extract_archive"]

#: Whether this Python's tarfile has the ``data`` extraction filter (PEP 706).
HAS_DATA_FILTER = hasattr(tarfile, "data_filter")
_MAX_LINK_HOPS = 40  # as the kernel's ELOOP limit


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the destination folder, is a device file, or would
    replace an existing folder."""


def _staging_prefix(dest_dir: Path) -> str:
    return f".{dest_dir.name}.extract-"


def extract_archive(path: str | os.PathLike, dest_dir: str | os.PathLike, *, flatten: bool = False) -> list[Path]:
    """Verify, check and extract a tar (plain / gz / bz2 / xz) or zip archive into ``dest_dir``.

    See the module docstring for what is verified and refused. ``dest_dir`` is left as it was when
    anything fails.

    Parameters
    ----------
    path : path-like
        The archive (type detected from its content, not its name).
    dest_dir : path-like
        Destination folder, created if needed; files already there with the same names are
        replaced (folders never are).
    flatten : bool
        Move every regular file to ``dest_dir`` itself, dropping sub-folders (the revisitop
        ``jpg/`` layout: ``paris/defense/x.jpg`` -> ``jpg/x.jpg``). Two files with the same name
        raise ``ValueError``.

    Returns
    -------
    list of pathlib.Path
        The extracted regular files at their final place, sorted.

    Raises
    ------
    ValueError
        The archive is corrupt, incomplete or not an archive (the message names the file).
    UnsafeArchiveError
        A member is unsafe (the message names the archive and the member).
    """
    path, dest_dir = Path(path), Path(dest_dir)
    remove_stale(dest_dir.parent, _staging_prefix(dest_dir))
    try:
        return _extract(path, dest_dir, flatten)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError,
            OSError) as exc:
        if type(exc) is not gzip.BadGzipFile and isinstance(exc, OSError) and not _is_decompression_error(exc):
            raise  # a real I/O error (disk full, permissions): not the archive's fault
        raise ValueError(
            f"{path} is corrupt or incomplete ({type(exc).__name__}: {exc}); nothing was extracted. "
            "Delete it and download it again."
        ) from exc


def _is_decompression_error(exc: OSError) -> bool:
    """bz2 reports a damaged stream as a bare OSError ("Invalid data stream")."""
    return type(exc) is OSError and exc.errno is None


def _extract(path: Path, dest_dir: Path, flatten: bool) -> list[Path]:
    if tarfile.is_tarfile(path):
        with tarfile.open(path, "r:*") as tar:
            members = _check_tar(tar, path)
            _verify_tar_end(tar, path)
            files = [_check_member_name(m.name, path) for m in members if m.isfile()]
            _check_flatten(files, flatten, path)
            with _staging(dest_dir) as tmp:
                if HAS_DATA_FILTER:
                    tar.extractall(tmp, members=members, filter="data")
                else:
                    tar.extractall(tmp, members=[_plain(m) for m in members])
                return _move_into_place(tmp, dest_dir, files, flatten, path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            infos = _check_zip(zf, path)
            bad = zf.testzip()  # reads every member, checks its CRC-32
            if bad is not None:
                raise zipfile.BadZipFile(f"member {bad!r} fails its CRC check")
            files = [_check_member_name(i.filename, path) for i in infos if not i.is_dir()]
            _check_flatten(files, flatten, path)
            with _staging(dest_dir) as tmp:
                zf.extractall(tmp)
                return _move_into_place(tmp, dest_dir, files, flatten, path)
    raise ValueError(f"{path} is neither a tar nor a zip archive (corrupt or incomplete download?)")


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------
def _verify_tar_end(tar: tarfile.TarFile, archive: Path) -> None:
    """Read the archive past tar's end marker to its last byte: the decompressor checks its CRC
    there, and all of it must be zeros (data after the marker means tar stopped at a bad header)."""
    while block := tar.fileobj.read(CHUNK):
        if block.strip(b"\0"):
            raise tarfile.ReadError(
                "data after the end of the tar listing: a damaged member header ended the listing early"
            )


# --------------------------------------------------------------------------------------------
# Member checks
# --------------------------------------------------------------------------------------------
def _refuse(archive: Path, member: str, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(f"{archive}: member {member!r} {why}; refusing to extract")


def _is_absolute(name: str) -> bool:
    return name.startswith("/") or re.match(r"^[A-Za-z]:", name) is not None


def _check_member_name(name: str, archive: Path) -> PurePosixPath:
    """Refuse absolute names and ``..`` components; return the normalised relative path."""
    normalised = name.replace("\\", "/")
    if _is_absolute(normalised):
        raise _refuse(archive, name, "has an absolute path")
    parts = [p for p in normalised.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _refuse(archive, name, "points outside the folder ('..')")
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


class _Escape(Exception):
    """Internal: a path resolves outside the extraction folder."""


def _resolve(parts: tuple[str, ...], links: dict[tuple[str, ...], str]) -> tuple[str, ...]:
    """Where a relative path lands once the symbolic links in ``links`` (created by earlier members:
    resolved location -> target) are followed, as the kernel would; raises _Escape above the root."""
    pending, out, hops = list(parts), [], 0
    while pending:
        p = pending.pop(0)
        if p in ("", "."):
            continue
        if p == "..":
            if not out:
                raise _Escape
            out.pop()
            continue
        out.append(p)
        target = links.get(tuple(out))
        if target is not None:
            hops += 1
            if hops > _MAX_LINK_HOPS or _is_absolute(target):
                raise _Escape
            out.pop()
            pending[:0] = _parts(target)
    return tuple(out)


def _parts(name: str) -> tuple[str, ...]:
    return tuple(name.replace("\\", "/").split("/"))


def _check_tar(tar: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    """Refuse unsafe members; links are resolved through the links earlier members created."""
    members = tar.getmembers()
    links: dict[tuple[str, ...], str] = {}
    for m in members:
        rel = _check_member_name(m.name, archive)
        if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
            raise _refuse(archive, m.name, "is a device or fifo")
        if (m.issym() or m.islnk()) and _is_absolute(m.linkname.replace("\\", "/")):
            raise _refuse(archive, m.name, f"links to the absolute path {m.linkname!r}")
        try:
            parent = _resolve(rel.parent.parts, links)  # where the member's folder really is
            if m.issym():
                _resolve(parent + _parts(m.linkname), links)
                links[parent + (rel.name,)] = m.linkname
            elif m.islnk():
                _resolve(_parts(m.linkname), links)  # hard links resolve from the archive root
            else:
                _resolve(parent + (rel.name,), links)  # writing a file follows a link of that name
        except _Escape:
            what = f"links to {m.linkname!r}, which" if (m.issym() or m.islnk()) else "is written through links that"
            raise _refuse(archive, m.name, f"{what} leave the folder") from None
    for where, target in links.items():  # a later link can change where an earlier one points
        try:
            _resolve(where[:-1] + _parts(target), links)
        except _Escape:
            raise _refuse(archive, "/".join(where), f"links to {target!r}, which leaves the folder "
                          "once the archive's other links exist") from None
    return members


def _plain(member: tarfile.TarInfo) -> tarfile.TarInfo:
    """A copy with ordinary permissions and no owner (what the ``data`` filter does), for Pythons
    without that filter: no set-uid bits, no chown to the archive's users when run as root."""
    member = copy.copy(member)
    member.mode = 0o755 if member.isdir() else (0o755 if member.mode & 0o100 else 0o644)
    member.uid, member.gid, member.uname, member.gname = os.getuid(), os.getgid(), "", ""
    return member


def _check_zip(zf: zipfile.ZipFile, archive: Path) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    for info in infos:
        _check_member_name(info.filename, archive)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise _refuse(archive, info.filename, "is a symbolic link")
    return infos


def _check_flatten(files: list[PurePosixPath], flatten: bool, archive: Path) -> None:
    if not flatten:
        return
    seen: dict[str, PurePosixPath] = {}
    for f in files:
        if f.name in seen:
            raise ValueError(f"{archive}: {seen[f.name]} and {f} would both become {f.name} when flattened")
        seen[f.name] = f


# --------------------------------------------------------------------------------------------
# Staging and moving into place
# --------------------------------------------------------------------------------------------
class _staging:
    """Context manager: a temporary folder next to ``dest_dir`` (same file system), removed at exit.

    Its name carries this process's :func:`owner_tag`, so that a run killed midway leaves a folder
    the next :func:`extract_archive` into the same destination removes.
    """

    def __init__(self, dest_dir: Path):
        self.dest_dir = dest_dir

    def __enter__(self) -> Path:
        self.dest_dir.parent.mkdir(parents=True, exist_ok=True)
        prefix = f"{_staging_prefix(self.dest_dir)}{owner_tag()}@"
        self.tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=self.dest_dir.parent))
        return self.tmp

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def _is_real_dir(p: Path) -> bool:
    return p.is_dir() and not p.is_symlink()


def _clashes(src: Path, dst: Path, archive: Path, rel: PurePosixPath = PurePosixPath()) -> None:
    """Refuse before moving anything: a file that would replace a folder, or a folder a file."""
    for entry in src.iterdir():
        target, name = dst / entry.name, rel / entry.name
        if _is_real_dir(entry):
            if _is_real_dir(target):
                _clashes(entry, target, archive, name)
            elif os.path.lexists(target):
                raise _refuse(archive, str(name), f"is a folder but {target} exists and is not one")
        elif _is_real_dir(target):
            raise _refuse(archive, str(name), f"would replace the existing folder {target}")


def _move_into_place(tmp: Path, dest_dir: Path, files: list[PurePosixPath], flatten: bool,
                     archive: Path) -> list[Path]:
    if os.path.lexists(dest_dir) and not _is_real_dir(dest_dir):
        raise UnsafeArchiveError(f"{archive}: the destination {dest_dir} exists and is not a folder; refusing to extract")
    if flatten:
        for rel in files:
            if _is_real_dir(dest_dir / rel.name):
                raise _refuse(archive, str(rel), f"would replace the existing folder {dest_dir / rel.name}")
    elif dest_dir.exists():
        _clashes(tmp, dest_dir, archive)
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
    """Move the content of folder ``src`` into folder ``dst``, merging sub-folders (clashes were
    refused by :func:`_clashes`, so nothing here replaces a folder)."""
    for entry in src.iterdir():
        target = dst / entry.name
        if _is_real_dir(entry) and _is_real_dir(target):
            _merge(entry, target)
        else:
            os.replace(entry, target)
