"""Policy files the policy tests apply."""

from __future__ import annotations

#: The issue's example, with the `cache` service its last rule names defined.
ISSUE = """\
services:
  web:  {owner: team-web, members: {kind: vm, name: "web-*"}}
  db:   {owner: team-db,  members: {kind: vm, name: "db-*"}}
  cache: {members: {kind: vm, name: "cache-*"}}
domains:
  rack-1: {hosts: [hv-a, hv-b]}
  rack-2: {hosts: [hv-c]}
rules:
  - {name: web-together, same-domain: web}
  - {name: db-apart, anti-affinity: db}
  - {name: web-near-db, max-hops: {from: web, to: db, hops: 2}}
  - {name: db-off-hv-c, host-anti-affinity: {service: db, hosts: [hv-c]}}
  - {name: cache-with-web, affinity: [cache, web]}
"""

#: ISSUE with a rule taken out, one added, one and a domain changed.
CHANGED = (
    ISSUE.replace("  - {name: db-apart, anti-affinity: db}\n", "")
    .replace("hops: 2", "hops: 3")
    .replace("rack-2: {hosts: [hv-c]}", "rack-2: {hosts: [hv-c, hv-d]}")
    + "  - {name: db-on-rack-1, host-affinity: {service: db, hosts: [hv-a, hv-b]}}\n"
)
