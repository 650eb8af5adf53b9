"""libvirt's enums as words. Pure.

The integers are libvirt's stable ABI (virDomainState, virDomain*Reason,
virDomainEventType and its details, virNetworkEventLifecycleType); a test
checks every table against the installed bindings. Reason words for a
state and details of the event that led to it are the same word when they
mean the same thing, so a snapshot and an event agree on `state_reason`.
"""

from __future__ import annotations


def _enum(words: str) -> dict[int, str]:
    return dict(enumerate(words.split()))


STATES = _enum("nostate running blocked paused shutdown shutoff crashed pmsuspended")
#: virDomain{Running,Paused,Shutoff}Reason, keyed by state.
STATE_REASONS: dict[int, dict[int, str]] = {
    1: _enum(
        "unknown booted migrated restored from_snapshot unpaused migration_canceled "
        "save_canceled wakeup crashed postcopy postcopy_failed"
    ),
    3: _enum(
        "unknown user migration save dump ioerror watchdog from_snapshot shutting_down "
        "snapshot crashed starting_up postcopy postcopy_failed api_error"
    ),
    5: _enum("unknown shutdown destroyed crashed migrated saved failed from_snapshot daemon"),
}

# virDomainEventType
DEFINED, UNDEFINED, STARTED, SUSPENDED, RESUMED, STOPPED, SHUTDOWN, PMSUSPENDED, CRASHED = range(9)
EVENTS = _enum("defined undefined started suspended resumed stopped shutdown pmsuspended crashed")
#: virDomainEventUndefinedDetailType: the uuid lives on under a new name.
UNDEFINED_RENAMED = 1
#: Event details as reason words.
EVENT_DETAILS: dict[int, dict[int, str]] = {
    STARTED: _enum("booted migrated restored from_snapshot wakeup recreated"),
    SUSPENDED: _enum(
        "user migration ioerror watchdog restored from_snapshot api_error postcopy postcopy_failed"
    ),
    RESUMED: _enum("unpaused migrated from_snapshot postcopy postcopy_failed"),
    STOPPED: _enum("shutdown destroyed crashed migrated saved failed from_snapshot"),
}
#: The state word and activeness an event implies; None keeps what was known.
IMPLIED: dict[int, tuple[str, bool | None]] = {
    STARTED: ("running", True),
    SUSPENDED: ("paused", True),
    RESUMED: ("running", True),
    STOPPED: ("shutoff", False),
    PMSUSPENDED: ("pmsuspended", True),
    CRASHED: ("crashed", None),
}

# virNetworkEventLifecycleType
NET_DEFINED, NET_UNDEFINED, NET_STARTED, NET_STOPPED = range(4)


def state_word(state: int) -> str:
    return STATES.get(state, f"state_{state}")


def reason_word(state: int, reason: int) -> str | None:
    return STATE_REASONS.get(state, {}).get(reason)
