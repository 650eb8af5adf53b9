"""A policy file (YAML) read into a `Policy`, every part checked first.

A bad file is refused as a whole with one line that names the file, the line
and the place in it: `policy.yaml:14: rules[2] (web-near-db): max-hops.to:
unknown service 'dbx' (services: db, web)`. Nothing of a refused file is
recorded, so each check is made here, before a `Policy` exists. The format is
docs/policy.md's.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, cast

import yaml

from vtrail.ids import (
    KINDS,
    bridge_id,
    host_id,
    net_id,
    parse_interface,
    parse_named,
    parse_net,
)
from vtrail.limits import value_problem
from vtrail.model import InvalidId, split_id
from vtrail.policy.accounting import read_accounting
from vtrail.policy.images import read_images
from vtrail.policy.maintenance import read_maintenance
from vtrail.policy.model import (
    CHANGE_KINDS,
    RULE_KINDS,
    Domain,
    Policy,
    Rule,
    RuleKind,
    Scalar,
    Selector,
    Service,
    TriageSettings,
)
from vtrail.policy.places import (
    At,
    Bad,
    Loader,
    PolicyError,
    described,
    is_name,
    known_names,
    quoted,
    read_count,
    read_entity_id,
    read_glob,
    read_list,
    read_mapping,
    read_optional_text,
    read_text,
)
from vtrail.policy.pools import read_pools
from vtrail.policy.probes import read_probes
from vtrail.policy.provisioning import read_provisioning
from vtrail.timeexpr import TimeParseError, parse_duration

__all__ = ["METADATA", "PolicyError", "load_policy", "parse_policy"]

#: The most router hops a `max-hops` rule may allow: more is no constraint at all.
HOPS_MAX = 64
#: libvirt metadata reaches a selector as attributes under this prefix.
METADATA = "metadata."

_TOP = (
    "services", "domains", "rules", "pools", "probes", "triage", "provisioning", "accounting",
    "maintenance", "images",
)  # fmt: skip
_SERVICE = ("members", "owner", "description")
_SELECTOR = ("kind", "name", "attrs", "metadata", "ids")
_DOMAIN = ("hosts", "bridges", "networks", "description")
_RULE = ("name", "description", *RULE_KINDS)
_HOST_RULE = ("service", "hosts")
_MAX_HOPS = ("from", "to", "hops")
_TRIAGE = ("weights", "window", "half-life")
_WEIGHTS = ("time", "distance", "kind", "kinds")
#: The longest window triage looks back over: a week of changes is already a haystack.
TRIAGE_WINDOW_MAX = 7 * 86400.0


# -- typed reads -------------------------------------------------------------------------


def _names_map(value: object, at: At, what: str) -> Mapping[str, Any]:
    """A mapping of names (services, domains) to their parts."""
    if value is None:
        return {}
    m = read_mapping(value, at, None, f"a mapping of {what} by name")
    for k in m:
        _name(k, At(at.head, "", at.key(m, k).line))
    return m


def _name(value: object, at: At) -> str:
    if not isinstance(value, str):
        raise at.bad(f"expected a name, got {described(value)}")
    if not is_name(value):
        raise at.bad(
            f"{quoted(value)} is not a name: letters, digits, '.', '_' and '-', starting with a "
            "letter or digit, at most 64 characters"
        )
    return value


# -- the parts ---------------------------------------------------------------------------


def _scalar(value: object, at: At) -> Scalar:
    if isinstance(value, dict | list):
        raise at.bad(f"an attribute is compared with one value, not {described(value)}")
    if not isinstance(value, str | int | float | bool) and value is not None:
        raise at.bad(f"an attribute is compared with a scalar, not {described(value)}")
    if (bad := value_problem({"": value})) is not None:
        raise at.bad(bad[1])
    return value


def _selector(value: object, at: At, kinds: Collection[str]) -> Selector:
    m = read_mapping(value, at, _SELECTOR, "a selector (a mapping)")
    kind = None
    if "kind" in m:
        kind = read_text(m["kind"], at.key(m, "kind"))
        if kind not in kinds:
            raise at.key(m, "kind").bad(
                f"unknown kind {quoted(kind)} {known_names(kind, kinds, 'known')}"
            )
    name = read_glob(m["name"], at.key(m, "name")) if "name" in m else None
    attrs: dict[str, Scalar] = {}
    if "attrs" in m:
        what = "a mapping of attribute names to values"
        given = read_mapping(m["attrs"], at.key(m, "attrs"), None, what)
        for k, v in given.items():
            attrs[k] = _scalar(v, at.key(m, "attrs").key(given, k))
    if "metadata" in m:
        what = "a mapping of metadata element names to text"
        given = read_mapping(m["metadata"], at.key(m, "metadata"), None, what)
        for k, v in given.items():
            where = at.key(m, "metadata").key(given, k)
            if not isinstance(v, str):
                raise where.bad(f"libvirt metadata is text, not {described(v)}: quote it")
            if METADATA + k in attrs:
                raise where.bad(f"given twice: also as attrs.{METADATA}{k}")
            attrs[METADATA + k] = _scalar(v, where)
    ids: tuple[str, ...] = ()
    if "ids" in m:
        ids = read_list(m["ids"], at.key(m, "ids"), "entity ids", read_entity_id)
        for i, eid in enumerate(ids):
            if kind is not None and split_id(eid)[0] != kind:
                raise at.key(m, "ids").item(m["ids"], i).bad(f"{eid} is not a {kind}")
    found = Selector(kind, name, tuple(attrs.items()), ids)
    if found.empty:
        raise at.bad("selects nothing: give at least one of kind, name, attrs, metadata, ids")
    return found


def _service(name: str, value: object, at: At, kinds: Collection[str]) -> Service:
    m = read_mapping(value, at, _SERVICE, "a mapping (members, owner, description)")
    if "members" not in m:
        raise at.bad("a service needs members: a selector (kind, name, attrs, metadata, ids)")
    return Service(
        name,
        _selector(m["members"], at.key(m, "members"), kinds),
        owner=read_optional_text(m, "owner", at),
        description=read_optional_text(m, "description", at),
    )


def _is_id(text: str, kind: str) -> bool:
    """Whether `text` is written as an id of `kind` rather than as its key alone."""
    return text.partition(":")[0] == kind


def _host(value: object, at: At) -> str:
    name = read_text(value, at)
    try:
        if _is_id(name, "host"):
            name = parse_named(name, "host")
        split_id(host_id(name))
    except InvalidId:
        raise at.bad(f"{quoted(value)} is not a host name") from None
    return name


def _bridge(value: object, at: At) -> str:
    text = read_text(value, at)
    if _is_id(text, "bridge"):
        try:
            parse_interface(text)
        except InvalidId as e:
            raise at.bad(str(e)) from None
        return text
    where, slash, ifname = text.rpartition("/")
    if not slash or not where or not ifname:
        raise at.bad(f"{quoted(text)} is not a bridge: write HOST/IFNAME (hv-a/br0)")
    eid = bridge_id(where, ifname)
    try:
        split_id(eid)
    except InvalidId as e:
        raise at.bad(str(e)) from None
    return eid


def _network(value: object, at: At) -> str:
    text = read_text(value, at)
    try:
        if _is_id(text, "net"):
            if parse_net(text).space is None:
                raise InvalidId(f"{quoted(text)} names no address space: write net:NAME@HOST")
            return text
        local, at_sign, space = text.partition("@")
        if not at_sign:
            raise InvalidId(
                f"{quoted(text)} is not a network: write NAME@HOST (default@hv-a) or CIDR@SPACE"
            )
        eid = net_id(local, space)
        split_id(eid)
    except InvalidId as e:
        raise at.bad(str(e)) from None
    return eid


def _domain(name: str, value: object, at: At) -> Domain:
    m = read_mapping(value, at, _DOMAIN, "a mapping (hosts, bridges, networks, description)")

    def part(key: str, what: str, read: Callable[[object, At], str]) -> tuple[str, ...]:
        return read_list(m[key], at.key(m, key), what, read) if key in m else ()

    found = Domain(
        name,
        hosts=part("hosts", "host names", _host),
        bridges=part("bridges", "bridges", _bridge),
        networks=part("networks", "networks", _network),
        description=read_optional_text(m, "description", at),
    )
    if not (found.hosts or found.bridges or found.networks):
        raise at.bad("a domain holds at least one host, bridge or network")
    return found


def _rule(value: object, at: At, services: Collection[str], domains: int) -> Rule:
    if isinstance(value, dict):
        at = at.named(value.get("name"))
    m = read_mapping(value, at, _RULE, "a mapping (name, and one rule kind)")
    if "name" not in m:
        raise at.bad("a rule needs a name")
    name = _name(m["name"], at.key(m, "name"))
    kinds = [k for k in RULE_KINDS if k in m]
    if not kinds:
        raise at.bad(f"no rule kind: give one of {', '.join(RULE_KINDS)}")
    if len(kinds) > 1:
        raise at.bad(f"two rule kinds ({', '.join(kinds)}): a rule has one; split it in two")
    kind = cast(RuleKind, kinds[0])
    here = at.key(m, kind)
    body = m[kind]

    def service(v: object, where: At) -> str:
        found = _name(v, where)
        if found not in services:
            raise where.bad(
                f"unknown service {quoted(found)} {known_names(found, services, 'services')}"
            )
        return found

    hosts: tuple[str, ...] = ()
    hops = None
    if kind in ("same-domain", "anti-affinity"):
        # One service, or several taken as one group (`same-domain: [web, db]`).
        names: tuple[str, ...] = read_list(body, here, "service names", service)
        if not names:
            raise here.bad(f"{kind} names at least one service")
        if kind == "same-domain" and not domains:
            raise here.bad("no domains are defined: same-domain needs some (domains:)")
    elif kind == "affinity":
        names = read_list(body, here, "service names", service)
        if not names:
            raise here.bad("affinity names at least one service")
    elif kind in ("host-affinity", "host-anti-affinity"):
        b = read_mapping(body, here, _HOST_RULE, "a mapping (service, hosts)")
        for need in _HOST_RULE:
            if need not in b:
                raise here.bad(f"{kind} needs {need} (service: NAME, hosts: [HOST, ...])")
        names = (service(b["service"], here.key(b, "service")),)
        hosts = read_list(b["hosts"], here.key(b, "hosts"), "host names", _host)
        if not hosts:
            raise here.key(b, "hosts").bad(f"{kind} names at least one host")
    else:
        b = read_mapping(body, here, _MAX_HOPS, "a mapping (from, to, hops)")
        for need in _MAX_HOPS:
            if need not in b:
                raise here.bad(f"max-hops needs {need} (from: SERVICE, to: SERVICE, hops: N)")
        names = (service(b["from"], here.key(b, "from")), service(b["to"], here.key(b, "to")))
        hops = read_count(b["hops"], here.key(b, "hops"), 1, HOPS_MAX)
    return Rule(
        name,
        kind,
        names,
        hosts=hosts,
        hops=hops,
        description=read_optional_text(m, "description", at),
    )


def _weight(value: object, at: At) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise at.bad(f"expected a number from 0 to 1, got {described(value)}")
    if not 0 <= value <= 1:
        raise at.bad(f"{value} is out of range: from 0 to 1")
    return float(value)


def _seconds(value: object, at: At, lo: float, hi: float) -> float:
    """A duration: seconds as a number, or text such as `90s`, `10m`, `1h`."""
    if isinstance(value, str):
        try:
            found = parse_duration(value).total_seconds()
        except TimeParseError as e:
            raise at.bad(str(e)) from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        found = float(value)
    else:
        raise at.bad(f"expected a duration (seconds, or text such as 1h), got {described(value)}")
    if not lo <= found <= hi:
        raise at.bad(f"{value} is out of range: from {lo:g} s to {hi:g} s")
    return found


def _triage(value: object, at: At) -> TriageSettings:
    """The `triage:` section: how suspects are ranked (docs/triage.md)."""
    if value is None:
        return TriageSettings()
    m = read_mapping(value, at, _TRIAGE, "a mapping (weights, window, half-life)")
    out = TriageSettings()
    w: Mapping[Any, Any] = {}
    if m.get("weights") is not None:
        w = read_mapping(m["weights"], at.key(m, "weights"), _WEIGHTS, "a mapping of weights")
    here = at.key(m, "weights")
    parts = {k: _weight(w[k], here.key(w, k)) for k in ("time", "distance", "kind") if k in w}
    if (
        parts
        and sum({"time": out.time, "distance": out.distance, "kind": out.kind, **parts}.values())
        == 0
    ):
        raise here.bad("the weights time, distance and kind are all 0: nothing would rank")
    kinds: dict[str, float] = {}
    if w.get("kinds") is not None:
        listed = read_mapping(w["kinds"], here.key(w, "kinds"), CHANGE_KINDS, "a mapping of kinds")
        kinds = {k: _weight(v, here.key(w, "kinds").key(listed, k)) for k, v in listed.items()}
    return TriageSettings(
        time=parts.get("time", out.time),
        distance=parts.get("distance", out.distance),
        kind=parts.get("kind", out.kind),
        kinds=tuple(kinds.items()),
        window=_seconds(m["window"], at.key(m, "window"), 1, TRIAGE_WINDOW_MAX)
        if "window" in m
        else out.window,
        half_life=_seconds(m["half-life"], at.key(m, "half-life"), 0.001, TRIAGE_WINDOW_MAX)
        if "half-life" in m
        else out.half_life,
    )


def _policy(doc: object, kinds: Collection[str]) -> Policy:
    if doc is None:
        raise Bad("", "the file is empty: a policy has services, domains and rules", None)
    top = read_mapping(doc, At(""), _TOP, "a mapping (services, domains, rules)")
    found_services = _names_map(top.get("services"), At("").key(top, "services"), "services")
    services = {
        n: _service(n, v, At(f"services.{n}", "", At("").key(found_services, n).line), kinds)
        for n, v in found_services.items()
    }
    found_domains = _names_map(top.get("domains"), At("").key(top, "domains"), "domains")
    domains = {
        n: _domain(n, v, At(f"domains.{n}", "", At("").key(found_domains, n).line))
        for n, v in found_domains.items()
    }
    rules: dict[str, Rule] = {}
    listed = top.get("rules")
    if listed is not None:
        where = At("").key(top, "rules")
        if not isinstance(listed, list):
            raise where.bad(f"expected a list of rules, got {described(listed)}")
        for i, value in enumerate(listed):
            rule = _rule(value, where.item(listed, i), services, len(domains))
            if rule.name in rules:
                first = list(rules).index(rule.name)
                raise (
                    where.item(listed, i)
                    .named(rule.name)
                    .bad(f"the rule name {rule.name!r} is taken by rules[{first}]")
                )
            rules[rule.name] = rule
    pools = read_pools(top.get("pools"), At("").key(top, "pools"))
    probes = read_probes(top.get("probes"), At("").key(top, "probes"), services, domains)
    triage = _triage(top.get("triage"), At("").key(top, "triage"))
    provisioning = read_provisioning(
        top.get("provisioning"), At("").key(top, "provisioning"), rules
    )
    accounting = read_accounting(top.get("accounting"), At("").key(top, "accounting"))
    maintenance = read_maintenance(top.get("maintenance"), At("").key(top, "maintenance"))
    images = read_images(top.get("images"), At("").key(top, "images"))
    return Policy(
        services, domains, rules, pools=pools, probes=probes, triage=triage,
        provisioning=provisioning, accounting=accounting, maintenance=maintenance,
        images=images,
    )  # fmt: skip


def parse_policy(text: str, where: str = "policy", kinds: Collection[str] = KINDS) -> Policy:
    """The policy `text` says, or `PolicyError` naming `where` (the file), the line and
    the place.

    `kinds` are the kinds a selector may name: vtrail's own, and whatever else the
    store holds (an external producer's); a kind outside them is a typo."""
    try:
        doc = yaml.load(text, Loader=Loader)
        return _policy(doc, kinds)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        message = f"{where}{line}: not YAML: {e.problem or e.context}"
    except yaml.YAMLError as e:
        message = f"{where}: not YAML: {e}"
    except Bad as e:
        line = f":{e.line}" if e.line is not None else ""
        place = f" {e.place}:" if e.place else ""
        message = f"{where}{line}:{place} {e.reason}"
    raise PolicyError(" ".join(message.split("\n")))


def load_policy(path: Path | str, kinds: Collection[str] = KINDS) -> Policy:
    """The policy in the file at `path`, named in errors as it was given."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise PolicyError(f"no such file: {p}") from None
    except IsADirectoryError:
        raise PolicyError(f"{p} is a directory, not a policy file") from None
    except OSError as e:
        raise PolicyError(f"cannot read {p}: {e.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise PolicyError(f"{p}:{line}: not UTF-8 text (byte {e.start + 1})") from None
    return parse_policy(text, str(p), kinds)
