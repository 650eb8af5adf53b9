"""Talking to OVSDB over its unix socket: the collector's only OS boundary.

Everything here raises `SourceError` with one line saying which socket and
why. Nothing here decides what the rows mean; `rows` makes typed records of
them and `transform` turns those into observations.

Two clients, on purpose. One-shot requests (`call`, `fetch_state`) use a
socket and the standard library's JSON decoder: the `ovs` package parses
JSON in pure Python unless its C extension was built, which made one select
of a 1,000-port switch cost over a second. Following changes uses the `ovs`
IDL (`OvsdbMonitor`), which keeps the replica and speaks the monitor protocol.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ovs.db.idl
import ovs.poller
import ovs.timeval

from vtrail.collectors.base import SourceError
from vtrail.collectors.ovs.rows import (
    OvsState,
    Row,
    counters,
    select_ops,
    state_from_rows,
    state_from_select,
)

DB = "Open_vSwitch"
DEFAULT_TIMEOUT = 5.0

#: What is read and replicated. Leaving out `status`, `other_config`, the QoS
#: and mirror tables keeps both the select and the update stream small.
COLUMNS: dict[str, tuple[str, ...]] = {
    "Open_vSwitch": ("external_ids",),
    "Bridge": ("name", "ports", "datapath_type", "fail_mode", "datapath_id", "external_ids"),
    "Port": ("name", "interfaces", "tag", "trunks", "vlan_mode"),
    "Interface": (
        "name",
        "type",
        "ofport",
        "link_state",
        "admin_state",
        "mac_in_use",
        "mtu",
        "ifindex",
        "error",
        "external_ids",
        "options",
        "statistics",
    ),
}
_COUNTER_COLUMN = "statistics"
_OTHER_COLUMNS = frozenset(c for cols in COLUMNS.values() for c in cols) - {_COUNTER_COLUMN}


class _Rpc:
    """JSON-RPC 1.0 on one OVSDB connection (RFC 7047 §4), blocking with a deadline."""

    def __init__(self, socket_path: str, timeout: float) -> None:
        self.path = socket_path
        self.timeout = timeout
        self._deadline = time.monotonic() + timeout
        self._buf = b""
        self._next_id = 0
        if not Path(socket_path).exists():
            raise SourceError(f"OVSDB socket {socket_path} does not exist")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.settimeout(timeout)
            self._sock.connect(socket_path)
        except OSError as e:
            self._sock.close()
            raise SourceError(f"cannot connect to OVSDB at {socket_path}: {_why(e)}") from None

    def close(self) -> None:
        self._sock.close()

    def _send(self, msg: Mapping[str, Any]) -> None:
        self._sock.sendall(json.dumps(msg).encode())

    def request(self, method: str, params: list[Any]) -> Any:
        self._next_id += 1
        rid = self._next_id
        try:
            self._send({"method": method, "params": params, "id": rid})
            while True:
                msg = self._receive(method)
                if msg.get("method") == "echo" and "id" in msg:
                    self._send({"result": msg.get("params"), "error": None, "id": msg["id"]})
                elif msg.get("id") == rid and ("result" in msg or "error" in msg):
                    if msg.get("error") is not None:
                        raise SourceError(f"OVSDB at {self.path} refused {method}: {msg['error']}")
                    return msg["result"]
        except TimeoutError:
            raise SourceError(
                f"OVSDB at {self.path} did not answer {method} within {self.timeout:g} s"
            ) from None
        except OSError as e:
            raise SourceError(
                f"OVSDB at {self.path} broke off during {method}: {_why(e)}"
            ) from None

    def _receive(self, method: str) -> dict[str, Any]:
        decoder = json.JSONDecoder()
        while True:
            text = self._buf.lstrip()
            # OVSDB does not delimit messages; a complete one ends in '}', so
            # only then is a parse attempt worth its cost.
            if text.endswith(b"}"):
                try:
                    decoded = text.decode()
                    msg, end = decoder.raw_decode(decoded)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    pass  # a '}' inside the message, not its end
                else:
                    self._buf = decoded[end:].encode()
                    if isinstance(msg, dict):
                        return msg
                    continue
            self._sock.settimeout(max(0.001, self._deadline - time.monotonic()))
            chunk = self._sock.recv(1 << 18)
            if not chunk:
                raise SourceError(f"OVSDB at {self.path} closed the connection during {method}")
            self._buf += chunk


def _why(e: OSError) -> str:
    return e.strerror or type(e).__name__


def call(socket_path: str, method: str, params: list[Any], timeout: float) -> Any:
    """One request on a fresh connection; its result, or `SourceError`."""
    rpc = _Rpc(socket_path, timeout)
    try:
        return rpc.request(method, params)
    finally:
        rpc.close()


def fetch_schema(socket_path: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    schema = call(socket_path, "get_schema", [DB], timeout)
    return _checked_schema(socket_path, schema)


def _checked_schema(socket_path: str, schema: Any) -> dict[str, Any]:
    if not isinstance(schema, dict) or not isinstance(schema.get("tables"), dict):
        raise SourceError(f"OVSDB at {socket_path} sent no usable {DB} schema")
    for table in COLUMNS:
        if table not in schema["tables"]:
            raise SourceError(f"OVSDB at {socket_path} has no {table} table")
    return schema


def _present(schema: dict[str, Any]) -> dict[str, list[str]]:
    """`COLUMNS` less any this server's (older) schema lacks."""
    tables = schema["tables"]
    return {
        t: [c for c in cols if c in tables[t].get("columns", {})] for t, cols in COLUMNS.items()
    }


