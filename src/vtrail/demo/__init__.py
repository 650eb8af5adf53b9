"""`vtrail demo`: a real churning fabric on this machine, recorded and toured.

`fabric` builds and removes it, `churn` plays the story and keeps its ground
truth, `session` records it with the runner; `cli.demo_tour` asks the record
questions. The fidelity tests drive the same pieces (docs/demo.md).
`policy.yaml` is the fabric's policy, which `vtrail demo` records as it starts
and the story breaks; `POLICY`, its path, is here rather than in `churn` so
that reaching it imports no libvirt.
`example_day` is the other demo: the bundled day `vtrail tour` replays.
"""

from pathlib import Path

POLICY = Path(__file__).with_name("policy.yaml")
