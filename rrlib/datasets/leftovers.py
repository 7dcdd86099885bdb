"""Temporary folders named after the process that writes them, removed once that process is gone.

A writer that builds something big beside its destination (an extraction staging folder, a
dataset being generated) names its temporary folder ``<prefix><pid>@<host>`` (plus anything after a
further ``@``), from :func:`owner_tag`. A run killed before it could clean up leaves that folder
behind; the next run calls :func:`remove_stale` with the same prefix, which removes the folders whose
process no longer runs on this host. Folders of live processes (a concurrent run) and of other
hosts (a data root shared over the network) are left alone.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
from pathlib import Path

__all__ = ["owner_tag", "process_alive", "remove_stale"]


def _host() -> str:
    return re.sub(r"[@/\\]", "_", socket.gethostname()) or "localhost"


def owner_tag() -> str:
    """``<pid>@<host>`` of this process, for the name of a temporary folder."""
    return f"{os.getpid()}@{_host()}"


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (always True where this cannot be asked)."""
    if os.name != "posix":  # os.kill(pid, 0) is not a harmless probe on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # exists but belongs to someone else / not a pid: leave it alone
    return True


def remove_stale(folder: str | os.PathLike, prefix: str) -> list[Path]:
    """Remove ``folder/<prefix><pid>@<host>[@...]`` entries whose process is dead; returns them."""
    folder = Path(folder)
    pattern = re.compile(re.escape(prefix) + r"(\d+)@([^@]+)(@.*)?")
    removed = []
    try:
        entries = list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if not match or match.group(2) != _host():
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or process_alive(pid):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed
