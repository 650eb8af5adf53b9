"""Accounting from recorded usage: allocation by state, use from the counters, cost from
the policy's rate card, by VM, owner, service or host (docs/accounting.md)."""
