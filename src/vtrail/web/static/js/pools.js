// The pools view: per pool, how many members were allocated, in use and free over a
// window (`/api/ipam/usage`), drawn as lines, so that "do we have enough public IPs?"
// has a picture. Opened from the toolbar's Pools button; it binds itself to the page.

import { get } from "./api.js";
import { esc } from "./panel.js";

const W = 360;
const H = 90;
const SERIES = [
  ["allocated", "#2563eb"],
  ["observed", "#16a34a"],
];

function line(points, key, top, colour) {
  const n = points.length;
  const xy = points.map((p, i) => {
    const x = n > 1 ? (i * W) / (n - 1) : 0;
    const y = H - (top ? (p[key] * H) / top : 0);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  return `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${xy.join(" ")}" data-series="${key}"/>`;
}

// One pool's chart: allocated and in use against the highest of the two (a pool's size
// can be 2^64, which would flatten both), and the free count now in words.
export function chart(pool) {
  const pts = pool.series;
  const top = Math.max(1, ...pts.map((p) => Math.max(p.allocated, p.observed)));
  const last = pts[pts.length - 1] || { allocated: 0, observed: 0, free: pool.size };
  const what = pool.kind === "mac" ? "MAC" : `IPv${pool.family}`;
  const tag = pool.public ? ' <span class="pub">public</span>' : "";
  return `<figure class="pool" data-pool="${esc(pool.pool)}">
    <figcaption><b>${esc(pool.pool)}</b> <span class="muted">${what}${pool.space ? ` in ${esc(pool.space)}` : ""}</span>${tag}
      <span class="counts">allocated <b data-now="allocated">${last.allocated}</b> · in use <b data-now="observed">${last.observed}</b> · free <b data-now="free">${last.free}</b> of ${pool.size}</span></figcaption>
    <svg viewBox="0 -4 ${W} ${H + 8}" width="${W}" height="${H + 8}" role="img" aria-label="${esc(pool.pool)} over time">
      ${SERIES.map(([k, c]) => line(pts, k, top, c)).join("")}
    </svg>
  </figure>`;
}

async function show(dialog, body, days) {
  body.innerHTML = '<p class="muted">counting…</p>';
  try {
    const answer = await get("/api/ipam/usage", { from: `-${days}d`, to: "now", points: 48 });
    body.innerHTML = answer.pools.length
      ? answer.pools.map(chart).join("")
      : '<p class="muted">No pools: define some under <code>pools:</code> in the policy (docs/ipam.md).</p>';
  } catch (e) {
    body.innerHTML = `<p class="muted">${esc(e.message)}</p>`;
  }
  dialog.dataset.shown = String(days);
}

function mount() {
  const open = document.getElementById("pools-open");
  const dialog = document.getElementById("pools-dialog");
  if (!open || !dialog) return;
  const body = dialog.querySelector(".pools-body");
  const select = dialog.querySelector("#pools-window");
  open.addEventListener("click", () => {
    if (!dialog.open) dialog.showModal();
    show(dialog, body, select.value);
  });
  select.addEventListener("change", () => show(dialog, body, select.value));
}

mount();