def fetch_state(socket_path: str, timeout: float = DEFAULT_TIMEOUT) -> OvsState:
    """Every bridge, port and interface, read in one transaction (so consistent)."""
    rpc = _Rpc(socket_path, timeout)
    try:
        schema = _checked_schema(socket_path, rpc.request("get_schema", [DB]))
        reply = rpc.request("transact", select_ops(DB, _present(schema)))
    finally:
        rpc.close()
    return state_from_select(reply)


def _plain(value: Any) -> object:
    """IDL values → the plain shapes `rows` reads (row references become uuids)."""
    if isinstance(value, ovs.db.idl.Row):
        return str(value.uuid)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value if v is not None]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


def _idl_rows(table: Any) -> list[tuple[str, Row]]:
    out: list[tuple[str, Row]] = []
    for row_uuid, row in table.rows.items():
        values: dict[str, object] = {}
        for column in table.columns:
            try:
                values[column] = _plain(getattr(row, column))
            except AttributeError:
                continue  # a column the server has not sent for this row yet
        out.append((str(row_uuid), values))
    return out


@dataclass(frozen=True, slots=True)
class Changes:
    """What arrived since the last `OvsdbMonitor.wait`."""

    #: Rows were added or removed, or a column other than the counters changed.
    structure: bool
    #: Interface name → its new counters, for rows where nothing else changed.
    counters: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


class OvsdbMonitor:
    """A live replica of the switch tables, kept current by the `ovs` IDL.

    The IDL would silently reconnect after the server goes away; a flight
    recorder must instead say "I lost sight" so the runner can record the
    gap, so any disconnect after the first full copy raises `SourceError`.
    """

    def __init__(
        self, socket_path: str, timeout: float = DEFAULT_TIMEOUT, *, counters: bool = True
    ) -> None:
        """`counters=False` leaves `Interface.statistics` out of the replica.

        Parsing the counter rewrites is most of the IDL's steady cost (the
        `ovs` package's pure-Python JSON parser); without them a vanished
        port's final counters are those of the last snapshot.
        """
        self.socket_path = socket_path
        schema = fetch_schema(socket_path, timeout)
        helper = ovs.db.idl.SchemaHelper(schema_json=schema)
        for table, columns in _present(schema).items():
            helper.register_columns(table, [c for c in columns if counters or c != _COUNTER_COLUMN])
        self._idl = ovs.db.idl.Idl("unix:" + str(Path(socket_path).absolute()), helper)
        # `notify` is the IDL's documented per-row hook; it lets counter-only
        # updates (ovs-vswitchd rewrites every interface's every 5 s) skip
        # the full re-read that structural changes need.
        self._idl.notify = self._notice
        self._structure = False
        self._counters: dict[str, Mapping[str, int]] = {}
        self._session_seqno: int | None = None
        try:
            self._await_contents(timeout)
        except BaseException:
            self._idl.close()
            raise
        self._structure = False
        self._counters = {}

    def _notice(self, event: str, row: Any, updates: Any = None) -> None:
        # `updates` holds only the columns that changed, so hasattr tells which.
        only_counters = (
            event == ovs.db.idl.ROW_UPDATE
            and updates is not None
            and not any(hasattr(updates, c) for c in _OTHER_COLUMNS)
        )
        if only_counters and hasattr(row, _COUNTER_COLUMN):
            self._counters[str(row.name)] = counters(getattr(row, _COUNTER_COLUMN))
        else:
            self._structure = True

    def _session(self) -> Any:
        # The Python IDL exposes no is_connected(); its session object is the
        # only place that knows, and has kept this name since OVS 2.x.
        return self._idl._session

    def _await_contents(self, timeout: float) -> None:
        deadline = ovs.timeval.msec() + int(timeout * 1000)
        while True:
            self._idl.run()
            if self._idl.change_seqno > 0 and self._session().is_connected():
                self._session_seqno = self._session().get_seqno()
                return
            if ovs.timeval.msec() >= deadline:
                raise SourceError(
                    f"OVSDB at {self.socket_path} sent no contents within {timeout:g} s"
                )
            poller = ovs.poller.Poller()
            self._idl.wait(poller)
            poller.timer_wait_until(deadline)
            poller.block()

    def _run(self) -> None:
        self._idl.run()
        session = self._session()
        if not session.is_connected() or session.get_seqno() != self._session_seqno:
            raise SourceError(f"lost the connection to OVSDB at {self.socket_path}")

    def _take(self) -> Changes | None:
        if not (self._structure or self._counters):
            return None
        changes = Changes(self._structure, self._counters)
        self._structure, self._counters = False, {}
        return changes

    def wait(self, timeout: float) -> Changes | None:
        """Block up to `timeout` s for changes; None if there were none."""
        self._run()
        if (changes := self._take()) is not None:
            return changes
        poller = ovs.poller.Poller()
        self._idl.wait(poller)
        poller.timer_wait(max(1, int(timeout * 1000)))
        poller.block()
        self._run()
        return self._take()

    def state(self) -> OvsState:
        tables = self._idl.tables
        return state_from_rows(
            (row for _, row in _idl_rows(tables["Open_vSwitch"])),
            _idl_rows(tables["Bridge"]),
            _idl_rows(tables["Port"]),
            _idl_rows(tables["Interface"]),
        )

    def close(self) -> None:
        self._idl.close()
