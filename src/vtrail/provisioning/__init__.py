"""Who may run what: admission of a VM before it starts, its libvirt hook, and quota usage
over time (docs/provisioning.md). The audit of the same rules is `vtrail check`'s
(triage/provisioning.py)."""
