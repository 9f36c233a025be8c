"""kill -9 of `riskgrid ingest` and `riskgrid features`: readers never see half a snapshot, and a
re-run writes exactly what an uninterrupted run writes.

One kill comes from outside after a delay (half an uninterrupted ingest); two come from inside
the process (``KILLER`` turns a call into a SIGKILL of the process itself), at moments too short
to hit from outside: while the snapshot's files are written (before the second file), and at
the last step, the symlink swap (``os.replace``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from riskgrid import Settings
from tests.tracking import BIN, riskgrid_env

pytestmark = pytest.mark.slow
MAPPINGS = Path(__file__).resolve().parents[2] / "experiments" / "mappings"
EXPERIMENT = f"""name = "small"
[areas]
kind = "table"
path = "city/areas.csv"
[sources.incidents]
kind = "incidents"
path = "city/incidents.csv"
mapping = "{MAPPINGS / 'synthetic_city_incidents.toml'}"
[sources.petitions]
kind = "petitions"
path = "city/petitions.jsonl"
mapping = "{MAPPINGS / 'synthetic_city_petitions.toml'}"
[features]
period = "week"
horizons = [1]
windows = [4, 13]
"""
KILLER = """
import os, signal, sys

mode, link = sys.argv.pop(2), sys.argv.pop(2)  # where to die; the link this step publishes

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if mode == "swap":
    swap = os.replace

    def replace(src, dst, *args, **kwargs):
        if os.path.basename(dst) == link:
            die()
        return swap(src, dst, *args, **kwargs)

    os.replace = replace
else:  # "write": write_snapshot makes each file's folder first; die before the second file
    import pathlib

    mkdir, made = pathlib.Path.mkdir, []

    def make(self, *args, **kwargs):
        if f".{link}.staging-" in str(self):
            made.append(self)
            if len(made) == 3:  # the staging folder, the first file's folder, the second's
                die()
        return mkdir(self, *args, **kwargs)

    pathlib.Path.mkdir = make
sys.argv[0] = "riskgrid"
from cli import main
main()
"""


def environment(data_dir: Path) -> dict[str, str]:
    env = riskgrid_env(Settings(data_dir=data_dir))
    env["RISKGRID_NOW"] = "2023-01-10T00:00:00"  # the synthetic city ends in 2022
    return env


def start(step: str, root: Path, data_dir: Path, kill_at: str | None = None
          ) -> subprocess.Popen:
    """The step as a user runs it, or (``kill_at`` "write" or "swap") one that kills itself
    there."""
    command = ([sys.executable, "-c", KILLER, step, kill_at,
                "clean" if step == "ingest" else step]
               if kill_at else [str(BIN / "riskgrid"), step])
    return subprocess.Popen([*command, str(root / "small.toml")], env=environment(data_dir),
                            cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def finish(process: subprocess.Popen) -> None:
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]


def kill_when(process: subprocess.Popen, ready) -> None:
    deadline = time.monotonic() + 300
    try:
        while not ready():
            assert process.poll() is None, "the step ended before the kill point"
            assert time.monotonic() < deadline, "the kill point never came"
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
    finally:  # reaped whatever happened, so its pipe never outlives the test
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL


def killed_itself(process: subprocess.Popen) -> None:
    _, err = process.communicate(timeout=600)
    assert process.returncode == -signal.SIGKILL, f"the step did not reach its kill point: {err}"


def digest(folder: Path) -> str:
    """The content hash write_snapshot names a snapshot by (features/io.py): of each file's
    path and content hash, the list of file hashes itself left out."""
    hasher = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != ".digests.json"):
        hasher.update(str(path.relative_to(folder)).encode())
        hasher.update(hashlib.sha256(path.read_bytes()).hexdigest().encode())
    return hasher.hexdigest()


def published(link: Path) -> Path | None:
    """The snapshot readers see through ``link``; fails if it is not complete."""
    try:
        mode = os.lstat(link).st_mode  # one look: the link may appear between two
    except FileNotFoundError:
        return None
    assert stat.S_ISLNK(mode), f"{link} is not a symlink"
    target = link.parent / os.readlink(link)
    assert target.name == f".{link.name}-{digest(target)[:16]}", f"{target} is not complete"
    return target


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


class Reader(threading.Thread):
    """Looks through the published link as often as it can while a step runs."""

    def __init__(self, link: Path) -> None:
        super().__init__(daemon=True)
        self.link, self.looks, self.failures = link, 0, []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                published(self.link)
                self.looks += 1
            except AssertionError as exc:
                self.failures.append(str(exc))
            except FileNotFoundError:
                pass  # the link moved on between readlink and reading: look again
            time.sleep(0.005)

    def __enter__(self) -> Reader:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.join()
        assert not self.failures, self.failures[:3]
        assert self.looks > 0


class City:
    """The small synthetic city's exports, and an uninterrupted ingest of them (reference/)."""

    def __init__(self, root: Path) -> None:
        self.root, self.reference = root, root / "reference"
        self._began = time.monotonic()
        self._ingest = start("ingest", root, self.reference)
        self.ingest_seconds = 0.0

    def reference_ingest(self) -> Path:
        if self._ingest.returncode is None:
            finish(self._ingest)
            self.ingest_seconds = time.monotonic() - self._began
        return self.reference / "small"

    def close(self) -> None:
        if self._ingest.poll() is None:
            self._ingest.kill()
        self._ingest.communicate()


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Iterator[City]:
    from features.synthetic_city import write_city
    from tests.features.test_synthetic_city import SMALL

    root = tmp_path_factory.mktemp("crash")
    write_city(root / "city", config=SMALL)
    (root / "small.toml").write_text(EXPERIMENT, encoding="utf-8")
    city = City(root)
    yield city
    city.close()


