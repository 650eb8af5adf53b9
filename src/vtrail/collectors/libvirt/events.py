"""libvirt events → event observations. Pure.

An event says what changed; a fresh read of the domain (if it still exists)
says what it looks like. The read may be later than the event (the domain
can already be destroyed when a `started` event is handled), so the state,
the reason and whether the domain is active come from the event, and only
the configuration (NICs, disks, sizes) from the read. When the read finds
nothing, the last known configuration is used; a domain never read at all
is described by what its events say: name, state and host.

`gone`/`gone_relations` are computed as "what we said about this domain
last time and no longer say", so they list exactly what the recorder was
told before, whatever the event. Images are the exception: another domain
may run the same one, so an image no domain uses any more ends at the next
snapshot, which lists every domain's.
"""

from __future__ import annotations

from collections.abc import Mapping

from vtrail.collectors.libvirt.enums import (
    DEFINED,
    EVENT_DETAILS,
    IMPLIED,
    NET_DEFINED,
    NET_STARTED,
    NET_STOPPED,
    NET_UNDEFINED,
    STOPPED,
    UNDEFINED,
    UNDEFINED_RENAMED,
    reason_word,
    state_word,
)
from vtrail.collectors.libvirt.parse import NetworkConfig, network_config, try_parse_domain
from vtrail.collectors.libvirt.payload import (
    DomainEvent,
    DomainPayload,
    NetworkEvent,
    NetworkPayload,
)
from vtrail.collectors.libvirt.transform import (
    DomainView,
    Facts,
    domain_facts,
    network_entity,
)
from vtrail.ids import libvirt_net_id, vm_id
from vtrail.model import EntityObs, Observation


def domain_event(
    source: str,
    host: str,
    ev: DomainEvent,
    fetched: DomainPayload | None,
    known: DomainView | None,
    bridges: Mapping[str, str | None],
) -> tuple[Observation | None, DomainView | None]:
    """The observation for one domain event and the domain's view afterwards.

    Returns `(None, known)` for a device event on a domain that is already
    gone: its lifecycle events carry the end.
    """
    uuid = ev.uuid.lower()
    if ev.kind != "lifecycle" and fetched is None:
        return None, known
    lifecycle = ev.event if ev.kind == "lifecycle" else None

    persistent: bool | None = None
    if fetched is not None:
        persistent = fetched.persistent
    elif lifecycle == DEFINED:
        persistent = True
    elif known is not None:
        persistent = known.persistent

    # An undefined domain that still runs became transient; any other ends here
    # (a rename keeps the uuid, hence the vm).
    # A stopped one ends unless it is known to be persistent (transient domains
    # vanish on stop, with no undefined event to follow).
    ended = False
    if lifecycle == UNDEFINED and ev.detail == UNDEFINED_RENAMED:
        pass  # the same uuid is defined again under its new name right after
    elif lifecycle == UNDEFINED:
        ended = fetched is None or not fetched.active
        persistent = False if not ended else persistent
    elif lifecycle == STOPPED:
        ended = persistent is not True

    view: DomainView | None = None
    facts = Facts()
    if not ended:
        view = _next_view(host, uuid, ev, lifecycle, fetched, known, persistent, bridges)
        facts = view.facts

    before = known.facts if known is not None else Facts()
    now_ids, now_keys = set(facts.entity_ids()), set(facts.relation_keys())
    gone = [e.id for e in before.entities if e.id not in now_ids and e.kind != "image"]
    if ended and vm_id(uuid) not in gone:
        gone.append(vm_id(uuid))
    obs = Observation(
        source=source,
        observed_at=ev.at,
        kind="event",
        entities=facts.entities,
        relations=facts.relations,
        gone=tuple(gone),
        gone_relations=tuple(k for k in before.relation_keys() if k not in now_keys),
    )
    return obs, view


def _next_view(
    host: str,
    uuid: str,
    ev: DomainEvent,
    lifecycle: int | None,
    fetched: DomainPayload | None,
    known: DomainView | None,
    persistent: bool | None,
    bridges: Mapping[str, str | None],
) -> DomainView:
    implied = IMPLIED.get(lifecycle) if lifecycle is not None else None
    if implied is not None:
        state = implied[0]
    elif known is not None:
        state = known.state
    elif fetched is not None:
        state = state_word(fetched.state)
    else:
        state = "shutoff" if lifecycle == DEFINED else "nostate"

    if implied is not None and implied[1] is not None:
        active = implied[1]
    elif known is not None:
        active = known.active
    else:
        active = fetched.active if fetched is not None else False

    detail = EVENT_DETAILS.get(lifecycle, {}) if lifecycle is not None else {}
    if detail:
        reason = detail.get(ev.detail)
    elif known is not None:
        reason = known.reason
    else:
        reason = reason_word(fetched.state, fetched.reason) if fetched is not None else None

    config, error = (None, None)
    images = known.images if known is not None else ()
    if fetched is not None:
        config, error = try_parse_domain(fetched.xml, fetched.name)
        images = fetched.images
    elif known is not None:
        config = known.config
    name = fetched.name if fetched is not None else ev.name
    facts = domain_facts(
        host,
        uuid,
        name,
        config,
        state=state,
        reason=reason,
        active=active,
        persistent=persistent,
        info=fetched.info if fetched is not None else None,
        bridges=bridges,
        xml_error=error,
        images=images,
    )
    return DomainView(uuid, name, state, reason, active, persistent, config, facts, images)


def network_event(
    source: str,
    host: str,
    ev: NetworkEvent,
    fetched: NetworkPayload | None,
    known_persistent: bool | None,
) -> tuple[Observation, NetworkConfig | None, bool | None]:
    """The observation for one network event, the network's config and persistence after it.

    The config is None when the network ended (or was never readable).
    """
    persistent = fetched.persistent if fetched is not None else known_persistent
    if ev.event == NET_DEFINED and fetched is None:
        persistent = True
    if ev.event == NET_UNDEFINED:
        ended = fetched is None or not fetched.active
    elif ev.event == NET_STOPPED:
        ended = persistent is not True
    else:
        ended = False
    if ended:
        obs = Observation(source, ev.at, "event", gone=(libvirt_net_id(host, ev.name),))
        return obs, None, None

    active = {NET_STARTED: True, NET_STOPPED: False}.get(
        ev.event, fetched.active if fetched is not None else False
    )
    if fetched is None:
        entity = EntityObs(
            libvirt_net_id(host, ev.name), "net", {"name": ev.name, "active": active}
        )
        return Observation(source, ev.at, "event", entities=(entity,)), None, persistent
    cfg = network_config(fetched)
    entity = network_entity(cfg, host, active=active, persistent=persistent)
    return Observation(source, ev.at, "event", entities=(entity,)), cfg, persistent
