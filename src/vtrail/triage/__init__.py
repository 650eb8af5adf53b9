"""The policy evaluated against the history.

- `members`: which entities a service's selector matches, and when;
- `fabric`: where each member ran and was plugged in, kept as changes arrive;
- `rules`: what breaks each kind of rule at one instant, and why;
- `check`: compliance at an instant, or over a window by walking its changes;
- `answer`: the typed answer the CLI and the API serialise;
- `health`: a group's probe results and when each member was degraded;
- `changes`, `suspects`, `incident`, `report`: triage, what broke it (docs/triage.md).
"""

from vtrail.triage.answer import CheckAnswer, Membership, RuleCheck, Violation
from vtrail.triage.check import check
from vtrail.triage.members import membership

__all__ = ["CheckAnswer", "Membership", "RuleCheck", "Violation", "check", "membership"]
