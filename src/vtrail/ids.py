"""Every entity id vtrail builds, and the parsers that read them back.

The same thing named the same way by libvirt, netlink and OVS is what joins
what they saw, so no other module writes an id by hand (a test holds src/ to
that). The grammar (docs/observations.md, "Entity ids and address spaces"):

    host:<hostname>                vm:<uuid>            nic:<vm uuid>/<mac>
    port:<where>/<ifname>          bridge:<where>/<ifname>
    router:<where>                 netns:<where>        (netns: is no entity, see below)
    ip:<address>@<space>           net:<cidr>@<space>   net:<name>@<host>
    service:<name>                 domain:<name>        rule:<name>
    probe:<name>
    image:sha256:<hex>             image:path:<host>:<path>
    image:<name>@<version>         asset:<entity id>
    catalog:<name>@<version>
    pool:<name>                    mac:<mac>

`<where>` is a network namespace: its name, or the hostname for a host's root
namespace. An address or a routed prefix means one thing only inside an
address space, so `ip:` and `net:` carry theirs after the first `@`:

- a namespace, by its `<where>`: what netlink sees there;
- a libvirt network, as `<name>@<host>` (the key of its `net:` id): the
  addresses it leases;
- a guest, by its VM's uuid: the addresses a VM holds, which move with it.

An address or a cidr never contains `@`, and a network name has its `%` and
`@` written `%25` and `%40`, so the first `@` always ends the local part and
a space may hold anything, `/` and `@` included. IPv6 addresses keep their
colons: the kind ends at the first `:`. The prefix length of an address is its
`prefixlen` attribute, not part of its id.

`netns:<where>` names, in path and topology answers only, a namespace that is
neither a recorded host nor a router.

Ids recorded before address spaces (`ip:<address>`, `net:<cidr>`,
`net:<host>/<name>`, `net:<name>`) still parse: their space is None when the
id does not say it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from dataclasses import dataclass

from vtrail.model import InvalidId, split_id

IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Every kind vtrail itself names; external producers may use others.
KINDS = frozenset(
    {
        "host",
        "vm",
        "nic",
        "port",
        "bridge",
        "router",
        "netns",
        "ip",
        "net",
        "service",
        "domain",
        "rule",
        "probe",
        "image",
        "catalog",
        "asset",
        "pool",
        "mac",
    }
)
#: Kinds whose key is `<where>/<ifname>`.
INTERFACE_KINDS = frozenset({"port", "bridge"})

_QUOTED = re.compile(r"%(25|40)")


def _quote(name: str) -> str:
    return name.replace("%", "%25").replace("@", "%40")


def _unquote(text: str) -> str:
    return _QUOTED.sub(lambda m: "%" if m.group(1) == "25" else "@", text)


def _space(space: str) -> str:
    if not space or space != space.strip():
        raise InvalidId(f"an address space is a non-empty name without outer spaces: {space!r}")
    return space


# -- builders -------------------------------------------------------------------


def host_id(host: str) -> str:
    return f"host:{host}"


def vm_id(uuid: str) -> str:
    return f"vm:{uuid.lower()}"


def nic_id(vm_uuid: str, mac: str) -> str:
    # libvirt prints both in lower case; OpenStack sometimes does not.
    return f"nic:{vm_uuid.lower()}/{mac.lower()}"


def port_id(where: str, ifname: str) -> str:
    """An interface of a host or network namespace."""
    return f"port:{where}/{ifname}"


def bridge_id(where: str, ifname: str) -> str:
    return f"bridge:{where}/{ifname}"


def router_id(where: str) -> str:
    """A namespace that forwards between two or more addressed interfaces."""
    return f"router:{where}"


def netns_id(where: str) -> str:
    """A namespace in path and topology answers when it is no host or router (not an entity)."""
    return f"netns:{where}"


def ip_id(address: str | IPAddr, space: str) -> str:
    """An address in its space; a prefix length given with it is dropped (it is an attribute)."""
    text = str(address).split("/", 1)[0]
    try:
        canonical = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidId(f"{text!r} is not an IP address") from None
    return f"ip:{canonical}@{_space(space)}"


def net_id(what: str | IPNet, space: str) -> str:
    """A network in its space: a routed prefix (`what` has a `/`) or a named (libvirt) one."""
    text = str(what)
    if "/" in text:
        try:
            local = str(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise InvalidId(f"{text!r} is not a network prefix") from None
    elif text:
        local = _quote(text)
    else:
        raise InvalidId("a network needs a prefix or a name")
    return f"net:{local}@{_space(space)}"


def libvirt_net_id(host: str, name: str) -> str:
    # Per host, like bridges: every hypervisor has its own `default`.
    return net_id(name, host)


def lease_space(host: str, network: str) -> str:
    """The space of the addresses a libvirt network leases: the key of its `net:` id."""
    return split_id(libvirt_net_id(host, network))[1]


def guest_space(vm_uuid: str) -> str:
    """The space of the addresses a guest holds: its VM's uuid, kept across migrations."""
    return vm_uuid.lower()


