"""The libvirt qemu hook, installed by `vtrail admit install-hook` and run as libvirt runs it:
`DIR/qemu DOMAIN prepare begin -` with the domain XML on stdin, in a process of its own,
asking a local store or a server; allow exits 0, deny exits non-zero with the reasons."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import vtrail
from provisioning.domains import DEBIAN_DISK, SCRATCH_DISK, domain
from provisioning.story import record_story
from provisioning.test_admit import POLICY, record_policy
from stores import STORES, recorded
from vtrail.cli.main import app as cli_app
from web.chromium import serving

ALLOWED = domain(disks=(DEBIAN_DISK,), owner="team-web")
DENIED = domain(disks=(SCRATCH_DISK,), owner="team-web")
#: The hook's interpreter imports the vtrail under test, wherever it is.
ENV = {**os.environ, "PYTHONPATH": str(Path(vtrail.__file__).resolve().parents[1])}


@pytest.fixture(scope="module", params=STORES)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = recorded(request, tmp_path_factory, "hook", record_story)
    record_policy(path, POLICY)
    return path


def install(hooks: Path, *args: str) -> Path:
    done = CliRunner().invoke(cli_app, ["admit", "install-hook", "--dir", str(hooks), *args])
    assert done.exit_code == 0, done.output
    return hooks / "qemu"


def libvirt_runs(hook: Path, xml: str, *phase: str) -> subprocess.CompletedProcess[str]:
    """As libvirtd runs a hook: the domain's name and the phase as arguments, XML on stdin."""
    args = [str(hook), "new-1", *(phase or ("prepare", "begin", "-"))]
    return subprocess.run(
        args, input=xml, capture_output=True, text=True, env=ENV, timeout=60, check=False
    )


@pytest.fixture
def hook(db: Path, tmp_path: Path) -> Path:
    return install(tmp_path, "--db", str(db), "--host", "hv-a")


def test_the_hook_lets_an_allowed_vm_start(hook: Path) -> None:
    assert os.access(hook, os.X_OK)
    done = libvirt_runs(hook, ALLOWED)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_the_hook_refuses_a_denied_vm_with_every_reason(hook: Path) -> None:
    done = libvirt_runs(hook, DENIED)
    assert done.returncode == 1
    assert done.stderr.startswith("vtrail: new-1 refused by policy: ")
    for rule in ("certified-only", "no-vulnerable", "web-debian"):
        assert f"{rule}: new-1 runs scratch@0" in done.stderr


def test_other_phases_pass_whatever_the_domain(hook: Path) -> None:
    for phase in (("start", "begin", "-"), ("prepare", "end", "-"), ("release", "end", "-")):
        assert libvirt_runs(hook, DENIED, *phase).returncode == 0


def test_the_hook_asks_a_server(db: Path, tmp_path: Path) -> None:
    with serving(db) as url:
        hook = install(tmp_path, "--server", url, "--host", "hv-c")
        assert libvirt_runs(hook, DENIED).returncode == 1
        done = libvirt_runs(hook, ALLOWED)
        # On hv-c, team-web's VM breaks its hosts rule.
        assert done.returncode == 1
        assert "web-on-ab: new-1 on hv-c, not on hv-a or hv-b" in done.stderr


def test_an_unreachable_vtrail_refuses_or_allows_as_installed(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9"  # the discard port: nothing answers there
    (tmp_path / "a").mkdir()
    refuse = install(tmp_path / "a", "--server", url)
    done = libvirt_runs(refuse, ALLOWED)
    assert done.returncode == 1 and "admission not checked" in done.stderr
    (tmp_path / "b").mkdir()
    allow = install(tmp_path / "b", "--server", url, "--on-error", "allow")
    assert libvirt_runs(allow, ALLOWED).returncode == 0


@pytest.fixture
def hooks(tmp_path: Path) -> Path:
    return tmp_path


def test_another_hook_is_kept_unless_forced(db: Path, hooks: Path) -> None:
    theirs = hooks / "qemu"
    theirs.write_text("#!/bin/sh\nexit 0\n")
    args = ["admit", "install-hook", "--dir", str(hooks), "--db", str(db)]
    done = CliRunner().invoke(cli_app, args)
    assert done.exit_code == 2 and "is another hook" in done.stderr
    assert theirs.read_text() == "#!/bin/sh\nexit 0\n"
    assert CliRunner().invoke(cli_app, [*args, "--force"]).exit_code == 0
    # Our own is replaced without --force.
    assert CliRunner().invoke(cli_app, args).exit_code == 0


def test_install_refuses_bad_settings_in_one_line(db: Path, hooks: Path) -> None:
    for args, said in (
        (["--dir", str(hooks / "none"), "--db", str(db)], "is not a directory"),
        (["--dir", str(hooks), "--server", "ftp://x"], "is not an http"),
        (["--dir", str(hooks), "--db", str(db), "--on-error", "maybe"], "deny or allow"),
    ):
        done = CliRunner().invoke(cli_app, ["admit", "install-hook", *args])
        assert done.exit_code == 2, (args, done.output)
        assert said in done.stderr and done.stderr.count("\n") == 1
    assert not (hooks / "qemu").exists()
