"""IP and MAC address management over the recorded history: pools (the policy's
`pools:` section), allocation and release (recorded through the recorder), who held
an address or a MAC and how, conflicts, usage over time, and exports
(docs/ipam.md)."""
