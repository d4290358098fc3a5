"""A second process that draws `map.html` while the first writes the data files (the CLI).

Drawing the map is Python work (folium, GeoJSON, Jinja) that holds the GIL, so on a thread
beside the data files (GDAL's writes) it gains little. :meth:`MapChild.start` forks a
process once the geo stack is loaded, just before the study runs: it inherits those
modules, loads folium and the map's own (~0.15 s) on the second core while the first runs
the study, then waits. :meth:`MapChild.draw` sends it the finished `Results`, pickled with
the buildings' heat cells in place of the buildings (~1 MB for Lyngby's 21k buildings); it
draws and saves the map while the first process writes the GeoPackage and the GeoTIFF, and
:meth:`MapChild.wait` collects the outcome. The first process never loads folium. (Forked
before the geo stack loads, the child's own imports slowed the first process's imports
and threaded read more than it gained: measured, and not done.)

Only where it is safe and pays: Linux (``fork``, and ``PR_SET_PDEATHSIG`` so the child
never outlives its parent), from the main thread of a process that runs no other thread
(a fork copies one thread; a lock another one held would stay locked in the child), and
for studies of at most `MAX_BUILDINGS` buildings (a bigger one's layers, such as the
street heat density with a row per street edge, would take long to pickle: it draws in
the first process, as notebooks always do). A child that dies without an answer is not an
error: the caller draws the map itself.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import signal
import traceback
from pathlib import Path
from typing import Any

from siting import forking

MAX_BUILDINGS = 250_000  # larger studies draw their map in the first process


class MapChildLost(RuntimeError):
    """The map process ended without an answer (killed, or out of memory)."""


class MapChild:
    """A forked process that draws one map when sent a study's results."""

    def __init__(self, pid: int, job_fd: int, reply_fd: int) -> None:
        self.pid = pid
        self._job_fd: int | None = job_fd
        self._reply_fd: int | None = reply_fd

    @classmethod
    def start(cls, preload: tuple[str, ...] = ("siting.maps",)) -> MapChild | None:
        """Fork the map process now, or None where that is not safe (see the module).

        The child imports the `preload` modules while it waits: what drawing the map needs
        beyond what this process has loaded.
        """
        if not forking.can_fork():
            return None
        job_r, job_w = os.pipe()
        reply_r, reply_w = os.pipe()

        def child() -> None:
            os.close(job_w)
            os.close(reply_r)
            _child(job_r, reply_w, preload)

        pid = forking.fork(child)
        os.close(job_r)
        os.close(reply_w)
        return cls(pid, job_w, reply_r)

    def takes(self, results: Any) -> bool:
        """Whether this study's map is drawn here (small enough to send)."""
        return self._job_fd is not None and results.n_buildings <= MAX_BUILDINGS

    def draw(
        self,
        results: Any,
        map_kwargs: dict[str, Any],
        path: str | Path,
        self_contained: bool,
    ) -> None:
        """Send the results; the child draws ``results.map(**map_kwargs)`` into `path`
        while the caller goes on.

        Written here, not on a thread: the child reads as fast as this writes (~10 ms for
        11 MB), whereas a sending thread waits for the GIL at every 64 KB the pipe holds
        while the caller writes its files (~0.3 s for Lyngby's results).
        """
        if self._job_fd is None:
            raise MapChildLost("the map process was closed")
        fd, self._job_fd = self._job_fd, None
        try:
            job = (results, dict(map_kwargs), str(path), bool(self_contained))
            data = pickle.dumps(job, protocol=5)
        except Exception as exc:  # something in them does not pickle: drawn by the caller
            os.close(fd)  # the child ends without a job
            raise MapChildLost(f"the results could not be sent: {exc}") from exc
        try:
            with os.fdopen(fd, "wb") as pipe:
                pipe.write(data)
        except OSError as exc:  # the child is gone (a broken pipe)
            raise MapChildLost(f"the map process did not take the results: {exc}") from exc

    def wait(self) -> None:
        """Wait for the map; raise the error drawing it raised, or `MapChildLost`."""
        if self._reply_fd is None:
            raise MapChildLost("the map process was closed")
        if self._job_fd is not None:  # never sent a job: the child ends without one
            os.close(self._job_fd)
            self._job_fd = None
        fd, self._reply_fd = self._reply_fd, None
        with os.fdopen(fd, "rb") as pipe:
            reply = pipe.read()
        self._reap()
        if not reply:
            raise MapChildLost("the map process ended without drawing the map")
        status, payload = pickle.loads(reply)
        if status == "error":
            raise payload
        if status != "ok":
            raise MapChildLost(f"the map process answered {status!r}")

    def close(self) -> None:
        """End the child (if it still waits or draws) and free its pipes; idempotent."""
        for name in ("_job_fd", "_reply_fd"):
            fd = getattr(self, name)
            if fd is not None:
                setattr(self, name, None)
                with contextlib.suppress(OSError):
                    os.close(fd)
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._reap()

    def _reap(self) -> None:
        if self.pid:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = 0


def _child(job_fd: int, reply_fd: int, preload: tuple[str, ...]) -> None:
    """The map process: load the map's modules, wait for one job, draw it, answer."""
    for name in preload:  # folium and the rest, while the study runs
        importlib.import_module(name)
    with os.fdopen(job_fd, "rb") as pipe:
        try:
            results, map_kwargs, path, self_contained = pickle.load(pipe)
        except EOFError:  # closed without a job: no map wanted
            return
    try:
        results.map(self_contained=self_contained, **map_kwargs).save(path)
        reply = pickle.dumps(("ok", None))
    except Exception as exc:
        try:
            reply = pickle.dumps(("error", exc))
        except Exception:  # an exception that does not pickle: its text
            reply = pickle.dumps(("error", RuntimeError(traceback.format_exc())))
    with os.fdopen(reply_fd, "wb") as pipe:
        pipe.write(reply)


__all__ = ["MAX_BUILDINGS", "MapChild", "MapChildLost"]
