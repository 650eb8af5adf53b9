// The usage view: per owner or per service, what was allocated (vCPU-hours) and used
// (CPU-hours) over a window, and its cost when the policy has a rate card
// (`/api/account`, docs/accounting.md), drawn as bars against the largest row.
// Opened from the toolbar's Usage button; it binds itself to the page.

import { get } from "./api.js";
import { esc } from "./panel.js";

const W = 360;
const BAR = 10;
const SERIES = [
  ["vcpu_hours", "#2563eb"],
  ["cpu_hours", "#16a34a"],
];

function fixed(n) {
  return n.toLocaleString(undefined, { maximumFractionDigits: 2 });
}

// One row's figure: its allocated and used bars, scaled to the largest figure shown.
export function bars(row, top) {
  const label = row.key === null ? "(none)" : row.key;
  const figures = { vcpu_hours: row.vcpu_hours, cpu_hours: row.cpu_seconds / 3600 };
  const rects = SERIES.map(([k, c], i) => {
    const w = top ? (figures[k] * W) / top : 0;
    return `<rect x="0" y="${i * (BAR + 2)}" width="${w.toFixed(1)}" height="${BAR}" fill="${c}" data-series="${k}"/>`;
  }).join("");
  const cost = row.cost === null ? "" : ` · cost <b data-now="cost">${fixed(row.cost)}</b>`;
  return `<figure class="usage" data-key="${esc(label)}">
    <figcaption><b>${esc(label)}</b>
      <span class="counts">allocated <b data-now="vcpu_hours">${fixed(figures.vcpu_hours)}</b> vCPU·h · used <b data-now="cpu_hours">${fixed(figures.cpu_hours)}</b> CPU·h · <b data-now="memory_gib_hours">${fixed(row.memory_gib_hours)}</b> GiB·h${cost}</span></figcaption>
    <svg viewBox="0 0 ${W} ${2 * BAR + 2}" width="${W}" height="${2 * BAR + 2}" role="img" aria-label="${esc(label)}: allocated and used">${rects}</svg>
  </figure>`;
}

async function show(dialog, body, by, days) {
  body.innerHTML = '<p class="muted">counting…</p>';
  try {
    const answer = await get("/api/account", { from: `-${days}d`, to: "now", by });
    const top = Math.max(0, ...answer.rows.map((r) => Math.max(r.vcpu_hours, r.cpu_seconds / 3600)));
    body.innerHTML = answer.rows.length
      ? answer.rows.map((r) => bars(r, top)).join("")
      : '<p class="muted">No VM was recorded in this window.</p>';
  } catch (e) {
    body.innerHTML = `<p class="muted">${esc(e.message)}</p>`;
  }
  dialog.dataset.shown = `${by}/${days}`;
}

function mount() {
  const open = document.getElementById("usage-open");
  const dialog = document.getElementById("usage-dialog");
  if (!open || !dialog) return;
  const body = dialog.querySelector(".usage-body");
  const by = dialog.querySelector("#usage-by");
  const days = dialog.querySelector("#usage-window");
  const again = () => show(dialog, body, by.value, days.value);
  open.addEventListener("click", () => {
    if (!dialog.open) dialog.showModal();
    again();
  });
  by.addEventListener("change", again);
  days.addEventListener("change", again);
}

mount();
