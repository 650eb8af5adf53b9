"""Talking to OVSDB over its unix socket: the collector's only OS boundary.

Everything here raises `SourceError` with one line saying which socket and
why. Nothing here decides what the rows mean; `rows` makes typed records of
them and `transform` turns those into observations.
"""

from __future__ import annotations

import errno
import os
import uuid
from typing import Any

import ovs.db.idl
import ovs.jsonrpc
import ovs.poller
import ovs.stream
import ovs.timeval
import ovs.util

from vtrail.collectors.base import SourceError
from vtrail.collectors.ovs.rows import OvsState, Row, select_ops, state_from_rows, state_from_select

DB = "Open_vSwitch"
DEFAULT_TIMEOUT = 5.0

#: What the IDL replicates. Leaving out `status`, `other_config`, the QoS and
#: mirror tables keeps the update stream small on a busy switch.
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


def _remote(socket_path: str) -> str:
    # The ovs library resolves relative unix paths against its own RUNDIR,
    # not the working directory; make the caller's meaning explicit.
    return "unix:" + os.path.abspath(socket_path)


def _reason(error: int) -> str:
    return "connection closed" if error == ovs.util.EOF else str(ovs.util.strerror(error))


def _connect(socket_path: str, deadline: int) -> ovs.jsonrpc.Connection:
    if not os.path.exists(socket_path):
        raise SourceError(f"OVSDB socket {socket_path} does not exist")
    timeout_ms = max(1, deadline - ovs.timeval.msec())
    error, stream = ovs.stream.Stream.open_block(
        ovs.stream.Stream.open(_remote(socket_path)), timeout_ms
    )
    if error:
        raise SourceError(f"cannot connect to OVSDB at {socket_path}: {_reason(error)}")
    return ovs.jsonrpc.Connection(stream)


def call(socket_path: str, method: str, params: list[Any], timeout: float) -> Any:
    """One JSON-RPC request on a fresh connection; the result, or `SourceError`."""
    deadline = ovs.timeval.msec() + int(timeout * 1000)
    rpc = _connect(socket_path, deadline)
    try:
        request = ovs.jsonrpc.Message.create_request(method, params)
        error = rpc.send(request)
        while not error:
            rpc.run()
            error, msg = rpc.recv()
            if error == errno.EAGAIN:
                if ovs.timeval.msec() >= deadline:
                    raise SourceError(
                        f"OVSDB at {socket_path} did not answer {method} within {timeout:g} s"
                    )
                poller = ovs.poller.Poller()
                rpc.wait(poller)
                rpc.recv_wait(poller)
                poller.timer_wait_until(deadline)
                poller.block()
                error = 0
                continue
            if error or msg is None or msg.id != request.id:
                continue
            if msg.type == ovs.jsonrpc.Message.T_ERROR:
                raise SourceError(f"OVSDB at {socket_path} refused {method}: {msg.error}")
            return msg.result
        raise SourceError(f"OVSDB at {socket_path} broke off during {method}: {_reason(error)}")
    finally:
        rpc.close()


def fetch_schema(socket_path: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    schema = call(socket_path, "get_schema", [DB], timeout)
    if not isinstance(schema, dict) or not isinstance(schema.get("tables"), dict):
        raise SourceError(f"OVSDB at {socket_path} sent no usable {DB} schema")
    return schema


def fetch_state(socket_path: str, timeout: float = DEFAULT_TIMEOUT) -> OvsState:
    """Every bridge, port and interface, read in one transaction (consistent)."""
    return state_from_select(call(socket_path, "transact", select_ops(DB), timeout))


def schema_helper(schema: dict[str, Any]) -> ovs.db.idl.SchemaHelper:
    """Register `COLUMNS`, skipping any this server's schema does not have."""
    helper = ovs.db.idl.SchemaHelper(schema_json=schema)
    tables = schema["tables"]
    for table, wanted in COLUMNS.items():
        if table not in tables:
            raise SourceError(f"OVSDB schema has no {table} table; is this an Open vSwitch db?")
        present = tables[table].get("columns", {})
        helper.register_columns(table, [c for c in wanted if c in present])
    return helper


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


class OvsdbMonitor:
    """A live replica of the switch tables, kept current by the `ovs` IDL.

    The IDL would silently reconnect after the server goes away; a flight
    recorder must instead say "I lost sight" so the runner can record the
    gap, so any disconnect after the first full copy raises `SourceError`.
    """

    def __init__(self, socket_path: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.socket_path = socket_path
        helper = schema_helper(fetch_schema(socket_path, timeout))
        self._idl = ovs.db.idl.Idl(_remote(socket_path), helper)
        self._session_seqno: int | None = None
        self._seen = 0
        try:
            self._await_contents(ovs.timeval.msec() + int(timeout * 1000), timeout)
        except BaseException:
            self._idl.close()
            raise

    def _session(self) -> Any:
        # The Python IDL exposes no is_connected(); its session object is the
        # only place that knows, and has kept this name since OVS 2.x.
        return self._idl._session

    def _await_contents(self, deadline: int, timeout: float) -> None:
        while True:
            self._idl.run()
            if self._idl.change_seqno > 0 and self._session().is_connected():
                self._session_seqno = self._session().get_seqno()
                self._seen = self._idl.change_seqno
                return
            if ovs.timeval.msec() >= deadline:
                raise SourceError(
                    f"OVSDB at {self.socket_path} sent no contents within {timeout:g} s"
                )
            poller = ovs.poller.Poller()
            self._idl.wait(poller)
            poller.timer_wait_until(deadline)
            poller.block()

    def _run(self) -> bool:
        self._idl.run()
        session = self._session()
        if not session.is_connected() or session.get_seqno() != self._session_seqno:
            raise SourceError(f"lost the connection to OVSDB at {self.socket_path}")
        changed = self._idl.change_seqno != self._seen
        self._seen = self._idl.change_seqno
        return bool(changed)

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` s; True when the tables changed since the last call."""
        if self._run():
            return True
        poller = ovs.poller.Poller()
        self._idl.wait(poller)
        poller.timer_wait(max(1, int(timeout * 1000)))
        poller.block()
        return self._run()

    def state(self) -> OvsState:
        tables = self._idl.tables

        def rows(name: str) -> list[tuple[str, Row]]:
            return _idl_rows(tables[name])

        return state_from_rows(
            (row for _, row in rows("Open_vSwitch")),
            rows("Bridge"),
            rows("Port"),
            rows("Interface"),
        )

    def close(self) -> None:
        self._idl.close()
