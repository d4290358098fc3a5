"""Publication of result sets (siting.outputs), in process: swap, fallback, leftovers."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

from siting import outputs
from siting.errors import OutputError
from siting.outputs import INCOMPLETE, MANIFEST, check_complete, clean_leftovers, staged_output

LEGACY = ("a.csv", "b.gpkg", "map.html")


def _publish(out: Path, files: dict[str, str], what: str = "results") -> dict[str, Path]:
    with staged_output(out, what, legacy_names=LEGACY) as stage:
        for name, text in files.items():
            (stage.dir / name).write_text(text)
        return stage.publish(list(files))


def _tmp_dirs(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".siting-tmp-")]


@pytest.fixture(params=["exchange", "files"])
def mode(request, monkeypatch):
    if request.param == "exchange" and outputs._renameat2 is None:
        pytest.skip("renameat2 is not available on this platform")
    monkeypatch.setenv(outputs.MODE_ENV, request.param)
    return request.param


def test_exchange_is_available_here(tmp_path):
    """Linux with renameat2: the default mode swaps folders (the fallback is tested too)."""
    if outputs._renameat2 is None:
        pytest.skip("renameat2 is not available on this platform")
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a")
    outputs.exchange(a, b)
    assert (b / "x").read_text() == "a" and not (a / "x").exists()
    assert outputs._choose_mode(b) == "exchange"


def test_publish_replaces_the_set_keeps_yours_and_drops_what_is_not_rewritten(tmp_path, mode):
    out = tmp_path / "out"
    _publish(out, {"a.csv": "1", "b.gpkg": "1", "map.html": "1"})
    (out / "notes.txt").write_text("mine")
    (out / "tiles").mkdir()
    (out / "tiles" / "t.json").write_text("{}")
    inode = (out / "notes.txt").stat().st_ino
    first = check_complete(out)["sets"]["results"]["run_id"]

    paths = _publish(out, {"a.csv": "2", "b.gpkg": "2"})  # like --no-map
    assert set(paths) == {"a.csv", "b.gpkg"} and paths["a.csv"] == out / "a.csv"
    assert (out / "a.csv").read_text() == "2" and (out / "b.gpkg").read_text() == "2"
    assert not (out / "map.html").exists()  # the earlier set's map left with it
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "tiles" / "t.json").exists()
    if mode == "exchange":
        assert (out / "notes.txt").stat().st_ino == inode  # carried as a hard link
    manifest = check_complete(out, deep=True)
    entry = manifest["sets"]["results"]
    assert set(entry["files"]) == {"a.csv", "b.gpkg"} and entry["run_id"] != first
    assert not _tmp_dirs(out) and not _tmp_dirs(tmp_path)
    assert not (out / INCOMPLETE).exists()


def test_two_kinds_share_a_folder(tmp_path, mode):
    out = tmp_path / "out"
    _publish(out, {"a.csv": "r"})
    _publish(out, {"report.html": "p"}, what="report")
    _publish(out, {"a.csv": "r2"})
    sets = check_complete(out)["sets"]
    assert set(sets["results"]["files"]) == {"a.csv"}
    assert set(sets["report"]["files"]) == {"report.html"}
    assert (out / "report.html").read_text() == "p"


def test_folder_written_before_manifests_loses_only_known_names(tmp_path, mode):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("a.csv", "map.html", "mine.txt"):
        (out / name).write_text("old")
    _publish(out, {"a.csv": "new"})
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "a.csv", "mine.txt"]


def test_failure_before_publish_keeps_the_earlier_set(tmp_path, mode):
    out = tmp_path / "out"
    _publish(out, {"a.csv": "1"})
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(RuntimeError), staged_output(out) as stage:
        (stage.dir / "a.csv").write_text("half")
        raise RuntimeError("boom")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not _tmp_dirs(tmp_path)


def test_symlinked_output_folder_stays_a_link(tmp_path, mode):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    _publish(link, {"a.csv": "1"})
    _publish(link, {"a.csv": "2"})
    assert link.is_symlink() and (real / "a.csv").read_text() == "2"


def test_unwritable_or_empty_output_folder_is_an_error_before_anything(tmp_path):
    with pytest.raises(OutputError, match="empty"):
        outputs.check_output_dir("")
    blocker = tmp_path / "f"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="is an existing file"):
        outputs.check_output_dir(blocker)
    with pytest.raises(OutputError, match="is a file, not a folder"):
        outputs.check_output_dir(blocker / "sub" / "out")


def _dead_staging(out: Path, what: str = "results") -> Path:
    """A staging folder like a killed run leaves: beside `out`, unlocked."""
    path = out.parent / f".siting-tmp-{outputs._tag(out)}.{what}.dead1234"
    path.mkdir()
    return path


def test_leftovers_of_killed_runs_are_removed_and_carried_entries_restored(tmp_path):
    out = tmp_path / "out"
    _publish(out, {"a.csv": "1"})
    # killed while carrying: its manifest written, a folder of yours moved into it
    dead = _dead_staging(out)
    (dead / "a.csv").write_text("2")
    (dead / MANIFEST).write_text(
        json.dumps({"format": 1, "sets": {"results": {"files": {"a.csv": {}}}}})
    )
    (dead / "tiles").mkdir()
    (dead / "tiles" / "t.json").write_text("{}")
    # killed while writing: no manifest yet
    early = out.parent / f".siting-tmp-{outputs._tag(out)}.results.early567"
    early.mkdir()
    (early / "a.csv").write_text("partial")
    # staging of the fallback mode (and of siting before manifests), inside the folder
    inside = out / ".siting-tmp-abc123"
    inside.mkdir()
    (inside / "results.gpkg").write_bytes(b"x" * 1000)
    # a run in progress: locked, left alone
    alive = out.parent / f".siting-tmp-{outputs._tag(out)}.results.alive890"
    alive.mkdir()
    fd = os.open(alive, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        removed = clean_leftovers(out)
    finally:
        os.close(fd)
    assert sorted(p.name for p in removed) == sorted([dead.name, early.name, inside.name])
    assert alive.exists() and not dead.exists() and not early.exists()
    assert (out / "tiles" / "t.json").exists()  # yours, back in place
    assert (out / "a.csv").read_text() == "1"  # the published set is untouched
    # an unrelated output folder's staging (other name) is not this folder's to clean
    other = tmp_path / f".siting-tmp-{outputs._tag(tmp_path / 'other')}.results.zzz"
    other.mkdir()
    clean_leftovers(out)
    assert other.exists()


def test_check_complete_flags_an_interrupted_fallback_and_edits(tmp_path, monkeypatch):
    monkeypatch.setenv(outputs.MODE_ENV, "files")
    out = tmp_path / "out"
    _publish(out, {"a.csv": "1", "map.html": "1"})
    (out / INCOMPLETE).write_text(
        json.dumps({"what": "results", "names": ["a.csv", "map.html", "b.gpkg"]})
    )
    (out / "b.gpkg").write_text("from the stopped run")
    with pytest.raises(OutputError, match="mix of two runs"):
        check_complete(out)
    _publish(out, {"a.csv": "3"})  # the next run repairs it
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "a.csv"]
    check_complete(out)
    (out / "a.csv").write_text("edited!")
    with pytest.raises(OutputError, match="does not match"):
        check_complete(out)


def test_full_disk_while_writing_is_an_output_error_and_keeps_the_set(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _publish(out, {"a.csv": "1"})
    monkeypatch.setattr(outputs, "disk_full", lambda folder, probe_bytes=0: "the disk is full")

    class LibraryError(Exception):  # e.g. sqlite's "no such table" on a full disk
        pass

    with pytest.raises(OutputError, match="the disk is full.*unchanged"), staged_output(out):
        raise LibraryError("no such table: buildings")
    assert (out / "a.csv").read_text() == "1"


def test_a_failed_publication_restores_everything(tmp_path, mode, monkeypatch):
    """An error (not a kill) inside the publication: the earlier set, your files and your
    folders are all where they were, and no marker claims a mix."""
    out = tmp_path / "out"
    _publish(out, {"a.csv": "1", "map.html": "1"})
    (out / "tiles").mkdir()
    (out / "tiles" / "t.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    before = {p.name for p in out.iterdir()}
    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith("b.gpkg"):
            raise OSError(5, "Input/output error")
        return real_replace(src, dst)

    def exchange(a, b):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(outputs.os, "replace", replace)
    monkeypatch.setattr(outputs, "exchange", exchange)
    with pytest.raises(OutputError, match="could not write the results"):
        _publish(out, {"a.csv": "2", "b.gpkg": "2"})
    monkeypatch.undo()
    assert {p.name for p in out.iterdir()} == before
    assert (out / "a.csv").read_text() == "1" and (out / "map.html").read_text() == "1"
    assert (out / "tiles" / "t.json").exists()
    check_complete(out, deep=True)
    assert not _tmp_dirs(out) and not _tmp_dirs(tmp_path)


def test_the_current_folder_is_published_file_by_file(tmp_path, monkeypatch):
    """Swapping the current directory would leave the shell in a deleted folder."""
    monkeypatch.chdir(tmp_path)
    assert outputs._choose_mode(Path(".").absolute()) == "files"
