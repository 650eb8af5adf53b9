"""Asset records of VMs and hosts: who owns them, what for, until when, and what they
continue (docs/assets.md). `listing` answers `vtrail assets`, `card` `vtrail asset`."""
