"""The lock of a sweep store: one run at a time writes into it.

:class:`StoreLock` — a lock file ``<store>.lock`` beside the store's resolved path with
the pid, host and process start time of the run; a second run into the same store (by
any alias of its path) is refused; a lock left by a dead process on the same host is
taken over.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .dataset import StoreError

__all__ = ["StoreLock"]


class StoreLock:
    """An exclusive lock on a store: the file ``<store>.lock`` with pid, host, start time.

    The lock file sits beside the store's resolved path, so every alias of one store (a
    symlink, a relative path, ``..`` components) takes the same lock.

    Use as a context manager. A lock held by a live process (or by any process on
    another host) raises :class:`StoreError`; a lock left by a dead process on this host
    is taken over.
    """

    def __init__(self, store: str | Path):
        # the real path: a symlink or another spelling of the same store takes this lock
        store = Path(store).resolve()
        self.path = store.with_name(store.name + ".lock")
        self.held = False

    def _me(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "host": socket.gethostname(),
                "started": _process_start(os.getpid())}

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._read()
                if owner is not None and self._alive(owner):
                    raise StoreError(
                        f"store {str(self.path)[:-5]!r} is in use by another run (pid "
                        f"{owner.get('pid')} on host {owner.get('host')}, lock file "
                        f"{str(self.path)!r}); wait for it to finish, or remove the lock "
                        "file if that run is gone"
                    ) from None
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)  # stale: the owner is dead
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(self._me(), f)
            self.held = True
            return
        raise StoreError(f"could not take the lock {str(self.path)!r}")

    def _read(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None  # unreadable or half-written: treated as stale

    def _alive(self, owner: Mapping[str, Any]) -> bool:
        if owner.get("host") != socket.gethostname():
            return True  # cannot tell: refuse
        pid = owner.get("pid")
        if not isinstance(pid, int):
            return False
        started = _process_start(pid)
        if started is None:
            return False
        return owner.get("started") in (None, started)  # a reused pid is another process

    def release(self) -> None:
        if self.held:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self.held = False

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _process_start(pid: int) -> float | None:
    """Start time of a process (None when it does not exist)."""
    try:
        import psutil

        return psutil.Process(pid).create_time()
    except Exception:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return 0.0
        return 0.0