# Top-level names: the event tables and the panel are folders of parts.
TABLES = {"ingest": {"areas.parquet", "incidents.parquet", "petitions.parquet", "summary.json",
                     "manifest.json"},
          "features": {"panel.parquet", "counts.parquet", "catalogue.json", "meta.json",
                       "state"}}


@pytest.mark.parametrize("step", ["ingest", "features"])
def test_a_killed_step_publishes_nothing_half_written_and_a_rerun_matches(city, step):
    link_name = "clean" if step == "ingest" else "features"
    crashed = city.root / f"crashed-{step}"
    uninterrupted = None
    if step == "features":  # on the reference's clean tables, in both folders
        shutil.copytree(city.reference_ingest(), crashed / "small", symlinks=True)
        uninterrupted = start(step, city.root, city.reference)  # alongside the kills
    link = crashed / "small" / link_name
    try:
        killed_three_times(step, city, crashed, link)
    finally:
        if uninterrupted is not None:  # always reaped, so its pipe never outlives the test
            _, err = uninterrupted.communicate(timeout=600)
    assert uninterrupted is None or uninterrupted.returncode == 0, err[-3000:]
    expected = published(city.reference_ingest() / link_name)
    assert expected is not None and published(link).name == expected.name
    assert files(published(link)) == files(expected)
    assert TABLES[step] <= {name.split("/", 1)[0] for name in files(expected)}
    leftovers = {p.name for p in link.parent.iterdir() if link_name in p.name}
    assert leftovers == {link_name, expected.name}, "the crashes left files behind"


def killed_three_times(step: str, city: City, crashed: Path, link: Path) -> None:
    """Three kills at different moments while a reader looks on, then a re-run to the end."""
    link_name = link.name
    with Reader(link):
        # 1. After a delay, starting up or reading the inputs: half the time the uninterrupted
        # ingest took on this machine, which no step here finishes within.
        city.reference_ingest()
        process = start(step, city.root, crashed)
        started = time.monotonic()
        kill_when(process, lambda: time.monotonic() - started > city.ingest_seconds / 2)
        assert published(link) is None
        # 2. While the snapshot's files are being written: the first written, not the second.
        killed_itself(start(step, city.root, crashed, kill_at="write"))
        assert published(link) is None
        assert any(link.parent.glob(f".{link_name}.staging-*"))
        # 3. At the symlink swap: the snapshot folder is complete, the link not yet moved.
        killed_itself(start(step, city.root, crashed, kill_at="swap"))
        assert published(link) is None
        assert any(link.parent.glob(f".{link_name}-*"))
        # The re-run, after three crashes.
        finish(start(step, city.root, crashed))
