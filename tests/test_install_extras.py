"""`pip install vtrail` without extras: the CLI and the API work, and a live source whose
client library is missing stops `vtrail record` with one line naming the extra.

A machine without libvirt-python, pyroute2 or ovs is simulated in a child Python
whose `sys.meta_path` starts with a finder that refuses those imports, exactly as
an interpreter that never had them installed would (`ModuleNotFoundError`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import vtrail
from vtrail.collectors import libraries
from vtrail.collectors.libraries import MissingLibrary, require

SRC = Path(vtrail.__file__).resolve().parents[1]
ROOT = Path(__file__).resolve().parents[1]
ALL = ("libvirt", "pyroute2", "ovs", "icmplib", "httpx2")

ABSENT = """
import sys

class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {absent!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Absent())
"""


def without(absent: tuple[str, ...], code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a child Python that cannot import the modules in `absent`."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "200"}
    prelude = ABSENT.format(absent=set(absent))
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def cli(absent: tuple[str, ...], *argv: str) -> subprocess.CompletedProcess[str]:
    return without(
        absent, f"sys.argv = ['vtrail', *{list(argv)!r}]\nfrom vtrail.cli.main import main\nmain()"
    )


def test_the_simulation_hides_the_library() -> None:
    done = without(("libvirt",), "import libvirt")
    assert done.returncode == 1 and "No module named 'libvirt'" in done.stderr


def test_the_cli_and_the_api_import_without_any_source_library() -> None:
    done = without(
        ALL,
        "import vtrail.cli.main, vtrail.api\n"
        "from vtrail.api import create_app\n"
        "loaded = sorted(m for m in sys.modules if m.partition('.')[0] in "
        f"{set(ALL)!r})\n"
        "print('loaded:', loaded)",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "loaded: []\n"


@pytest.mark.parametrize(
    ("uri", "missing", "line"),
    [
        (
            "libvirt+qemu:///system",
            "libvirt",
            "error: the libvirt source needs libvirt-python: pip install 'vtrail[libvirt]'\n",
        ),
        (
            "netlink",
            "pyroute2",
            "error: the netlink source needs pyroute2: pip install 'vtrail[netlink]'\n",
        ),
        (
            "ovs+unix:/run/openvswitch/db.sock",
            "ovs",
            "error: the ovs source needs ovs: pip install 'vtrail[ovs]'\n",
        ),
        (
            "probe",
            "icmplib",
            "error: the probe source needs icmplib: pip install 'vtrail[probe]'\n",
        ),
    ],
)
def test_a_source_without_its_library_fails_in_one_line(
    tmp_path: Path, uri: str, missing: str, line: str
) -> None:
    db = tmp_path / "v.db"
    done = cli((missing,), "record", "--source", uri, "--for", "1s", "--db", str(db))
    assert (done.returncode, done.stdout, done.stderr) == (1, "", line)
    assert not db.exists(), "the store is not even created"


def test_the_other_sources_record_without_the_missing_library(tmp_path: Path) -> None:
    feed = tmp_path / "obs.jsonl"
    feed.write_text(
        '{"source": "f", "observed_at": "2026-11-20T03:00:00Z", "kind": "snapshot", '
        '"entities": [{"id": "vm:1", "attrs": {"name": "web-1"}}]}\n'
    )
    db = tmp_path / "v.db"
    done = cli(ALL, "record", "-q", "--source", f"file:{feed}", "--for", "1s", "--db", str(db))
    assert done.returncode == 0, done.stderr
    shown = cli(ALL, "show", "web-1", "--db", str(db))
    assert shown.returncode == 0 and "vm:1" in shown.stdout


def test_the_tour_runs_without_any_source_library(tmp_path: Path) -> None:
    done = cli(ALL, "tour", "--db", str(tmp_path / "tour.db"))
    assert done.returncode == 0, done.stderr
    assert "bridge:sw/br-ghost" in done.stdout


def test_a_library_that_is_installed_but_does_not_load_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Broken:
        def find_spec(self, name: str, path: object = None, target: object = None) -> None:
            if name == "libvirt":
                raise ImportError("libvirt.so.0: cannot open shared object file")

    monkeypatch.delitem(sys.modules, "libvirt", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Broken(), *sys.meta_path])
    with pytest.raises(MissingLibrary) as e:
        require("libvirt")
    assert str(e.value) == (
        "the libvirt source needs libvirt-python, which does not load: "
        "libvirt.so.0: cannot open shared object file"
    )


def test_every_source_library_is_an_extra_with_a_lower_bound() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    for lib in libraries.LIBRARIES.values():
        pinned = [d for d in extras[lib.extra] if d.split(">=")[0] == lib.package]
        assert len(pinned) == 1 and pinned[0].split(">=")[1], lib
        assert not any(d.startswith(lib.package) for d in project["dependencies"])
    assert extras["all"] == ["vtrail[libvirt,netlink,ovs,probe,push,postgres]"]
    assert extras["postgres"] == ["psycopg[binary]>=3.1"]


def test_a_postgresql_store_without_psycopg_is_one_line_naming_the_extra() -> None:
    done = cli(("psycopg",), "where", "vm:x", "--db", "postgresql://vt@127.0.0.1:1/vtrail")
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (
        "error: a PostgreSQL store needs psycopg: pip install 'vtrail[postgres]'"
    )


def test_every_package_data_pattern_matches_a_file() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for package, patterns in setuptools["package-data"].items():
        base = ROOT / "src" / package.replace(".", "/")
        for pattern in patterns:
            matched = [p for p in base.glob(pattern) if p.is_file()]
            assert matched, f"package data {package}:{pattern} matches no file under {base}"
