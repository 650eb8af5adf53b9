"""libvirt's event loop and subscriptions: callbacks in, payload records out.

libvirt delivers events (and keepalive) only through an event loop that is
registered before any connection is opened and then run forever; this
module owns that loop for the process. The callbacks it registers turn what
fires into `payload` records and hand them to a sink, nothing more.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import libvirt

from vtrail.collectors.base import SourceError
from vtrail.collectors.libvirt.payload import ConnectionClosed, DomainEvent, NetworkEvent

log = logging.getLogger(__name__)

Sink = Callable[[DomainEvent | NetworkEvent | ConnectionClosed], None]

_CLOSE_REASONS = {0: "error", 1: "eof", 2: "keepalive", 3: "client"}
_loop_lock = threading.Lock()
_loop_started = threading.Event()


def _now() -> datetime:
    return datetime.now(UTC)


def _ignore_libvirt_error(_ctx: object, _err: object) -> None:
    """Errors reach us as exceptions; the default handler would also print each
    expected race ("Domain not found") to stderr."""


def ensure_event_loop() -> None:
    """Register libvirt's default event loop once per process and keep it running.

    libvirt wants this before any connection is opened: events and keepalive
    are only delivered through it. The loop thread is a daemon and survives a
    failing iteration, because every connection in the process depends on it.
    """
    with _loop_lock:
        if _loop_started.is_set():
            return
        libvirt.registerErrorHandler(_ignore_libvirt_error, None)
        try:
            libvirt.virEventRegisterDefaultImpl()
        except libvirt.libvirtError as e:
            raise SourceError(f"libvirt: cannot register the event loop: {e}") from e
        threading.Thread(target=_run_event_loop, name="libvirt-events", daemon=True).start()
        _loop_started.set()


def _run_event_loop() -> None:
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except Exception:
            log.exception("libvirt event loop iteration failed; continuing")
            time.sleep(0.5)


@contextlib.contextmanager
def _guard(uri: str) -> Iterator[None]:
    """An exception escaping a callback would be printed by the binding and lost;
    log it with the source instead, and keep the loop going."""
    try:
        yield
    except Exception:
        log.exception("libvirt %s: an event callback failed; the next snapshot reconciles", uri)


@dataclass(frozen=True, slots=True)
class Registration:
    domain_ids: tuple[int, ...]
    network_ids: tuple[int, ...]
    close_callback: bool


def register_events(conn: Any, uri: str, sink: Sink) -> Registration:
    """Route domain lifecycle/device and network lifecycle events, and the close
    callback, into `sink` as payload records.

    The callbacks run on the event-loop thread, so they only stamp the time and
    copy names: reading the domain is the consumer's job, off the loop that
    also carries keepalive for every connection.
    """

    def lifecycle(_c: Any, dom: Any, event: int, detail: int, _o: Any) -> None:
        at = _now()
        with _guard(uri):
            uuid, name = str(dom.UUIDString()), str(dom.name())
            sink(DomainEvent(at, uuid, name, "lifecycle", event, detail))

    def device(kind: str) -> Callable[[Any, Any, str, Any], None]:
        def cb(_c: Any, dom: Any, alias: str, _o: Any) -> None:
            at = _now()
            with _guard(uri):
                uuid, name = str(dom.UUIDString()), str(dom.name())
                sink(DomainEvent(at, uuid, name, kind, device=alias))

        return cb

    def network(_c: Any, net: Any, event: int, detail: int, _o: Any) -> None:
        at = _now()
        with _guard(uri):
            sink(NetworkEvent(at, str(net.name()), event, detail))

    def closed(_c: Any, reason: int, _o: Any) -> None:
        sink(ConnectionClosed(_now(), _CLOSE_REASONS.get(reason, str(reason))))

    domain_ids: list[int] = []
    network_ids: list[int] = []
    try:
        for event_id, cb in (
            (libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, lifecycle),
            (libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, device("device_added")),
            (libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, device("device_removed")),
        ):
            domain_ids.append(int(conn.domainEventRegisterAny(None, event_id, cb, None)))
    except libvirt.libvirtError as e:
        deregister_events(conn, Registration(tuple(domain_ids), (), False))
        msg = " ".join(str(e).split())
        raise SourceError(f"libvirt {uri}: cannot subscribe to domain events: {msg}") from e
    try:
        lc = libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE
        network_ids.append(int(conn.networkEventRegisterAny(None, lc, network, None)))
    except libvirt.libvirtError as e:
        log.info("libvirt %s: no network events: %s", uri, e)
    try:
        conn.registerCloseCallback(closed, None)
        close_callback = True
    except libvirt.libvirtError as e:
        # Not fatal: the watcher's periodic ping notices a dead connection too.
        log.info("libvirt %s: no close callback: %s", uri, e)
        close_callback = False
    return Registration(tuple(domain_ids), tuple(network_ids), close_callback)


def deregister_events(conn: Any, reg: Registration) -> None:
    """Best effort: on a connection that is already gone there is nothing to undo."""
    calls: list[Callable[[], object]] = [
        *(lambda i=i: conn.domainEventDeregisterAny(i) for i in reg.domain_ids),
        *(lambda i=i: conn.networkEventDeregisterAny(i) for i in reg.network_ids),
    ]
    if reg.close_callback:
        calls.append(conn.unregisterCloseCallback)
    for call in calls:
        try:
            call()
        except (libvirt.libvirtError, AttributeError) as e:
            log.debug("deregistering a libvirt callback: %s", e)
