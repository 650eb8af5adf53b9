"""The names of asset facts, shared by whoever writes them and whoever reads them.

A VM's own libvirt `<metadata>` (in the namespace below), an inventory file and a
host's DMI table all say who owns a thing, what it is for and what it is, under
one set of attribute names (docs/assets.md):

- the libvirt collector writes a domain's vtrail metadata on its `vm:` entity;
- an inventory source writes a row on `asset:<entity id>` (`vtrail.ids.asset_id`);
- the DMI source writes a host's hardware on its `host:` entity.
"""

from __future__ import annotations

from datetime import date

#: The XML namespace of vtrail's element in a libvirt domain's `<metadata>`.
NAMESPACE = "https://vtrail.dev/xmlns/asset/1"

#: An element of the namespace, or a column of an inventory file, and its attribute.
FIELDS: dict[str, str] = {
    "owner": "asset.owner",
    "cost-centre": "asset.cost_centre",
    "purpose": "asset.purpose",
    "support-end": "asset.support_end",
    "cloned-from": "asset.cloned_from",
    "image": "asset.image",
}
OWNER = FIELDS["owner"]
SUPPORT_END = FIELDS["support-end"]
CLONED_FROM = FIELDS["cloned-from"]
IMAGE = FIELDS["image"]

#: A file of `/sys/class/dmi/id` and the host attribute it becomes.
HARDWARE: dict[str, str] = {
    "sys_vendor": "hw.vendor",
    "product_name": "hw.model",
    "product_serial": "hw.serial",
    "bios_date": "hw.bios_date",
    "bios_vendor": "hw.bios_vendor",
    "bios_version": "hw.bios_version",
}


def field_name(text: str) -> str | None:
    """The field a column or element names (`cost_centre` and `Cost-Centre` are
    `cost-centre`), or None."""
    name = text.strip().lower().replace("_", "-")
    return name if name in FIELDS else None


def support_end(text: str) -> date:
    """A support or warranty end, `YYYY-MM-DD`; ValueError says what is wrong."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"support-end {text!r} is not a date (YYYY-MM-DD)") from None
