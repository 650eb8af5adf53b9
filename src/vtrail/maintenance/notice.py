"""The notice for owners of a drain (`plan drain -o md`): per owner, their VMs on the host
and where each is expected to go, in Markdown to paste into a mail or a ticket. A VM
with no recorded owner is under its services' owners, else under "no owner recorded"."""

from __future__ import annotations

from vtrail.maintenance.drain import DrainAnswer, Move
from vtrail.model import split_id
from vtrail.policy.model import Policy
from vtrail.timeexpr import iso

UNOWNED = "no owner recorded"


def _owner(m: Move, policy: Policy) -> str:
    if m.owner:
        return m.owner
    owners = sorted({o for s in m.services if (o := policy.services[s].owner)})
    return ", ".join(owners) or UNOWNED


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(a: DrainAnswer, policy: Policy) -> str:
    host = split_id(a.host)[1]
    lines = [
        f"# Maintenance of {host}",
        "",
        f"{host} is to be drained: every VM on it moves to another host. As recorded at "
        f"{iso(a.at)}, {len(a.vms)} VM{'' if len(a.vms) == 1 else 's'} "
        f"{'runs' if len(a.vms) == 1 else 'run'} there.",
        "",
    ]
    by_owner: dict[str, list[Move]] = {}
    for m in a.vms:
        by_owner.setdefault(_owner(m, policy), []).append(m)
    for owner in sorted(by_owner):
        lines += [
            f"## {owner}",
            "",
            "| VM | services | size | expected move |",
            "| --- | --- | --- | --- |",
        ]
        for m in by_owner[owner]:
            where = f"to {split_id(m.target)[1]}" if m.target else "**nowhere to go**"
            size = f"{m.vcpus} vCPU, {m.memory_mib:,.0f} MiB"
            services = ", ".join(m.services) or "-"
            lines.append(f"| {_cell(m.name)} | {_cell(services)} | {size} | {where} |")
        lines.append("")
    if a.stuck:
        lines += ["## Not placed", "", *(f"- {_cell(s)}" for s in a.stuck), ""]
    if not a.vms:
        lines += ["Nothing runs there: no one is affected.", ""]
    return "\n".join(lines)
