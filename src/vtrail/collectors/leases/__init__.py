"""`leases:PATH`: a DHCP server's lease file as a source (a dnsmasq lease file, or a
Kea memfile CSV), read whole whenever it changes (docs/ipam.md#leases-are-a-source)."""

from vtrail.collectors.leases.collector import LeaseFile, parse_source_uri

__all__ = ["LeaseFile", "parse_source_uri"]
