"""OVSDB rows as small typed records: what `get` hands to `transform`.

Two shapes of row reach this module and both end up here: the wire JSON of an
OVSDB `select` (what `ovsdb-client transact` prints, and what the fixtures
under `tests/data/ovs/` hold) and the Python values the `ovs` IDL exposes. In
both, a column of set type with one element may arrive as the bare atom, so
the readers below accept either form instead of trusting the schema.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from vtrail.collectors.base import SourceError

#: The four tables the collector reads, in the order `select_ops` asks for them.
TABLES: tuple[str, ...] = ("Open_vSwitch", "Bridge", "Port", "Interface")

Row = Mapping[str, object]


@dataclass(frozen=True, slots=True)
class OvsInterface:
    uuid: str
    name: str
    #: As stored: "" means an ordinary (system) network device.
    type: str
    ofport: int | None = None
    link_state: str | None = None
    admin_state: str | None = None
    mac_in_use: str | None = None
    mtu: int | None = None
    ifindex: int | None = None
    error: str | None = None
    external_ids: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)
    statistics: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OvsPort:
    uuid: str
    name: str
    interfaces: tuple[str, ...] = ()
    tag: int | None = None
    trunks: tuple[int, ...] = ()
    vlan_mode: str | None = None


@dataclass(frozen=True, slots=True)
class OvsBridge:
    uuid: str
    name: str
    ports: tuple[str, ...] = ()
    #: As stored: "" means the kernel ("system") datapath.
    datapath_type: str = ""
    fail_mode: str | None = None
    datapath_id: str | None = None
    external_ids: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OvsState:
    """One consistent reading of the switch; references are row uuids."""

    hostname: str | None
    bridges: tuple[OvsBridge, ...] = ()
    ports: tuple[OvsPort, ...] = ()
    interfaces: tuple[OvsInterface, ...] = ()


# --- tolerant column readers -------------------------------------------------


def _items(value: object) -> list[object]:
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _one(value: object) -> object:
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


def _str(value: object) -> str | None:
    v = _one(value)
    return v if isinstance(v, str) else None


def _int(value: object) -> int | None:
    v = _one(value)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _ints(value: object) -> tuple[int, ...]:
    return tuple(v for v in _items(value) if isinstance(v, int) and not isinstance(v, bool))


def _refs(value: object) -> tuple[str, ...]:
    return tuple(sorted(v for v in _items(value) if isinstance(v, str)))


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def _int_map(value: object) -> dict[str, int]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool)}


# --- builders shared by both row shapes --------------------------------------


def bridge_from(uuid: str, row: Row) -> OvsBridge:
    return OvsBridge(
        uuid=uuid,
        name=_str(row.get("name")) or "",
        ports=_refs(row.get("ports", [])),
        datapath_type=_str(row.get("datapath_type")) or "",
        fail_mode=_str(row.get("fail_mode")),
        datapath_id=_str(row.get("datapath_id")),
        external_ids=_str_map(row.get("external_ids")),
    )


def port_from(uuid: str, row: Row) -> OvsPort:
    return OvsPort(
        uuid=uuid,
        name=_str(row.get("name")) or "",
        interfaces=_refs(row.get("interfaces", [])),
        tag=_int(row.get("tag")),
        trunks=tuple(sorted(_ints(row.get("trunks", [])))),
        vlan_mode=_str(row.get("vlan_mode")),
    )


def interface_from(uuid: str, row: Row) -> OvsInterface:
    return OvsInterface(
        uuid=uuid,
        name=_str(row.get("name")) or "",
        type=_str(row.get("type")) or "",
        ofport=_int(row.get("ofport")),
        link_state=_str(row.get("link_state")),
        admin_state=_str(row.get("admin_state")),
        mac_in_use=_str(row.get("mac_in_use")),
        mtu=_int(row.get("mtu")),
        ifindex=_int(row.get("ifindex")),
        error=_str(row.get("error")),
        external_ids=_str_map(row.get("external_ids")),
        options=_str_map(row.get("options")),
        statistics=_int_map(row.get("statistics")),
    )


def state_from_rows(
    open_vswitch: Iterable[Row],
    bridges: Iterable[tuple[str, Row]],
    ports: Iterable[tuple[str, Row]],
    interfaces: Iterable[tuple[str, Row]],
) -> OvsState:
    hostname = None
    for row in open_vswitch:
        hostname = _str_map(row.get("external_ids")).get("hostname") or None
    return OvsState(
        hostname=hostname,
        bridges=tuple(sorted((bridge_from(u, r) for u, r in bridges), key=lambda b: b.uuid)),
        ports=tuple(sorted((port_from(u, r) for u, r in ports), key=lambda p: p.uuid)),
        interfaces=tuple(
            sorted((interface_from(u, r) for u, r in interfaces), key=lambda i: i.uuid)
        ),
    )


# --- the OVSDB wire format ---------------------------------------------------


def select_ops(
    db: str = "Open_vSwitch", columns: Mapping[str, Iterable[str]] | None = None
) -> list[object]:
    """The `transact` params that read every row of `TABLES` in one request.

    With `columns`, only those (and `_uuid`) are sent: a fraction of the bytes.
    """
    ops: list[object] = [db]
    for t in TABLES:
        op: dict[str, object] = {"op": "select", "table": t, "where": []}
        if columns is not None:
            op["columns"] = ["_uuid", *columns.get(t, ())]
        ops.append(op)
    return ops


def counters(value: object) -> dict[str, int]:
    """An `Interface.statistics` value in either row shape."""
    return _int_map(value)


def _wire(value: object) -> object:
    """Decode one OVSDB JSON datum (RFC 7047 §5.1) into plain Python values."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        tag, body = value
        if tag in ("uuid", "named-uuid"):
            return body
        if tag == "set" and isinstance(body, list):
            return [_wire(v) for v in body]
        if tag == "map" and isinstance(body, list):
            return {
                _wire(pair[0]): _wire(pair[1])
                for pair in body
                if isinstance(pair, list) and len(pair) == 2
            }
    return value


def _wire_rows(result: object, table: str) -> list[tuple[str, Row]]:
    if not isinstance(result, Mapping):
        raise SourceError(f"OVSDB answered a select on {table} with {type(result).__name__}")
    if "error" in result:
        detail = result.get("details") or result.get("error")
        raise SourceError(f"OVSDB refused to select table {table}: {detail}")
    rows = result.get("rows")
    if not isinstance(rows, list):
        raise SourceError(f"OVSDB answered a select on {table} without rows")
    out: list[tuple[str, Row]] = []
    for row in rows:
        if isinstance(row, Mapping):
            plain = {str(k): _wire(v) for k, v in row.items()}
            uuid = plain.get("_uuid")
            if isinstance(uuid, str):
                out.append((uuid, plain))
    return out


def state_from_select(reply: object) -> OvsState:
    """Read the result of `transact(select_ops())`, as sent on the wire."""
    if not isinstance(reply, list) or len(reply) < len(TABLES):
        raise SourceError(f"OVSDB answered the select with {type(reply).__name__}, not a list")
    tables = {t: _wire_rows(r, t) for t, r in zip(TABLES, reply, strict=False)}
    return state_from_rows(
        (row for _, row in tables["Open_vSwitch"]),
        tables["Bridge"],
        tables["Port"],
        tables["Interface"],
    )
