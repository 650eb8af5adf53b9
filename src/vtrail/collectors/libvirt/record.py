"""Record what one libvirt connection shows, as JSON, for replaying `transform` in tests.

    python -m vtrail.collectors.libvirt.record test:///default > tests/data/libvirt/x.json

The output is `payload.to_json(get.fetch_all(...))`: raw XML and stats, not
observations, so a recording stays useful when the transform changes.
"""

from __future__ import annotations

import json
import sys

from vtrail.collectors.base import SourceError
from vtrail.collectors.libvirt import get
from vtrail.collectors.libvirt.payload import to_json


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m vtrail.collectors.libvirt.record URI", file=sys.stderr)
        return 2
    uri = argv[0]
    try:
        conn = get.open_connection(uri)
        try:
            fetched = get.fetch_all(conn, uri)
        finally:
            get.close_connection(conn)
    except SourceError as e:
        print(e, file=sys.stderr)
        return 1
    json.dump(to_json(fetched), sys.stdout, indent=2, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
