"""Which status each refusal gets: the one table the routes and the worker processes share."""

from __future__ import annotations

from vtrail.accounting.account import BadAccount
from vtrail.images.facts import ImageError, ImageNotFound
from vtrail.ipam.pools import IpamConflict, IpamError, IpamNotFound
from vtrail.maintenance.plan_file import BadPlan
from vtrail.maintenance.rolling import Unsafe
from vtrail.model import InvalidId
from vtrail.policy.load import PolicyError
from vtrail.query.graph import BadGraphQuery
from vtrail.query.names import Ambiguous
from vtrail.query.path import BadPath
from vtrail.query.state import BadWindow, UnknownKind
from vtrail.store import StoreError, UnknownEntity
from vtrail.store.journal import BodiesDropped
from vtrail.timeexpr import TimeParseError
from vtrail.triage.health import UnknownGroup
from vtrail.triage.incident import BadTriage
from vtrail.triage.policy_at import NoPolicy
from vtrail.wire import ObservationError

STATUS: list[tuple[type[Exception], int]] = [
    (UnknownEntity, 404),
    (IpamNotFound, 404),
    (ImageNotFound, 404),
    (IpamConflict, 409),
    (Unsafe, 409),
    (BadPlan, 422),
    (NoPolicy, 404),
    (UnknownGroup, 404),
    (BadTriage, 422),
    (Ambiguous, 409),
    (BadWindow, 422),
    (BadAccount, 422),
    (UnknownKind, 422),
    (BadPath, 422),
    (BadGraphQuery, 422),
    (PolicyError, 422),
    (IpamError, 422),
    (ImageError, 422),
    (TimeParseError, 422),
    (ObservationError, 422),
    (InvalidId, 422),
    (BodiesDropped, 409),
    (StoreError, 503),
]


def status_of(e: BaseException) -> int | None:
    """The status of a refusal the API answers in one line; None for a bug."""
    for exc, status in STATUS:
        if isinstance(e, exc):
            return status
    return None