def service_id(name: str) -> str:
    return f"service:{name}"


def domain_id(name: str) -> str:
    return f"domain:{name}"


def rule_id(name: str) -> str:
    """A placement rule of the policy (docs/policy.md)."""
    return f"rule:{name}"


def probe_id(name: str) -> str:
    """A probe of the policy (docs/policy.md, "Probes")."""
    return f"probe:{name}"


def probe_source(name: str, vantage: str) -> str:
    """The source a probe's results come from: the probe, and the vantage (`netns:<ns>`,
    `host:<name>`) it ran from, so that two vantages measuring one target are two series."""
    return f"{probe_id(name)}@{vantage}"


def parse_probe_source(source: str) -> tuple[str, str] | None:
    """(probe, vantage) of a probe's source (`probe:web-to-db@netns:h-web`); None for
    any other source (an outside monitor's)."""
    if not source.startswith("probe:") or "@" not in source:
        return None
    name, _, vantage = source[len("probe:") :].partition("@")
    return (name, vantage) if name and vantage else None


def triage_settings_id() -> str:
    """The one entity of the policy's `triage:` section."""
    return "triage:ranking"


def provisioning_settings_id() -> str:
    """The one entity of the policy's `provisioning:` section."""
    return "provisioning:rules"


def accounting_settings_id() -> str:
    """The one entity of the policy's `accounting:` section (the rate card)."""
    return "accounting:rates"


def maintenance_settings_id() -> str:
    """The one entity of the policy's `maintenance:` section (overcommit ratios)."""
    return "maintenance:capacity"


#: What an image id's key begins with when it is identified by its content, or by where it is.
IMAGE_CHECKSUM, IMAGE_PATH = "sha256:", "path:"


def image_id(name: str, version: str) -> str:
    """An image as a VM's asset metadata declares it (`NAME@VERSION`): what the VM says it
    came from, not what it runs (docs/images.md, "One id scheme")."""
    return f"image:{name}@{version}"


def image_content_id(sha256: str) -> str:
    """An image file identified by its content: the same bytes are one image, whatever
    path or host they are reached by."""
    hexdigest = sha256.lower()
    if not re.fullmatch(r"[0-9a-f]{64}", hexdigest):
        raise InvalidId(f"{sha256!r} is not a sha256 digest (64 hexadecimal digits)")
    return f"image:{IMAGE_CHECKSUM}{hexdigest}"


def image_path_id(host: str, path: str) -> str:
    """An image file whose content vtrail could not checksum, by the host that reaches it
    and its path there (a file, a block device, `rbd:pool/volume`)."""
    if not host or ":" in host or not path:
        raise InvalidId(f"an image by path needs a host without ':' and a path: {host!r} {path!r}")
    return f"image:{IMAGE_PATH}{host}:{path}"


def image_checksum(eid: str) -> str | None:
    """The sha256 of a content-identified `image:` id; None for any other image id."""
    key = _key(eid, "image")
    return key.removeprefix(IMAGE_CHECKSUM) if key.startswith(IMAGE_CHECKSUM) else None


def image_identity(eid: str) -> str:
    """How an `image:` id identifies its image: `checksum`, `path` or `name` (declared)."""
    key = _key(eid, "image")
    if key.startswith(IMAGE_CHECKSUM):
        return "checksum"
    if key.startswith(IMAGE_PATH):
        return "path"
    return "name"


def catalog_entry_id(name: str, version: str) -> str:
    """An entry of the policy's image catalog (docs/images.md): the policy as recorded,
    not the image, whose catalog facts are its own attributes."""
    return f"{catalog_prefix()}{name}@{version}"


def catalog_prefix() -> str:
    """What every catalog entry's id starts with."""
    return "catalog:"


def asset_id(entity: str) -> str:
    """What an inventory says of a VM or host (owner, cost centre, ...): an entity of its own,
    so that a register listing a thing never keeps the thing itself alive in the record."""
    split_id(entity)
    return f"asset:{entity}"


def pool_id(name: str) -> str:
    """An address or MAC pool of the policy (docs/ipam.md)."""
    return f"pool:{name}"


def mac_id(mac: str) -> str:
    """A MAC address as a thing of its own: what a MAC pool allocates and a DHCP lease is
    leased to. Lower case, as libvirt prints it."""
    return f"mac:{mac.lower()}"


# -- parsers ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddressId:
    address: IPAddr
    #: None for an id recorded before address spaces, which did not say it.
    space: str | None
    #: Only ids from before address spaces carried it (`ip:10.0.0.1/24`).
    prefixlen: int | None = None


@dataclass(frozen=True, slots=True)
class NetworkId:
    #: None for an id recorded before address spaces, which did not say it.
    space: str | None
    #: A routed prefix, or None for a named (libvirt) network.
    cidr: IPNet | None
    name: str | None


def _key(eid: str, kind: str) -> str:
    k, key = split_id(eid)
    if k != kind:
        raise InvalidId(f"{eid!r} is not a {kind}: id")
    return key


