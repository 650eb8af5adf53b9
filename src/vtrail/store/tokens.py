"""API bearer tokens: created once, shown once, kept only as a SHA-256 of the secret.

The secrets are 256 random bits, so a fast hash is enough: there is nothing to
brute-force that a slow one (bcrypt, scrypt) would protect against, and a
request pays for the check every time.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Literal

from vtrail.store.interfaces import Store
from vtrail.store.interning import StoreError

Role = Literal["reader", "writer"]
ROLES: tuple[Role, ...] = ("reader", "writer")
PREFIX = "vt_"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    role: Role
    created_at: int
    revoked_at: int | None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _row(r: tuple[int, str, str, int, int | None]) -> TokenInfo:
    role: Role = "writer" if r[2] == "writer" else "reader"
    return TokenInfo(int(r[0]), str(r[1]), role, int(r[3]), r[4])


def create(store: Store, role: Role, name: str) -> tuple[TokenInfo, str]:
    """A new token; the secret is returned here and never again."""
    if role not in ROLES:
        raise ValueError(f"role must be reader or writer, not {role!r}")
    secret = PREFIX + secrets.token_urlsafe(32)
    now = time.time_ns() // 1000
    with store.write() as c:
        cur = c.execute(
            "INSERT INTO token (name, role, hash, created_at) VALUES (?, ?, ?, ?)",
            (name, role, digest(secret), now),
        )
    return TokenInfo(int(cur.lastrowid or 0), name, role, now, None), secret


def lookup(store: Store, secret: str) -> TokenInfo | None:
    """The live token behind a secret, or None (unknown, revoked, or no token table yet).

    `StoreError` when the store cannot be read: a broken store is not an unknown token."""
    rows = _read(
        store,
        "SELECT id, name, role, created_at, revoked_at FROM token "
        "WHERE hash = ? AND revoked_at IS NULL",
        (digest(secret),),
    )
    return _row(rows[0]) if rows else None


def listing(store: Store) -> list[TokenInfo]:
    rows = _read(store, "SELECT id, name, role, created_at, revoked_at FROM token ORDER BY id")
    return [_row(r) for r in rows]


def _read(
    store: Store, sql: str, args: tuple[str, ...] = ()
) -> list[tuple[int, str, str, int, int | None]]:
    """Rows of the token table: none in a store from before tokens; any other database
    error raised as a `StoreError` that names it."""
    try:
        return store.conn.execute(sql, args).fetchall()
    except sqlite3.DatabaseError as e:
        try:
            missing = not store.conn.execute(
                "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'token'"
            ).fetchone()
        except sqlite3.DatabaseError:
            missing = False
        if missing:
            return []
        raise StoreError(f"cannot read the tokens in {store.path}: {e}") from None


def revoke(store: Store, token_id: int) -> bool:
    """Revoke a token by id; False when there is no such live token."""
    with store.write() as c:
        cur = c.execute(
            "UPDATE token SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (time.time_ns() // 1000, token_id),
        )
    return cur.rowcount > 0
