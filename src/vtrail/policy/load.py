"""A policy file (YAML) read into a `Policy`, every part checked first.

A bad file is refused as a whole with one line that names the file, the line
and the place in it: `policy.yaml:14: rules[2] (web-near-db): max-hops.to:
unknown service 'dbx' (services: db, web)`. Nothing of a refused file is
recorded, so each check is made here, before a `Policy` exists. The format is
docs/policy.md's.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

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
from vtrail.policy.model import (
    RULE_KINDS,
    Domain,
    Policy,
    Rule,
    RuleKind,
    Scalar,
    Selector,
    Service,
)

T = TypeVar("T")

#: A service, domain or rule name: it is the key of its entity id and is typed in commands.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: The most router hops a `max-hops` rule may allow: more is no constraint at all.
HOPS_MAX = 64
#: libvirt metadata reaches a selector as attributes under this prefix.
METADATA = "metadata."

_TOP = ("services", "domains", "rules")
_SERVICE = ("members", "owner", "description")
_SELECTOR = ("kind", "name", "attrs", "metadata", "ids")
_DOMAIN = ("hosts", "bridges", "networks", "description")
_RULE = ("name", "description", *RULE_KINDS)
_HOST_RULE = ("service", "hosts")
_MAX_HOPS = ("from", "to", "hops")


class PolicyError(ValueError):
    """A policy that cannot be applied, said in one line: file, line, place, reason."""


# -- YAML with the line of every key and item --------------------------------------------


class _Map(dict[Any, Any]):
    """A mapping that remembers the line of each key and the keys given twice."""

    line: int
    lines: dict[Any, int]
    twice: list[tuple[Any, int, int]]


class _Seq(list[Any]):
    line: int
    lines: list[int]


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    pass


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    out = _Map()
    out.line, out.lines, out.twice = _line(node), {}, []
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise _Bad("", f"a key is a name, not {_what(key)}", _line(key_node))
        if key in out.lines:
            out.twice.append((key, out.lines[key], _line(key_node)))
            continue
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = _line(key_node)
    return out


def _seq(loader: _Loader, node: yaml.SequenceNode) -> _Seq:
    out = _Seq(loader.construct_object(child, deep=True) for child in node.value)
    out.line, out.lines = _line(node), [_line(child) for child in node.value]
    return out


_Loader.add_constructor("tag:yaml.org,2002:map", _map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _seq)


# -- places and refusals -----------------------------------------------------------------


class _Bad(Exception):
    def __init__(self, place: str, reason: str, line: int | None) -> None:
        super().__init__(reason)
        self.place, self.reason, self.line = place, reason, line


@dataclass(frozen=True, slots=True)
class _At:
    """Where a value is: `head` names the service, domain or rule (`rules[2] (web-near-db)`),
    `tail` the key inside it (`max-hops.to`)."""

    head: str
    tail: str = ""
    line: int | None = None

    def key(self, m: Mapping[Any, Any], k: str) -> _At:
        line = m.lines.get(k, self.line) if isinstance(m, _Map) else self.line
        if not self.head:
            return _At(k, "", line)
        return _At(self.head, f"{self.tail}.{k}" if self.tail else k, line)

    def item(self, s: list[Any], i: int) -> _At:
        line = s.lines[i] if isinstance(s, _Seq) else self.line
        if self.tail:
            return _At(self.head, f"{self.tail}[{i}]", line)
        return _At(f"{self.head}[{i}]", "", line)

    def named(self, name: object) -> _At:
        return _At(f"{self.head} ({name})", self.tail, self.line) if _is_name(name) else self

    def bad(self, reason: str) -> _Bad:
        place = f"{self.head}: {self.tail}" if self.tail else self.head
        return _Bad(place, reason, self.line)


def _what(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {_quoted(value)}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _quoted(value: object, limit: int = 60) -> str:
    """`value` as Python writes it, shortened: an error line quotes, it does not reprint."""
    if not isinstance(value, str):
        return repr(value)
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


def _known(found: str, known: Iterable[str], what: str) -> str:
    """`(allowed: a, b)`, led by the closest when one is close: a typo is the usual cause."""
    names = sorted(known)
    close = difflib.get_close_matches(found, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"({hint}{what}: {', '.join(names)})" if names else f"(no {what} are defined)"


def _is_name(value: object) -> bool:
    return isinstance(value, str) and NAME.match(value) is not None


# -- typed reads -------------------------------------------------------------------------


def _mapping(
    value: object, at: _At, allowed: Collection[str] | None, what: str
) -> Mapping[Any, Any]:
    """`value` as a mapping, each key given once and (unless `allowed` is None) known."""
    if not isinstance(value, dict):
        raise at.bad(f"expected {what}, got {_what(value)}")
    if isinstance(value, _Map) and value.twice:
        key, first, again = value.twice[0]
        raise _At(at.head, at.tail, again).bad(
            f"{_quoted(key)} is given twice (first on line {first})"
        )
    for k in value:
        if allowed is None:
            if not isinstance(k, str) or not k:
                raise at.key(value, str(k)).bad(f"{_quoted(k)} is not a name")
        elif not isinstance(k, str) or k not in allowed:
            known = _known(str(k), allowed, "allowed")
            raise at.key(value, str(k)).bad(f"unknown key {_quoted(k)} {known}")
    return value


def _names_map(value: object, at: _At, what: str) -> Mapping[str, Any]:
    """A mapping of names (services, domains) to their parts."""
    if value is None:
        return {}
    m = _mapping(value, at, None, f"a mapping of {what} by name")
    for k in m:
        _name(k, _At(at.head, "", at.key(m, k).line))
    return m


def _name(value: object, at: _At) -> str:
    if not isinstance(value, str):
        raise at.bad(f"expected a name, got {_what(value)}")
    if not _is_name(value):
        raise at.bad(
            f"{_quoted(value)} is not a name: letters, digits, '.', '_' and '-', starting with a "
            "letter or digit, at most 64 characters"
        )
    return value


def _text(value: object, at: _At) -> str:
    if not isinstance(value, str) or not value.strip():
        raise at.bad(f"expected text, got {_what(value)}")
    if (bad := value_problem({"": value})) is not None:
        raise at.bad(bad[1])
    return value


def _optional_text(m: Mapping[str, Any], key: str, at: _At) -> str | None:
    return _text(m[key], at.key(m, key)) if key in m else None


def _list(value: object, at: _At, what: str, read: Callable[[object, _At], T]) -> tuple[T, ...]:
    """A list, each item read by `read` and listed once; one text alone is a list of one."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise at.bad(f"expected a list of {what}, got {_what(value)}")
    out: list[T] = []
    for i, item in enumerate(value):
        got = read(item, at.item(value, i))
        if got in out:
            raise at.item(value, i).bad(f"{_quoted(got)} is listed twice")
        out.append(got)
    return tuple(out)


