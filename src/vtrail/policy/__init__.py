"""The policy: services, diagnostic domains and rules an operator writes as code.

`model` holds what a policy is; the file format, its checks and how a policy is
recorded (so that it too has a state at every past instant) live beside it.
Evaluating a policy against the history is the triage layer's work.
"""
