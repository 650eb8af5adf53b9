"""`vtrail admit` and `POST /api/admission` on a real store with a recorded policy: allow,
deny with every reason, unknown images, owners, quotas with the VM counted in, and nothing
written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from factory import at, ent, rel, snap
from provisioning.domains import BATCH_DISK, DEBIAN_DISK, SCRATCH_DISK, UUID, domain
from provisioning.story import record_story
from stores import STORES, recorded
from test_install_extras import cli
from vtrail.api import Settings, create_app
from vtrail.cli.main import app as cli_app
from vtrail.policy.load import parse_policy
from vtrail.policy.record import to_observation
from vtrail.provisioning.admission import BadDomain, admit
from vtrail.recording.recorder import Recorder
from vtrail.store import Store, open_store

POLICY = """
provisioning:
  rules:
    - {name: certified-only, certified: true}
    - {name: no-vulnerable, security: ok}
    - {name: web-debian, owners: team-web, images: "debian*"}
    - {name: web-on-ab, owners: team-web, hosts: [hv-a, hv-b]}
  quotas:
    team-web: {vms: 3, vcpus: 8, memory: 8GiB, addresses: 3}
"""
RULE_KINDS = {
    "certified-only": "certified",
    "no-vulnerable": "security",
    "web-debian": "images",
    "web-on-ab": "hosts",
}


def record_policy(path: Path, text: str, seconds: float = 1) -> None:
    s = open_store(path)
    try:
        Recorder(s).record([to_observation(parse_policy(text), at(seconds))])
    finally:
        s.close()


@pytest.fixture(scope="module", params=STORES)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = recorded(request, tmp_path_factory, "admit", record_story)
    record_policy(path, POLICY)
    return path


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    s = open_store(db, readonly=True)
    yield s
    s.close()


def now() -> datetime:
    return datetime.now(UTC)


def test_a_vm_the_policy_allows_is_allowed(store: Store) -> None:
    # team-web runs web-1 and web-2 now (web-3 stopped at 400): one more is its third.
    a = admit(store, domain(disks=(DEBIAN_DISK,), owner="team-web"), now(), host="hv-a")
    assert a.allow and a.reasons == []
    assert [(d.source, d.image) for d in a.disks] == [(DEBIAN_DISK, "image:debian@12")]
    assert a.entity == f"vm:{UUID}" and a.owner == "team-web"
    assert a.usage == {"vms": 2, "vcpus": 4, "memory": 4096, "addresses": 2}
    assert a.usage_with_vm == {"vms": 3, "vcpus": 6, "memory": 6144, "addresses": 3}


def test_a_denial_gives_every_reason(store: Store) -> None:
    xml = domain(disks=(SCRATCH_DISK, "/srv/elsewhere.qcow2"), owner="team-web", vcpus=5)
    a = admit(store, xml, now(), host="hv-c")
    assert not a.allow
    said = {(r.rule, r.reason) for r in a.reasons}
    assert said == {
        ("certified-only", "new-1 runs scratch@0, which is not certified"),
        ("certified-only", "new-1: unknown image /srv/elsewhere.qcow2"),
        ("no-vulnerable", "new-1 runs scratch@0, security unknown, not ok"),
        ("no-vulnerable", "new-1: unknown image /srv/elsewhere.qcow2"),
        ("web-debian", "new-1 runs scratch@0, which matches none of debian*"),
        ("web-debian", "new-1: unknown image /srv/elsewhere.qcow2"),
        ("web-on-ab", "new-1 on hv-c, not on hv-a or hv-b"),
        ("quota:team-web", "team-web runs 9 vCPUs, quota 8"),
    }
    assert all(r.kind == RULE_KINDS.get(r.rule, "quota") for r in a.reasons)
    assert [d.image for d in a.disks] == ["image:scratch@0", None]


def test_each_rule_kind_denies_alone(store: Store) -> None:
    t = now()
    vulnerable = admit(store, domain(disks=(BATCH_DISK,), owner="team-x"), t)
    assert {r.rule for r in vulnerable.reasons} == {"no-vulnerable"}
    # The same image for team-web breaks its name rule too.
    named = admit(store, domain(disks=(BATCH_DISK,), owner="team-web"), t, host="hv-a")
    assert {r.rule for r in named.reasons} == {"no-vulnerable", "web-debian"}
    placed = admit(store, domain(disks=(DEBIAN_DISK,), owner="team-web"), t, host="hv-c")
    assert {r.rule for r in placed.reasons} == {"web-on-ab"}
    # Without a host, host rules are not tested.
    assert admit(store, domain(disks=(DEBIAN_DISK,), owner="team-web"), t).allow


def test_the_owner_given_wins_over_the_metadata(store: Store) -> None:
    xml = domain(disks=(DEBIAN_DISK,), owner="team-web", vcpus=64)
    assert not admit(store, xml, now()).allow
    other = admit(store, xml, now(), owner="team-other")
    assert other.allow and other.owner == "team-other" and other.quota is None


def test_quotas_count_the_vm_and_its_interfaces(store: Store) -> None:
    xml = domain(disks=(DEBIAN_DISK,), owner="team-web", nics=2, mib=5000)
    a = admit(store, xml, now())
    assert {r.reason for r in a.reasons} == {
        "team-web runs 4 addresses, quota 3",
        "team-web runs 9096 MiB of memory, quota 8192",
    }


def test_as_of_an_earlier_instant_the_vms_then_count(store: Store) -> None:
    # At 250 web-3 ran too: a fourth VM, and its address, are over the quota of three.
    a = admit(store, domain(disks=(DEBIAN_DISK,), owner="team-web"), at(250))
    assert [r.reason for r in a.reasons] == [
        "team-web runs 4 VMs, quota 3",
        "team-web runs 4 addresses, quota 3",
    ]


@pytest.mark.both_stores
def test_an_image_is_found_by_a_vm_that_had_the_disk(db_location: str) -> None:
    path = Path(db_location)
    s = open_store(path)
    disk = {"target": "vda", "source": "/img/base.qcow2", "device": "disk", "type": "file"}
    Recorder(s).record(
        [
            snap("catalog", 0, ent("image:base@1", **{"catalog.security": "vulnerable"})),
            snap("libvirt@a", 0, ent("vm:old", name="old", disks=[disk]),
                 rel("vm:old", "uses_image", "image:base@1")),
            to_observation(parse_policy("provisioning: {rules: [{name: s, security: ok}]}"),
                           at(1)),
        ]
    )  # fmt: skip
    a = admit(s, domain(disks=("/img/base.qcow2",)), at(5))
    assert [d.image for d in a.disks] == ["image:base@1"]
    assert [r.reason for r in a.reasons] == ["new-1 runs base@1, security vulnerable, not ok"]
    s.close()


@pytest.mark.both_stores
def test_no_policy_allows(db_location: str) -> None:
    s = open_store(Path(db_location))
    assert admit(s, domain(disks=(SCRATCH_DISK,)), now()).allow
    s.close()


def test_bad_xml_is_one_line(store: Store) -> None:
    with pytest.raises(BadDomain) as e:
        admit(store, "<domain><name>x</name>\n<devices>", now())
    assert "\n" not in str(e.value) and str(e.value)


def _counts(db: Path) -> list[int]:
    s = open_store(db, readonly=True)
    try:
        tables = ("entity", "version", "relation")
        return [s.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables]
    finally:
        s.close()


def test_the_cli_allows_denies_and_writes_nothing(db: Path, tmp_path: Path) -> None:
    before = _counts(db)
    denied = tmp_path / "denied.xml"
    denied.write_text(domain(disks=(SCRATCH_DISK,), owner="team-web"))
    allowed = tmp_path / "allowed.xml"
    allowed.write_text(domain(disks=(DEBIAN_DISK,), owner="team-web"))
    run = CliRunner().invoke
    done = run(cli_app, ["admit", str(denied), "--db", str(db), "-o", "json"])
    assert done.exit_code == 1, done.output
    assert json.loads(done.stdout)["allow"] is False
    done = run(cli_app, ["admit", str(allowed), "--host", "hv-b", "--db", str(db)])
    assert done.exit_code == 0, done.output
    assert "ALLOWED" in done.stdout
    done = run(cli_app, ["admit", "-", "--db", str(db)], input=allowed.read_text())
    assert done.exit_code == 0, done.output
    assert _counts(db) == before


def test_the_cli_refuses_bad_input_in_one_line(db: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<domain>")
    done = CliRunner().invoke(cli_app, ["admit", str(bad), "--db", str(db)])
    assert done.exit_code == 2
    assert done.stderr.startswith("error:") and done.stderr.count("\n") == 1
    done = CliRunner().invoke(cli_app, ["admit", str(tmp_path / "none.xml"), "--db", str(db)])
    assert done.exit_code == 2 and "no such file" in done.stderr


def test_the_api_answers_as_the_cli_does(db: Path, tmp_path: Path) -> None:
    xml = domain(disks=(SCRATCH_DISK,), owner="team-web")
    path = tmp_path / "d.xml"
    path.write_text(xml)
    cli = json.loads(
        CliRunner().invoke(cli_app, ["admit", str(path), "--host", "hv-c", "--db", str(db),
                                     "-o", "json"]).stdout
    )  # fmt: skip
    with TestClient(create_app(Settings(db=db))) as c:
        r = c.post("/api/admission?host=hv-c", content=xml,
                   headers={"Content-Type": "application/xml"})  # fmt: skip
        assert r.status_code == 200, r.text
        api = r.json()
        bad = c.post("/api/admission", content="<domain>")
        assert bad.status_code == 422 and "\n" not in bad.json()["detail"]
    assert {k: v for k, v in api.items() if k != "at"} == {
        k: v for k, v in cli.items() if k != "at"
    }


@pytest.mark.both_stores
def test_admissions_go_on_with_what_was_recorded_since_even_in_the_past(db_location: str) -> None:
    """One connection keeps the fleet between admissions: a VM started since counts, and
    so does one an observation that arrived late says ran all along."""
    s = open_store(Path(db_location))
    rec = Recorder(s)
    quota = "provisioning: {quotas: {team-q: {vms: 5}}}"
    rec.record([to_observation(parse_policy(quota), at(0)), snap("libvirt@a", 0)])

    def running(seconds: float, *names: str) -> list[object]:
        return [x for n in names for x in (
            ent(f"vm:{n}", name=n, state="running", **{"asset.owner": "team-q"}),
            rel(f"vm:{n}", "runs_on", "host:hv-a"),
        )]  # fmt: skip

    def used(seconds: float) -> int:
        a = admit(s, domain(owner="team-q"), at(seconds))
        assert a.usage is not None
        return a.usage["vms"]

    rec.record([snap("libvirt@a", 10, ent("host:hv-a", hostname="hv-a"), *running(10, "a"))])
    assert used(20) == 1
    rec.record([snap("libvirt@a", 30, ent("host:hv-a", hostname="hv-a"), *running(30, "a", "b"))])
    assert used(40) == 2
    # Another source, heard only now, saw c running from 5 on.
    rec.record([snap("libvirt@b", 5, ent("host:hv-b", hostname="hv-b"),
                     ent("vm:c", name="c", state="running", **{"asset.owner": "team-q"}),
                     rel("vm:c", "runs_on", "host:hv-b"))])  # fmt: skip
    assert used(40) == 3
    # Asked again at an earlier instant, the fleet is read as it was then.
    assert used(20) == 2
    s.close()


def test_without_libvirt_python_admission_says_what_to_install(db: Path, tmp_path: Path) -> None:
    path = tmp_path / "d.xml"
    path.write_text(domain(disks=(DEBIAN_DISK,)))
    done = cli(("libvirt",), "admit", str(path), "--db", str(db))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "error: admission (the libvirt collector's parser) needs libvirt-python: "
        "pip install 'vtrail[libvirt]'\n"
    )
