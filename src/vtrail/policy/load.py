"""A policy file (YAML) read into a `Policy`, or refused in one line naming the place.

The shape (docs/policy.md):

    services:
      web: {owner: team-web, members: {kind: vm, name: "web-*"}}
    domains:
      rack-1: {hosts: [hv-a, hv-b]}
    rules:
      - {name: db-apart, anti-affinity: db}
      - {name: web-near-db, max-hops: {from: web, to: db, hops: 2}}
      - {name: db-off-hv-c, host-anti-affinity: {service: db, hosts: [hv-c]}}
      - {name: cache-with-web, affinity: [cache, web]}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import yaml  # type: ignore[import-untyped]

from vtrail.policy.model import RULE_KINDS, Domain, Policy, Rule, RuleKind, Selector, Service


class PolicyError(ValueError):
    """A policy file that cannot be read or checked; the message names the place."""


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PolicyError(f"{where}: expected a mapping, got {type(value).__name__}")
    return {str(k): v for k, v in value.items()}


def _section(top: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    """An optional mapping: absent is empty, anything but a mapping is refused."""
    return _mapping(top[key], f"{where}: {key}") if key in top else {}


def _keys(value: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(value) - allowed)
    if extra:
        raise PolicyError(
            f"{where}: unknown key {extra[0]!r} (expected one of {', '.join(sorted(allowed))})"
        )


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise PolicyError(f"{where}: expected a non-empty string")
    return value


def _optional(m: dict[str, Any], key: str, where: str) -> str | None:
    if key not in m:
        return None
    if not isinstance(m[key], str):
        raise PolicyError(f"{where}.{key}: expected a string")
    return str(m[key])


def _texts(value: Any, where: str) -> tuple[str, ...]:
    """One name or a list of them."""
    items = value if isinstance(value, list) else [value]
    return tuple(_text(v, f"{where}[{i}]") for i, v in enumerate(items))


def _selector(value: Any, where: str) -> Selector:
    m = _mapping(value, where)
    _keys(m, {"kind", "name", "attrs", "ids"}, where)
    attrs = _mapping(m["attrs"], f"{where}.attrs") if "attrs" in m else {}
    for k, v in attrs.items():
        if not isinstance(v, str | int | float | bool | type(None)):
            raise PolicyError(f"{where}.attrs.{k}: expected a string, number, boolean or null")
    return Selector(
        kind=_text(m["kind"], f"{where}.kind") if "kind" in m else None,
        name=_text(m["name"], f"{where}.name") if "name" in m else None,
        attrs=tuple(sorted(attrs.items())),
        ids=_texts(m["ids"], f"{where}.ids") if "ids" in m else (),
    )


def _hops(value: Any, where: str) -> int:
    # 2.0 is the number 2, as JSON has it.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PolicyError(f"{where}: expected a whole number of router hops, 0 or more")
    return value


def _rule(value: Any, where: str, services: dict[str, Service]) -> Rule:
    m = _mapping(value, where)
    _keys(m, {"name", "description", *RULE_KINDS}, where)
    name = _text(m.get("name"), f"{where}.name")
    kinds = [k for k in RULE_KINDS if k in m]
    if len(kinds) != 1:
        raise PolicyError(f"{where}: a rule has exactly one of {', '.join(RULE_KINDS)}")
    kind = cast(RuleKind, kinds[0])
    spec, at = m[kind], f"{where}.{kind}"
    hosts: tuple[str, ...] = ()
    names: tuple[str, ...]
    hops = None
    if kind in ("host-affinity", "host-anti-affinity"):
        s = _mapping(spec, at)
        _keys(s, {"service", "hosts"}, at)
        names = (_text(s.get("service"), f"{at}.service"),)
        if "hosts" not in s:
            raise PolicyError(f"{at}.hosts: the hosts the rule names are missing")
        hosts = _texts(s["hosts"], f"{at}.hosts")
    elif kind == "max-hops":
        s = _mapping(spec, at)
        _keys(s, {"from", "to", "hops"}, at)
        names = (_text(s.get("from"), f"{at}.from"), _text(s.get("to"), f"{at}.to"))
        hops = _hops(s.get("hops"), f"{at}.hops")
    else:
        names = _texts(spec, at)
    for n in names:
        if n not in services:
            raise PolicyError(f"{at}: unknown service {n!r}")
    return Rule(name, kind, names, hosts, hops, _optional(m, "description", where))


def build_policy(data: Any, where: str = "policy") -> Policy:
    """The policy a parsed file holds; `PolicyError` naming the place of the first fault."""
    top = _mapping(data, where)
    _keys(top, {"services", "domains", "rules"}, where)
    services: dict[str, Service] = {}
    for name, spec in _section(top, "services", where).items():
        at = f"{where}: services.{name}"
        s = _mapping(spec, at)
        _keys(s, {"owner", "members", "description"}, at)
        if "members" not in s:
            raise PolicyError(f"{at}.members: who the members are is missing")
        members = _selector(s["members"], f"{at}.members")
        services[name] = Service(
            name, members, _optional(s, "owner", at), _optional(s, "description", at)
        )
    domains: dict[str, Domain] = {}
    for name, spec in _section(top, "domains", where).items():
        at = f"{where}: domains.{name}"
        d = _mapping(spec, at)
        _keys(d, {"hosts", "bridges", "networks", "description"}, at)
        lists = {
            k: _texts(d[k], f"{at}.{k}") if k in d else () for k in ("hosts", "bridges", "networks")
        }
        domains[name] = Domain(name, **lists, description=_optional(d, "description", at))
    rules: dict[str, Rule] = {}
    raw = top.get("rules", [])
    if not isinstance(raw, list):
        raise PolicyError(f"{where}: rules: expected a list")
    for i, spec in enumerate(raw):
        rule = _rule(spec, f"{where}: rules[{i}]", services)
        if rule.name in rules:
            raise PolicyError(f"{where}: rules[{i}].name: {rule.name!r} is used twice")
        rules[rule.name] = rule
    return Policy(services, domains, rules)


def parse_policy(text: str, where: str = "policy", *, form: str = "yaml") -> Policy:
    """The policy a text holds: YAML (a policy file), or JSON with `form="json"`."""
    if form == "json":
        try:
            data = json.loads(text)
        except ValueError as e:
            raise PolicyError(f"{where}: not JSON: {e}") from None
        return build_policy(data, where)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise PolicyError(f"{where}: not YAML: {str(e).splitlines()[0]}") from None
    return build_policy(data, where)


def load_policy(path: Path | str) -> Policy:
    """The policy in the file at `path`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PolicyError(f"cannot read policy file {p}: {e}") from None
    return parse_policy(text, str(p))
