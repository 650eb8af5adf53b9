"""Images: what VMs ran, the catalog's facts about it, and who was exposed (docs/images.md)."""