def _count(value: object, at: _At, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise at.bad(f"expected a whole number, got {_what(value)}")
    if not lo <= value <= hi:
        raise at.bad(f"{value} is out of range: from {lo} to {hi}")
    return value


# -- the parts ---------------------------------------------------------------------------


def _glob(value: object, at: _At) -> str:
    """An fnmatch glob: `*`, `?`, `[set]`. An unclosed `[` matches only itself, which is
    never what was meant, so it is refused."""
    pattern = _text(value, at)
    i = 0
    while i < len(pattern):
        if pattern[i] == "[":
            j = i + 1
            if j < len(pattern) and pattern[j] == "!":
                j += 1
            if j < len(pattern) and pattern[j] == "]":
                j += 1
            while j < len(pattern) and pattern[j] != "]":
                j += 1
            if j >= len(pattern):
                raise at.bad(
                    f"bad glob {_quoted(pattern)}: the '[' at character {i + 1} is not closed"
                )
            i = j
        i += 1
    return pattern


def _scalar(value: object, at: _At) -> Scalar:
    if isinstance(value, dict | list):
        raise at.bad(f"an attribute is compared with one value, not {_what(value)}")
    if not isinstance(value, str | int | float | bool) and value is not None:
        raise at.bad(f"an attribute is compared with a scalar, not {_what(value)}")
    if (bad := value_problem({"": value})) is not None:
        raise at.bad(bad[1])
    return value


def _entity_id(value: object, at: _At) -> str:
    if not isinstance(value, str):
        raise at.bad(f"expected an entity id, got {_what(value)}")
    try:
        split_id(value)
    except InvalidId as e:
        raise at.bad(str(e)) from None
    return value


def _selector(value: object, at: _At, kinds: Collection[str]) -> Selector:
    m = _mapping(value, at, _SELECTOR, "a selector (a mapping)")
    kind = None
    if "kind" in m:
        kind = _text(m["kind"], at.key(m, "kind"))
        if kind not in kinds:
            raise at.key(m, "kind").bad(
                f"unknown kind {_quoted(kind)} {_known(kind, kinds, 'known')}"
            )
    name = _glob(m["name"], at.key(m, "name")) if "name" in m else None
    attrs: dict[str, Scalar] = {}
    if "attrs" in m:
        what = "a mapping of attribute names to values"
        given = _mapping(m["attrs"], at.key(m, "attrs"), None, what)
        for k, v in given.items():
            attrs[k] = _scalar(v, at.key(m, "attrs").key(given, k))
    if "metadata" in m:
        what = "a mapping of metadata element names to text"
        given = _mapping(m["metadata"], at.key(m, "metadata"), None, what)
        for k, v in given.items():
            where = at.key(m, "metadata").key(given, k)
            if not isinstance(v, str):
                raise where.bad(f"libvirt metadata is text, not {_what(v)}: quote it")
            if METADATA + k in attrs:
                raise where.bad(f"given twice: also as attrs.{METADATA}{k}")
            attrs[METADATA + k] = _scalar(v, where)
    ids: tuple[str, ...] = ()
    if "ids" in m:
        ids = _list(m["ids"], at.key(m, "ids"), "entity ids", _entity_id)
        for i, eid in enumerate(ids):
            if kind is not None and split_id(eid)[0] != kind:
                raise at.key(m, "ids").item(m["ids"], i).bad(f"{eid} is not a {kind}")
    found = Selector(kind, name, tuple(attrs.items()), ids)
    if found.empty:
        raise at.bad("selects nothing: give at least one of kind, name, attrs, metadata, ids")
    return found


def _service(name: str, value: object, at: _At, kinds: Collection[str]) -> Service:
    m = _mapping(value, at, _SERVICE, "a mapping (members, owner, description)")
    if "members" not in m:
        raise at.bad("a service needs members: a selector (kind, name, attrs, metadata, ids)")
    return Service(
        name,
        _selector(m["members"], at.key(m, "members"), kinds),
        owner=_optional_text(m, "owner", at),
        description=_optional_text(m, "description", at),
    )


def _is_id(text: str, kind: str) -> bool:
    """Whether `text` is written as an id of `kind` rather than as its key alone."""
    return text.partition(":")[0] == kind


def _host(value: object, at: _At) -> str:
    name = _text(value, at)
    try:
        if _is_id(name, "host"):
            name = parse_named(name, "host")
        split_id(host_id(name))
    except InvalidId:
        raise at.bad(f"{_quoted(value)} is not a host name") from None
    return name


def _bridge(value: object, at: _At) -> str:
    text = _text(value, at)
    if _is_id(text, "bridge"):
        try:
            parse_interface(text)
        except InvalidId as e:
            raise at.bad(str(e)) from None
        return text
    where, slash, ifname = text.rpartition("/")
    if not slash or not where or not ifname:
        raise at.bad(f"{_quoted(text)} is not a bridge: write HOST/IFNAME (hv-a/br0)")
    eid = bridge_id(where, ifname)
    try:
        split_id(eid)
    except InvalidId as e:
        raise at.bad(str(e)) from None
    return eid


def _network(value: object, at: _At) -> str:
    text = _text(value, at)
    try:
        if _is_id(text, "net"):
            if parse_net(text).space is None:
                raise InvalidId(f"{_quoted(text)} names no address space: write net:NAME@HOST")
            return text
        local, at_sign, space = text.partition("@")
        if not at_sign:
            raise InvalidId(
                f"{_quoted(text)} is not a network: write NAME@HOST (default@hv-a) or CIDR@SPACE"
            )
        eid = net_id(local, space)
        split_id(eid)
    except InvalidId as e:
        raise at.bad(str(e)) from None
    return eid


def _domain(name: str, value: object, at: _At) -> Domain:
    m = _mapping(value, at, _DOMAIN, "a mapping (hosts, bridges, networks, description)")

    def part(key: str, what: str, read: Callable[[object, _At], str]) -> tuple[str, ...]:
        return _list(m[key], at.key(m, key), what, read) if key in m else ()

    found = Domain(
        name,
        hosts=part("hosts", "host names", _host),
        bridges=part("bridges", "bridges", _bridge),
        networks=part("networks", "networks", _network),
        description=_optional_text(m, "description", at),
    )
    if not (found.hosts or found.bridges or found.networks):
        raise at.bad("a domain holds at least one host, bridge or network")
    return found


def _rule(value: object, at: _At, services: Collection[str], domains: int) -> Rule:
    if isinstance(value, dict):
        at = at.named(value.get("name"))
    m = _mapping(value, at, _RULE, "a mapping (name, and one rule kind)")
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

    def service(v: object, where: _At) -> str:
        found = _name(v, where)
        if found not in services:
            raise where.bad(
                f"unknown service {_quoted(found)} {_known(found, services, 'services')}"
            )
        return found

    hosts: tuple[str, ...] = ()
    hops = None
    if kind in ("same-domain", "anti-affinity"):
        # One service, or several taken as one group (`same-domain: [web, db]`).
        names: tuple[str, ...] = _list(body, here, "service names", service)
        if not names:
            raise here.bad(f"{kind} names at least one service")
        if kind == "same-domain" and not domains:
            raise here.bad("no domains are defined: same-domain needs some (domains:)")
    elif kind == "affinity":
        names = _list(body, here, "service names", service)
        if not names:
            raise here.bad("affinity names at least one service")
    elif kind in ("host-affinity", "host-anti-affinity"):
        b = _mapping(body, here, _HOST_RULE, "a mapping (service, hosts)")
        for need in _HOST_RULE:
            if need not in b:
                raise here.bad(f"{kind} needs {need} (service: NAME, hosts: [HOST, ...])")
        names = (service(b["service"], here.key(b, "service")),)
        hosts = _list(b["hosts"], here.key(b, "hosts"), "host names", _host)
        if not hosts:
            raise here.key(b, "hosts").bad(f"{kind} names at least one host")
    else:
        b = _mapping(body, here, _MAX_HOPS, "a mapping (from, to, hops)")
        for need in _MAX_HOPS:
            if need not in b:
                raise here.bad(f"max-hops needs {need} (from: SERVICE, to: SERVICE, hops: N)")
        names = (service(b["from"], here.key(b, "from")), service(b["to"], here.key(b, "to")))
        hops = _count(b["hops"], here.key(b, "hops"), 1, HOPS_MAX)
    return Rule(
        name,
        kind,
        names,
        hosts=hosts,
        hops=hops,
        description=_optional_text(m, "description", at),
    )


def _policy(doc: object, kinds: Collection[str]) -> Policy:
    if doc is None:
        raise _Bad("", "the file is empty: a policy has services, domains and rules", None)
    top = _mapping(doc, _At(""), _TOP, "a mapping (services, domains, rules)")
    found_services = _names_map(top.get("services"), _At("").key(top, "services"), "services")
    services = {
        n: _service(n, v, _At(f"services.{n}", "", _At("").key(found_services, n).line), kinds)
        for n, v in found_services.items()
    }
    found_domains = _names_map(top.get("domains"), _At("").key(top, "domains"), "domains")
    domains = {
        n: _domain(n, v, _At(f"domains.{n}", "", _At("").key(found_domains, n).line))
        for n, v in found_domains.items()
    }
    rules: dict[str, Rule] = {}
    listed = top.get("rules")
    if listed is not None:
        where = _At("").key(top, "rules")
        if not isinstance(listed, list):
            raise where.bad(f"expected a list of rules, got {_what(listed)}")
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
    return Policy(services, domains, rules)


def parse_policy(text: str, where: str = "policy", kinds: Collection[str] = KINDS) -> Policy:
    """The policy `text` says, or `PolicyError` naming `where` (the file), the line and
    the place.

    `kinds` are the kinds a selector may name: vtrail's own, and whatever else the
    store holds (an external producer's); a kind outside them is a typo."""
    try:
        doc = yaml.load(text, Loader=_Loader)
        return _policy(doc, kinds)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        message = f"{where}{line}: not YAML: {e.problem or e.context}"
    except yaml.YAMLError as e:
        message = f"{where}: not YAML: {e}"
    except _Bad as e:
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
