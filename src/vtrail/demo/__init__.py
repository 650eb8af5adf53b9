"""`vtrail demo`: a real churning fabric on this machine, recorded and toured.

`fabric` builds and removes it, `churn` plays the story and keeps its ground
truth, `session` records it with the runner; `cli.demo_tour` asks the record
questions. The fidelity tests drive the same pieces (docs/demo.md).
`example_day` is the other demo: the bundled day `vtrail tour` replays.
"""
