"""A saved rolling plan (`vtrail plan rolling -o json > plan.json`) read back for a review:
its groups of hosts in order, and each planned move. A file that is not such a plan is
refused in one line naming the place."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The largest plan file read: a 10,000-VM fleet's plan is a few MiB.
MAX_BYTES = 64 * 1024 * 1024


class BadPlan(ValueError):
    """Not a saved plan: the message says where and why."""


@dataclass(frozen=True, slots=True)
class PlannedMove:
    vm: str
    host: str
    target: str | None


@dataclass(frozen=True, slots=True)
class SavedPlan:
    groups: list[list[str]]
    moves: list[PlannedMove]


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadPlan(f"{where}: expected an id (text), got {json.dumps(value)[:40]}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadPlan(f"{where}: expected a list")
    return value


def parse_plan(data: Any, name: str) -> SavedPlan:
    if not isinstance(data, dict) or "groups" not in data:
        raise BadPlan(
            f"{name}: not a saved rolling plan (it has no 'groups'; "
            "save one with `vtrail plan rolling -o json`)"
        )
    groups, moves = [], []
    for i, g in enumerate(_list(data["groups"], f"{name}: groups")):
        at = f"{name}: groups[{i}]"
        if not isinstance(g, dict):
            raise BadPlan(f"{at}: expected an object with hosts and moves")
        hosts = [
            _text(h, f"{at}.hosts[{j}]") for j, h in enumerate(_list(g.get("hosts"), f"{at}.hosts"))
        ]
        groups.append(hosts)
        for j, m in enumerate(_list(g.get("moves", []), f"{at}.moves")):
            here = f"{at}.moves[{j}]"
            if not isinstance(m, dict):
                raise BadPlan(f"{here}: expected an object (vm, host, target)")
            target = m.get("target")
            moves.append(
                PlannedMove(
                    _text(m.get("vm"), f"{here}.vm"),
                    _text(m.get("host"), f"{here}.host"),
                    None if target is None else _text(target, f"{here}.target"),
                )
            )
    return SavedPlan(groups, moves)


def parse_plan_text(text: bytes | str, name: str) -> SavedPlan:
    try:
        data = json.loads(text)
    except UnicodeDecodeError:
        raise BadPlan(f"{name}: not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise BadPlan(f"{name}:{e.lineno}: not JSON: {e.msg}") from None
    return parse_plan(data, name)


def load_plan(path: Path) -> SavedPlan:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise BadPlan(f"{path}: larger than {MAX_BYTES // 2**20} MiB, no saved plan is")
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadPlan(f"no such file: {path}") from None
    except IsADirectoryError:
        raise BadPlan(f"{path} is a directory, not a plan file") from None
    except OSError as e:
        raise BadPlan(f"cannot read {path}: {e.strerror}") from None
    return parse_plan_text(data, str(path))
