"""The libvirt collector: domains, their NICs and ports, networks and the host.

`get` fetches (and raises `SourceError`), `transform` and `events` are pure,
`collector` drives them. docs/collectors/libvirt.md describes what is recorded.
"""

from vtrail.collectors.libvirt.collector import (
    LibvirtCollector,
    default_host,
    parse_source_uri,
    source_name,
)

__all__ = ["LibvirtCollector", "default_host", "parse_source_uri", "source_name"]
