"""A run folder's life outside its files: made under a name no other run has, written by
one runner at a time, and resumed only on the data it was started on.

One writer: an exclusive ``flock`` on ``<run>/run.lock``, held while a runner fills the
folder. The kernel drops it when its holder exits, however it exits (a SIGKILL too), so a
lock is never left stuck; the file names the holder for the message.

Device side: Python 3.6, standard library only (Linux).
"""
import fcntl
import os
import socket
import time
from typing import Any, Dict, List, Optional, Tuple

from bench.dataset import MISSING


class ResumeRefused(Exception):
    """The run cannot be continued as asked; the message says what differs."""


class RunLocked(Exception):
    """Another process is writing this run; the message names the run and that process."""


def hold(path: str) -> Tuple[Optional[int], str]:
    """An exclusive ``flock`` on ``path`` for this process, held while the returned descriptor
    is open (not inherited by children), with the holder named in the file; (None, the
    holder's name) when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 512).decode("utf-8", "replace").strip() or "a process that named itself nowhere"
        os.close(fd)
        return None, holder
    os.ftruncate(fd, 0)
    os.write(fd, ("pid %d on %s since %s" % (os.getpid(), socket.gethostname(),
                                             time.strftime("%Y-%m-%dT%H:%M:%S%z"))).encode())
    return fd, ""


class RunLock:
    def __init__(self, run_dir: str) -> None:
        self.path = os.path.join(run_dir, "run.lock")
        fd, holder = hold(self.path)
        if fd is None:
            raise RunLocked("%s is being written by another runner (%s); wait for it to end, or stop it, "
                            "before resuming this run" % (run_dir, holder))
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def create(parent: str) -> str:
    """A new, empty run folder under ``parent``, named for the time (``20261123-160000``);
    two runs started in one second get ``-2``, ``-3``... rather than one folder. An OSError
    naming ``parent`` where it cannot be made."""
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise OSError("results folder %s: cannot be made (%s)" % (parent, exc.strerror or exc))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        path = os.path.join(parent, stamp if n == 1 else "%s-%d" % (stamp, n))
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue
    raise OSError("%s: no free run folder name for %s" % (parent, stamp))


def dataset_changes(started: Dict[str, Any], now: Dict[str, Any]) -> List[str]:
    """What differs between the dataset a run started on (run.json's ``dataset``) and
    today's (``dataset_hashes``): empty when it is the same."""
    out = []
    if started.get("manifest_sha256") != now["manifest_sha256"]:
        out.append("the manifest %s has changed (sha256 %s... then, %s... now)"
                   % (started.get("path"), (started.get("manifest_sha256") or "?")[:12], now["manifest_sha256"][:12]))
    elif started.get("content_sha256") != now["content_sha256"]:
        then, today = started.get("image_sha256") or {}, now.get("image_sha256") or {}
        changed = ["%s (%s)" % (sample, "gone" if today.get(sample) == MISSING else
                                "appeared" if then.get(sample) == MISSING else "changed")
                   for sample in today if sample in then and then[sample] != today[sample]]
        named = ": %s%s" % (", ".join(changed[:5]), " and %d more" % (len(changed) - 5) if len(changed) > 5 else "") \
            if changed else ""
        out.append("images named by %s have changed, appeared or gone%s (content sha256 %s... then, %s... now)"
                   % (started.get("path"), named, (started.get("content_sha256") or "?")[:12],
                      now["content_sha256"][:12]))
    return out
