"""A real PostgreSQL server in a temporary folder, from Debian's `postgresql` package.

`initdb` refuses to run as root, so the cluster belongs to the `postgres` user
(or `nobody`) when the tests run as root. The server listens on loopback TCP
at a free port, so that every question crosses the network stack, as it would
to a server on another machine. bench/stores.py starts one the same way.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def binaries() -> Path | None:
    """The newest installed server's bin folder, or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: p.parts[4])
    return found[-1].parent if found else None


SKIP_REASON = (
    None
    if binaries() is not None
    else "PostgreSQL's server is not installed (Debian: apt install postgresql)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`initdb` + `pg_ctl start` in a folder of its own; `stop()` removes it all."""

    def __init__(self, *, durable: bool = False) -> None:
        bindir = binaries()
        if bindir is None:
            raise RuntimeError(SKIP_REASON)
        self.bindir = bindir
        self.folder = Path(tempfile.mkdtemp(prefix="vtrail-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self._user = None
        if os.getuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    self._user = pwd.getpwnam(name)
                    break
                except KeyError:
                    continue
            assert self._user is not None, "no user to run PostgreSQL as"
            os.chown(self.folder, self._user.pw_uid, self._user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--locale=C", "-N")  # fmt: skip
        options = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.folder}",
            "-c max_connections=200",
            "-c shared_buffers=256MB",
        ]
        if not durable:
            # Tests need no crash safety from their throwaway cluster.
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-w",
                  "-o", " ".join(options), "start")  # fmt: skip
        self._n = 0
        #: What a fixture recorded once in a database of its own, by what recorded it:
        #: copied for each module that asks for it again (tests/stores.py, `recorded`).
        self.templates: dict[str, str] = {}

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bindir / tool), *args]
        user = self._user
        subprocess.run(
            cmd,
            check=True,
            capture_output=True,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            cwd=self.folder,
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def database(self, prefix: str = "t", template: str | None = None) -> str:
        """A new database, empty or a copy of the `template` URL's (which nothing may be
        connected to); its URL."""
        import psycopg

        self._n += 1
        name = f"{prefix}_{os.getpid()}_{self._n}"
        copy = f" TEMPLATE {template.rsplit('/', 1)[1]}" if template else ""
        with psycopg.connect(self.url(), autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}{copy}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            time.sleep(0.1)
            shutil.rmtree(self.folder, ignore_errors=True)
