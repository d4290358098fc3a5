"""Helper processes forked from this one: when that is safe, and how each is started.

The CLI's map process (:mod:`siting.mapchild`) and the forked tiles
(:mod:`siting.forktiles`) share this process's memory by forking it. A fork copies the
calling thread only: a lock another thread held would stay locked in the child, so a fork
is made only from the main thread of a process that runs no other (:func:`can_fork`), on
Linux, where the child can ask to be killed with its parent (``PR_SET_PDEATHSIG``): a
killed first process leaves no helper behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def can_fork() -> bool:
    """Whether a helper may be forked now (Linux, the main thread, no other thread)."""
    return (
        sys.platform.startswith("linux")
        and hasattr(os, "fork")
        and threading.current_thread() is threading.main_thread()
        and threading.active_count() == 1
    )


def fork(child: Callable[[], None]) -> int:
    """Fork a helper that runs `child()` and exits (0, or 1 if it raised); its pid.

    The helper ignores Ctrl-C (the first process handles it and ends its helpers), takes
    SIGTERM's default, and is killed with the first process. Nothing the first has
    buffered on stdout or stderr is written twice. Call only where :func:`can_fork`.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    code = 0  # the helper: never returns
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _die_with(parent)
        child()
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _die_with(parent: int) -> None:
    """Be killed when `parent` dies."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before the call
        os._exit(0)


__all__ = ["can_fork", "fork"]
