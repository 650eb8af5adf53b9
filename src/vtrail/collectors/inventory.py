"""`inventory:PATH`: a register of who owns what (YAML or CSV), read as asset facts.

Each row names a VM or host by its id and says some of owner, cost-centre,
purpose, support-end, cloned-from and image (docs/assets.md). A snapshot of the
source `inventory:<absolute path>` states one `asset:<id>` entity per row,
never the VM or host itself: a register that still lists a deleted VM must not
keep that VM alive in the record. A row dropped from the file ends its asset
entity at the next snapshot, so who owned what has a history like the rest.

The whole file is checked before anything is said: a bad row is refused in one
line naming its place (`inventory.csv: line 3: support-end '2027-13-01' is not
a date (YYYY-MM-DD)`), and the snapshot fails, so that nothing of the file is
recorded until it is fixed.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import yaml

from vtrail.assetattrs import FIELDS, SUPPORT_END, field_name, support_end
from vtrail.collectors.base import Emit, SourceError
from vtrail.ids import asset_id, host_id, vm_id
from vtrail.limits import STRING_MAX
from vtrail.model import EntityObs, InvalidId, JSONValue, Observation, split_id

PREFIX = "inventory:"
#: The kinds an inventory row may describe.
KINDS = ("vm", "host")
#: A register larger than this is not one anyone keeps by hand.
MAX_BYTES = 64 << 20


class InventoryError(ValueError):
    """A file that is not a valid inventory; the one-line message names the place."""


@dataclass(frozen=True, slots=True)
class Row:
    #: The VM or host the row describes (`vm:<uuid>`, `host:<name>`).
    entity: str
    #: Attribute name (`asset.owner`) to its text; a field left empty is not said.
    facts: dict[str, str]


def parse_source_uri(uri: str) -> Path:
    if not uri.startswith(PREFIX) or not uri.removeprefix(PREFIX):
        raise ValueError(f"not an inventory source {uri!r}: expected inventory:PATH.yaml|csv")
    return Path(uri.removeprefix(PREFIX)).absolute()


def read_inventory(path: Path) -> list[Row]:
    """Every row of the file at `path` (CSV when it ends in `.csv`, else YAML), checked."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InventoryError(f"{path}: cannot read: {e.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise InventoryError(f"{path}: {len(raw):,} bytes; an inventory is at most {MAX_BYTES:,}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InventoryError(f"{path}: not UTF-8: byte 0x{raw[e.start]:02x} at {e.start}") from None
    if path.suffix.lower() == ".csv":
        return parse_csv(text, path.name)
    return parse_yaml(text, path.name)


def parse_csv(text: str, name: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
        if header is None:
            raise InventoryError(f"{name}: empty: the first line names the columns; {_COLUMNS}")
        columns = [_column(c, name) for c in header]
        if "id" not in columns:
            raise InventoryError(f"{name}: line 1: no id column: {_COLUMNS}")
        items: list[tuple[str, Mapping[str, object]]] = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            where = f"{name}: line {reader.line_num}"
            if len(cells) != len(columns):
                raise InventoryError(f"{where}: {len(cells)} cells under {len(columns)} columns")
            items.append((where, dict(zip(columns, cells, strict=True))))
    except csv.Error as e:
        raise InventoryError(f"{name}: line {reader.line_num}: {e}") from None
    return _rows(items)


def parse_yaml(text: str, name: str) -> list[Row]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}:" if mark is not None else ""
        problem = getattr(e, "problem", None) or "not YAML"
        raise InventoryError(f"{name}:{line} {problem}") from None
    if isinstance(doc, dict) and set(doc) == {"assets"}:
        doc = doc["assets"]
    if doc is None:
        doc = []
    if not isinstance(doc, list):
        raise InventoryError(f"{name}: expected a list of assets (or `assets:` holding one)")
    items: list[tuple[str, Mapping[str, object]]] = []
    for i, item in enumerate(doc, 1):
        where = f"{name}: asset {i}"
        if not isinstance(item, dict):
            raise InventoryError(f"{where}: expected a mapping of columns (id, owner, ...)")
        items.append((where, {_column(str(k), where): v for k, v in item.items()}))
    return _rows(items)


_COLUMNS = "the columns are id, " + ", ".join(FIELDS)


def _column(text: str, where: str) -> str:
    if text.strip().lower() == "id":
        return "id"
    name = field_name(text)
    if name is None:
        raise InventoryError(f"{where}: unknown column {text!r}; {_COLUMNS}")
    return name


def _rows(items: Iterable[tuple[str, Mapping[str, object]]]) -> list[Row]:
    out: list[Row] = []
    seen: dict[str, str] = {}
    for where, item in items:
        entity = _entity(item.get("id"), where)
        if entity in seen:
            raise InventoryError(f"{where}: {entity} is listed twice ({seen[entity]})")
        seen[entity] = where.rpartition(": ")[2]
        facts: dict[str, str] = {}
        for column, value in item.items():
            if column == "id" or value is None or value == "":
                continue
            text = _text(value, column, where)
            if FIELDS[column] == SUPPORT_END:
                try:
                    text = support_end(text).isoformat()
                except ValueError as e:
                    raise InventoryError(f"{where}: {e}") from None
            if text:
                facts[FIELDS[column]] = text
        out.append(Row(entity, facts))
    return out


def _entity(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InventoryError(f"{where}: no id: name the VM (vm:<uuid>) or host (host:<name>)")
    try:
        kind, key = split_id(value.strip())
    except InvalidId as e:
        raise InventoryError(f"{where}: {e}") from None
    if kind not in KINDS:
        raise InventoryError(f"{where}: {value!r} is a {kind}; an inventory row is a vm or a host")
    return vm_id(key) if kind == "vm" else host_id(key)


def _text(value: object, column: str, where: str) -> str:
    if isinstance(value, date):  # YAML reads 2027-06-30 as a date
        return value.isoformat()[:10]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InventoryError(f"{where}: {column} is text, not {type(value).__name__}")
    text = str(value).strip()
    if len(text) > STRING_MAX:
        raise InventoryError(f"{where}: {column} is {len(text):,} characters long")
    return text


def now() -> datetime:
    """When a register is read, to the millisecond: what the page and most tools can name,
    so that the instant it was read can be asked for and get its facts."""
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def observation(rows: Iterable[Row], source: str, at: datetime) -> Observation:
    """One snapshot of `source`: an `asset:` entity per row."""
    entities = tuple(
        EntityObs(asset_id(r.entity), "asset", dict[str, JSONValue](r.facts)) for r in rows
    )
    return Observation(source=source, observed_at=at, kind="snapshot", entities=entities)


class InventoryCollector:
    """The Collector protocol over an inventory file: each snapshot reads it again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.source = f"{PREFIX}{path}"

    def snapshot(self) -> Observation:
        try:
            rows = read_inventory(self.path)
        except InventoryError as e:
            raise SourceError(str(e)) from None
        return observation(rows, self.source, now())

    def watch(self, emit: Emit, stop: threading.Event) -> None:
        """A file announces nothing: the runner's snapshots every interval read it again."""
        stop.wait()

    def close(self) -> None:
        """Nothing is held open between snapshots."""
