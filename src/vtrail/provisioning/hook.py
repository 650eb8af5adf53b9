"""libvirt's qemu hook: what it does when libvirt runs it, and how it is installed.

libvirt runs `/etc/libvirt/hooks/qemu DOMAIN OPERATION SUB-OPERATION EXTRA`
with the domain XML on stdin, and refuses to start a domain when the script
exits non-zero in the `prepare begin` phase, printing what it wrote to stderr.
The script shipped beside this module (`qemu`) calls `main` with the settings
`install` baked into it: a local store (`db`) or a server (`server`, with a
reader token's file), the host the hook runs on, and what to do when vtrail
cannot be asked (`on_error`: refuse the start, or let it through).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any, TextIO

#: Where libvirt looks for its hooks.
HOOKS_DIR = Path("/etc/libvirt/hooks")
#: How long the hook waits for a server before it counts as unreachable.
TIMEOUT = 5.0
#: What marks a hook file as vtrail's, so that it may be written over.
MARK = "vtrail's admission check"
ON_ERROR = ("deny", "allow")


class InstallError(ValueError):
    """A hook that cannot be installed, said in one line."""


def script(settings: dict[str, Any], python: str = sys.executable) -> str:
    """The hook file's text: the shipped script with its interpreter and settings."""
    text = files("vtrail.provisioning").joinpath("qemu").read_text()
    return text.replace("@PYTHON@", python).replace("@SETTINGS@", repr(settings))


def install(
    directory: Path,
    *,
    db: Path | None = None,
    server: str | None = None,
    token_file: Path | None = None,
    host: str | None = None,
    on_error: str = "deny",
    force: bool = False,
) -> Path:
    """Write the hook as `DIRECTORY/qemu` (mode 0755); another hook already there is kept
    unless `force`."""
    if (db is None) == (server is None):
        raise InstallError("the hook asks a store (--db) or a server (--server): give one")
    if server is not None and not server.startswith(("http://", "https://")):
        raise InstallError(f"--server {server!r} is not an http:// or https:// URL")
    if on_error not in ON_ERROR:
        raise InstallError(f"--on-error {on_error!r}: deny or allow")
    if not directory.is_dir():
        raise InstallError(f"{directory} is not a directory (is libvirt installed?)")
    target = directory / "qemu"
    if target.exists() and not force:
        try:
            ours = MARK in target.read_text(errors="replace")
        except OSError as e:
            raise InstallError(f"cannot read {target}: {e.strerror}") from None
        if not ours:
            raise InstallError(f"{target} is another hook: keep it, or replace it with --force")
    from vtrail.store.factory import server_url

    settings = {
        # A server's URL is kept as given: resolved as a path it would name a file.
        "db": (server_url(db) or str(db.resolve())) if db else None,
        "server": server.rstrip("/") if server else None,
        "token_file": str(token_file.resolve()) if token_file else None,
        "host": host or socket.gethostname(),
        "on_error": on_error,
    }
    tmp = target.with_name(".qemu.vtrail")
    tmp.write_text(script(settings))
    tmp.chmod(0o755)
    tmp.replace(target)
    return target


def _ask_store(db: str, xml: str, owner: str | None, host: str | None) -> dict[str, Any]:
    from vtrail.provisioning.admission import admit
    from vtrail.query.jsonable import to_jsonable
    from vtrail.store.factory import open_store

    store = open_store(Path(db), readonly=True)
    try:
        found: dict[str, Any] = to_jsonable(
            admit(store, xml, datetime.now(UTC), owner=owner, host=host)
        )
        return found
    finally:
        store.close()


def _ask_server(
    server: str, token_file: str | None, xml: str, owner: str | None, host: str | None
) -> dict[str, Any]:
    query = urllib.parse.urlencode({k: v for k, v in (("owner", owner), ("host", host)) if v})
    req = urllib.request.Request(
        f"{server}/api/admission" + (f"?{query}" if query else ""),
        data=xml.encode("utf-8"),
        method="POST",
        headers={"Content-Type": "application/xml"},
    )
    if token_file:
        req.add_header("Authorization", f"Bearer {Path(token_file).read_text().strip()}")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
            found: dict[str, Any] = json.loads(r.read())
            return found
    except urllib.error.HTTPError as e:
        detail = e.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError, AttributeError):
            detail = json.loads(detail).get("detail", detail)
        raise OSError(f"{server} answered {e.code}: {detail}") from None


def main(args: list[str], stdin: TextIO, settings: dict[str, Any]) -> int:
    """What the hook does when libvirt runs it: 0 lets the domain start, 1 refuses it."""
    if len(args) < 3 or (args[1], args[2]) != ("prepare", "begin"):
        return 0
    name = args[0]
    xml = stdin.read()
    owner = os.environ.get("VTRAIL_OWNER") or None
    host = settings.get("host")
    try:
        if settings.get("server"):
            answer = _ask_server(settings["server"], settings.get("token_file"), xml, owner, host)
        else:
            answer = _ask_store(settings["db"], xml, owner, host)
    except Exception as e:  # whatever failed, libvirt gets one line and a decision
        line = " ".join(str(e).split()) or type(e).__name__
        if settings.get("on_error") == "allow":
            print(f"vtrail: {name}: admission not checked ({line}); allowed", file=sys.stderr)
            return 0
        print(f"vtrail: {name}: admission not checked ({line}); refused", file=sys.stderr)
        return 1
    if answer.get("allow"):
        return 0
    reasons = "; ".join(f"{r['rule']}: {r['reason']}" for r in answer.get("reasons", []))
    print(f"vtrail: {name} refused by policy: {reasons}", file=sys.stderr)
    return 1