def parse_ip(eid: str) -> AddressId:
    key = _key(eid, "ip")
    local, at, space = key.partition("@")
    text, _, plen = local.partition("/")
    try:
        address = ipaddress.ip_address(text)
        prefixlen = int(plen) if plen else None
    except ValueError:
        raise InvalidId(f"{eid!r} is not ip:<address>@<space>") from None
    if at and (plen or not space):
        raise InvalidId(f"{eid!r} is not ip:<address>@<space>")
    return AddressId(address, space if at else None, prefixlen)


def parse_net(eid: str) -> NetworkId:
    key = _key(eid, "net")
    local, at, space = key.partition("@")
    if at:
        if not space:
            raise InvalidId(f"{eid!r} is not net:<cidr or name>@<space>")
        if "/" not in local:
            return NetworkId(space, None, _unquote(local))
        try:
            return NetworkId(space, ipaddress.ip_network(local, strict=False), None)
        except ValueError:
            raise InvalidId(f"{eid!r} is not net:<cidr or name>@<space>") from None
    # Before address spaces: net:<cidr> from netlink, net:<host>/<name> or net:<name> from libvirt.
    with contextlib.suppress(ValueError):
        return NetworkId(None, ipaddress.ip_network(key, strict=False), None)
    host, slash, name = key.partition("/")
    return NetworkId(host, None, name) if slash else NetworkId(None, None, key)


def parse_interface(eid: str) -> tuple[str, str]:
    """`(where, ifname)` of a `port:` or `bridge:` id. An ifname has no `/`; a where may."""
    kind, key = split_id(eid)
    where, slash, ifname = key.rpartition("/")
    if kind not in INTERFACE_KINDS or not slash or not where or not ifname:
        raise InvalidId(f"{eid!r} is not port:<where>/<ifname> or bridge:<where>/<ifname>")
    return where, ifname


def parse_nic(eid: str) -> tuple[str, str]:
    """`(vm uuid, mac)` of a `nic:` id."""
    uuid, slash, mac = _key(eid, "nic").partition("/")
    if not slash or not uuid or not mac:
        raise InvalidId(f"{eid!r} is not nic:<vm uuid>/<mac>")
    return uuid, mac


def parse_named(eid: str, kind: str) -> str:
    """The name of a `service:`, `domain:`, `rule:` or `host:` id (its whole key)."""
    return _key(eid, kind)


def parse_mac(eid: str) -> str:
    """The MAC of a `mac:` id."""
    return _key(eid, "mac")


def parse_image(eid: str) -> tuple[str, str]:
    """`(name, version)` of a declared `image:` id; the version is after the last `@`."""
    key = _key(eid, "image")
    name, at, version = key.rpartition("@")
    if key.startswith((IMAGE_CHECKSUM, IMAGE_PATH)) or not at or not name or not version:
        raise InvalidId(f"{eid!r} is not image:<name>@<version>")
    return name, version


def parse_asset(eid: str) -> str:
    """The id of the VM or host an `asset:` id describes."""
    entity = _key(eid, "asset")
    split_id(entity)
    return entity


def namespace_of(eid: str) -> str | None:
    """The namespace an interface, router or `netns:` lives in; None for anything else."""
    kind, key = split_id(eid)
    if kind in INTERFACE_KINDS:
        where, slash, _ = key.rpartition("/")
        return where if slash and where else None
    if kind in ("router", "netns"):
        return key
    return None


def space_of(eid: str) -> str | None:
    """The address space of an `ip:` or `net:` id; None when the id does not say."""
    kind = split_id(eid)[0]
    if kind == "ip":
        return parse_ip(eid).space
    if kind == "net":
        return parse_net(eid).space
    return None


def holder_space(holder: str) -> str | None:
    """The space an address held by `holder` (an interface, router or NIC) lives in."""
    kind = split_id(holder)[0]
    if kind == "nic":
        return guest_space(parse_nic(holder)[0])
    return namespace_of(holder)


def interface_prefixes(where: str) -> tuple[str, str]:
    """What the ids of every port and bridge of namespace `where` start with."""
    return f"port:{where}/", f"bridge:{where}/"


def parse_vm(eid: str) -> str | None:
    """The uuid of a `vm:` id; None for any other id."""
    kind, key = split_id(eid)
    return key if kind == "vm" else None


def ip_text_prefix(text: str = "") -> str:
    """What every `ip:` id whose address is written starting with `text` starts with, in
    any space: a range of the ids' index holds every address of a pool."""
    return f"ip:{text}"


def address_prefixes(address: IPAddr) -> tuple[str, str]:
    """What every `ip:` id of `address` starts with, but `bare_ip_id`'s: `ip:<address>@`
    and, from before address spaces, `ip:<address>/` (a prefix length in the id)."""
    return f"ip:{address}@", f"ip:{address}/"


def bare_ip_id(address: IPAddr) -> str:
    """`ip:<address>`, in no space: what netlink recorded before address spaces, and how
    a path names an address nothing recorded. No collector writes it any more."""
    return f"ip:{address}"
