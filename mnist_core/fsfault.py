"""What a filesystem error means for a person: one line naming the path and what to do, in
place of a traceback (a full disk, a read-only folder, a path that is a file)."""
from __future__ import annotations

import errno

_WHAT_TO_DO = {
    errno.ENOSPC: "the disk is full: free some space, or point MNIST_RUNS_DIR at another disk",
    errno.EDQUOT: "the disk quota is used up: free some space, or point MNIST_RUNS_DIR elsewhere",
    errno.EROFS: "it is on a read-only file system: choose a folder you can write to "
                 "(--runs-dir or MNIST_RUNS_DIR)",
    errno.EACCES: "permission denied: choose a folder you can write to (--runs-dir or MNIST_RUNS_DIR)",
    errno.EPERM: "permission denied: choose a folder you can write to (--runs-dir or MNIST_RUNS_DIR)",
    errno.ENOTDIR: "part of that path is a file, not a folder: choose another path",
    errno.EISDIR: "that path is a folder: name a file inside it",
    errno.EEXIST: "something is already there: choose another path",
    errno.ENOENT: "it does not exist: check the path",
}


def describe(exc: OSError) -> str:
    """'could not use /runs/x: the disk is full: free some space, ...'"""
    path = exc.filename or "a file"
    if exc.filename2:
        path = f"{path} -> {exc.filename2}"
    hint = _WHAT_TO_DO.get(exc.errno, exc.strerror or type(exc).__name__)
    return f"could not use {path}: {hint}"
