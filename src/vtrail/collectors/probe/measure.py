"""Measuring, in the running event loop: ICMP echo (icmplib), TCP connect (asyncio)
and HTTP GET (httpx2). Every socket is made by the loop's thread, so it lives in
the network namespace that thread has joined.

ICMP goes through one raw socket per address family for all targets: a raw
socket receives every echo reply in the namespace, so one socket per target
would hand each reply to every socket, a thousand times over for a thousand
targets. The replies are matched to their requests by icmplib's identifier
(one per pinger) and sequence number.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
import time
from typing import Any

import httpx2
from icmplib import ICMPRequest, ICMPv4Socket, ICMPv6Socket
from icmplib.exceptions import ICMPLibError

from vtrail.collectors.probe.rounds import Outcome, ProbeSpec

#: Where one packet's RTT in ms (or None, lost) is given.
Answer = asyncio.Future[float | None]

_ECHO_REPLY = {4: 0, 6: 129}
#: ping's 56 bytes, the same in every packet: icmplib would draw random ones, at a
#: cost per packet above that of sending it.
PAYLOAD = bytes(range(56))
#: Bytes of replies a raw socket may hold unread (root may set more than rmem_max).
RECEIVE_BUFFER = 8 << 20
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
#: Destination unreachable and time exceeded: the packet is lost, said at once.
_ERRORS = {4: (3, 11), 6: (1, 3)}


class Pinger:
    """ICMP echo for many targets over one raw socket per family; used by one loop."""

    def __init__(self) -> None:
        self._id = random.randrange(1, 0xFFFF)
        self._seq = 0
        self._socks: dict[int, Any] = {}
        self._waiting: dict[tuple[int, int], tuple[Answer, Any]] = {}

    def _socket(self, family: int) -> Any:
        sock = self._socks.get(family)
        if sock is None:
            sock = ICMPv6Socket() if family == 6 else ICMPv4Socket()
            sock.sock.setblocking(False)
            # A thousand targets answer within a millisecond or two: the default
            # buffer holds a few hundred replies, and drops the rest as loss.
            try:
                sock.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
            except OSError:
                sock.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            asyncio.get_running_loop().add_reader(sock.sock.fileno(), self._readable, family)
            self._socks[family] = sock
        return sock

    def _readable(self, family: int) -> None:
        sock = self._socks[family]
        while True:
            try:
                packet, addr = sock.sock.recvfrom(1024)
            except OSError:
                return
            now = time.time()
            # icmplib's own parser; its receive() waits for one request at a time.
            reply = sock._parse_reply(packet, addr[0], now)
            if reply is None or reply.id != self._id:
                continue
            if reply.type == _ECHO_REPLY[family]:
                lost = False
            elif reply.type in _ERRORS[family]:
                lost = True
            else:
                continue
            found = self._waiting.pop((family, reply.sequence), None)
            if found is not None and not found[0].done():
                answer, request = found
                answer.set_result(None if lost else (now - request.time) * 1000)

    def _send(self, address: str, family: int, answer: Answer, timeout: float) -> None:
        self._seq = (self._seq + 1) & 0xFFFF
        key = (family, self._seq)
        request = ICMPRequest(address, self._id, self._seq, payload=PAYLOAD)
        self._waiting[key] = (answer, request)
        try:
            self._socket(family).send(request)
        except ICMPLibError:
            self._waiting.pop(key, None)
            answer.set_result(None)
            return
        asyncio.get_running_loop().call_later(timeout, self._expire, key, answer)

    def _expire(self, key: tuple[int, int], answer: Answer) -> None:
        if not answer.done():
            answer.set_result(None)
            if (found := self._waiting.get(key)) is not None and found[0] is answer:
                del self._waiting[key]

    async def ping(self, address: str, spec: ProbeSpec) -> list[Outcome]:
        """`count` echo requests `spacing` apart; each one's RTT in ms, or None.

        Timers and futures rather than a task per packet: a thousand targets make
        five thousand packets a round, and a task each would cost more than the
        packets do."""
        loop = asyncio.get_running_loop()
        family = ipaddress.ip_address(address).version
        answers: list[Answer] = []
        for i in range(spec.count):
            answer: Answer = loop.create_future()
            loop.call_later(i * spec.spacing, self._send, address, family, answer, spec.timeout)
            answers.append(answer)
        return list(await asyncio.gather(*answers))

    def close(self) -> None:
        for sock in self._socks.values():
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().remove_reader(sock.sock.fileno())
            sock.close()
        self._socks.clear()


async def _connect(address: str, port: int, timeout: float) -> Outcome:
    t0 = time.perf_counter()
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
    except (OSError, TimeoutError):
        return None
    rtt = (time.perf_counter() - t0) * 1000
    writer.close()
    return rtt


async def connect(address: str, spec: ProbeSpec) -> list[Outcome]:
    """`count` TCP connections, `spacing` apart: the time each took to be accepted."""
    port = spec.port
    if port is None:
        raise ValueError(f"probe {spec.name}: a tcp probe needs a port")

    async def one(i: int) -> Outcome:
        await asyncio.sleep(i * spec.spacing)
        return await _connect(address, port, spec.timeout)

    return list(await asyncio.gather(*(one(i) for i in range(spec.count))))


def url(address: str, spec: ProbeSpec) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{spec.port}{spec.path or '/'}"


async def get(client: httpx2.AsyncClient, address: str, spec: ProbeSpec) -> list[Outcome]:
    """`count` GETs, `spacing` apart, each on a connection of its own: the time to the
    answer's head, lost when it takes longer than `timeout` or says 4xx or 5xx."""
    target = url(address, spec)

    async def one(i: int) -> Outcome:
        await asyncio.sleep(i * spec.spacing)
        t0 = time.perf_counter()
        try:
            answer = await client.get(target, timeout=spec.timeout)
        except httpx2.HTTPError:
            return None
        return (time.perf_counter() - t0) * 1000 if answer.status_code < 400 else None

    return list(await asyncio.gather(*(one(i) for i in range(spec.count))))


def http_client() -> httpx2.AsyncClient:
    # No keep-alive: each GET measures a connection as a client would make it. No
    # proxies from the environment: the probe measures the path from its vantage.
    return httpx2.AsyncClient(
        limits=httpx2.Limits(max_keepalive_connections=0), trust_env=False, follow_redirects=False
    )
