"""The policy evaluated against the history; `policy_at` reads the policy in force."""
