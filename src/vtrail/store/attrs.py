"""Entity attributes, packed: the sorted key names are stored once, each version keeps values.

A version's attrs column holds `[keys_id, value, value, ...]` where `keys_id`
names a row of `attr_keys` (the sorted key names as a JSON array). Versions of
the same kind of thing share their key set, so a version pays for its values
only; the text is still canonical (same attributes, same text), which is what
the recorder compares. A plain JSON object is read as itself, so stores written
before packing stay readable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from vtrail.model import JSONValue, canonical
from vtrail.store.conn import Conn


class AttrCodec:
    def __init__(self, c: Conn) -> None:
        self.c = c
        self._ids: dict[tuple[str, ...], int] = {}
        self._keys: dict[int, list[str]] = {}

    def forget(self) -> None:
        """After a rolled-back write: key sets it interned may be gone."""
        self._ids.clear()
        self._keys.clear()

    def encode(self, attrs: Mapping[str, JSONValue]) -> str:
        """The canonical stored text; may intern a key set (call inside a write)."""
        if not attrs:
            return "{}"
        keys = tuple(sorted(attrs))
        kid = self._ids.get(keys)
        if kid is None:
            name = canonical(keys)
            row = self.c.execute("SELECT id FROM attr_keys WHERE keys = ?", (name,)).fetchone()
            if row is None:
                cur = self.c.execute("INSERT OR IGNORE INTO attr_keys (keys) VALUES (?)", (name,))
                # Not inserted: a writer beside this one (on a server) interned it meanwhile.
                row = (
                    (cur.lastrowid,)
                    if cur.rowcount
                    else self.c.execute(
                        "SELECT id FROM attr_keys WHERE keys = ?", (name,)
                    ).fetchone()
                )
            kid = int(row[0])
            self._ids[keys] = kid
            self._keys[kid] = list(keys)
        return canonical([kid, *(attrs[k] for k in keys)])

    def _names(self, kid: int) -> list[str]:
        keys = self._keys.get(kid)
        if keys is None:
            row = self.c.execute("SELECT keys FROM attr_keys WHERE id = ?", (kid,)).fetchone()
            keys = list(json.loads(row[0])) if row else []
            self._keys[kid] = keys
        return keys

    def unpack(self, value: Any) -> dict[str, JSONValue]:
        """One decoded column value (list or dict) as attributes."""
        if isinstance(value, dict):
            return value
        it = iter(value)
        kid = next(it)
        return dict(zip(self._keys.get(kid) or self._names(kid), it, strict=False))

    def keys(self, kid: int) -> list[str]:
        return self._keys.get(kid) or self._names(kid)

    def parse_many(self, texts: Sequence[str]) -> list[Any]:
        """Column values parsed but not unpacked: `[keys_id, *values]` lists (or dicts)."""
        return list(json.loads("[" + ",".join(texts) + "]")) if texts else []

    def decode(self, text: str) -> dict[str, JSONValue]:
        return self.unpack(json.loads(text))

    def decode_many(self, texts: Sequence[str]) -> list[dict[str, JSONValue]]:
        # One parse of one JSON array beats a json.loads call per row by far.
        if not texts:
            return []
        unpack = self.unpack
        return [unpack(v) for v in json.loads("[" + ",".join(texts) + "]")]
