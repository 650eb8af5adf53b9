// The asset card of a VM or host in the side panel: owner, purpose, support, flags,
// where it ran, its lineage, and the VM it likely continues (/api/asset/{id}).

import { ApiError, get, idPath } from "./api.js";
import { esc, link } from "./panel.js";
import { fmtTime } from "./timebar.js";

const ms = (iso) => (iso ? Date.parse(iso) : null);
const LABELS = { owner: "owner", cost_centre: "cost centre", purpose: "purpose", support_end: "support end", cloned_from: "cloned from", image: "image" };
const SUPPORT = { "in-support": "in support", ended: "support ended", unknown: "support unknown", unreadable: "support date unreadable" };

function span(seconds) {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  return m ? `${m}m` : `${Math.round(seconds)}s`;
}

function continuity(title, other, l) {
  const evidence = l.evidence
    .map((e) => `<li>same ${esc(e.kind)} <code>${esc(e.value)}</code> · last ${esc(fmtTime(ms(e.last_seen), true))}, then ${esc(fmtTime(ms(e.first_seen), true))}</li>`)
    .join("");
  return `<div class="continuity"><span class="muted">${esc(title)}</span> ${link(other)} <span class="chip">${esc(l.verdict)}</span><ul>${evidence}</ul></div>`;
}

export function render(c) {
  const facts = Object.entries(c.facts)
    .map(([k, f]) => {
      const doubt = f.disputed_by ? ` <span class="muted">(${esc(f.disputed_by)} says ${esc(f.disputed_value)})</span>` : "";
      return `<tr><td>${esc(LABELS[k] || k)}</td><td title="${esc(f.source)}">${esc(f.value)}${doubt}</td></tr>`;
    })
    .join("");
  const hw = Object.entries(c.hardware || {})
    .map(([k, v]) => `<tr><td>${esc(k.replace("_", " "))}</td><td>${esc(v)}</td></tr>`)
    .join("");
  const days = c.support.days_left === null ? "" : ` · ${Math.abs(c.support.days_left)} days ${c.support.days_left >= 0 ? "left" : "ago"}`;
  const flags = c.flags.map((f) => `<span class="chip bad">${esc(f)}</span>`).join(" ");
  const life = c.first_seen ? `${esc(fmtTime(ms(c.first_seen), true))} → ${c.ended ? esc(fmtTime(ms(c.ended), true)) : "now"}${c.lifetime_s !== null ? ` · lived ${span(c.lifetime_s)}` : ""}` : "never recorded, only listed";
  const ran = c.placements
    .map((p) => `<li>${link(p.host)} <span class="muted">${esc(fmtTime(ms(p.from), true))} → ${p.to ? esc(fmtTime(ms(p.to), true)) : "now"}</span></li>`)
    .join("");
  const lin = c.lineage;
  const lineage = [
    ...lin.images.map((i) => `<div><span class="muted">image</span> ${i.startsWith("image:") ? link(i) : esc(i)}</div>`),
    lin.cloned_from ? `<div><span class="muted">cloned from</span> ${lin.cloned_from_entity ? link(lin.cloned_from_entity, lin.cloned_from) : esc(lin.cloned_from)}</div>` : "",
    lin.replaces ? continuity("replaces", lin.replaces.earlier, lin.replaces) : "",
    lin.replaced_by ? continuity("replaced by", lin.replaced_by.later, lin.replaced_by) : "",
  ].join("");
  const owners = c.owner_changes.length > 1
    ? `<ul class="changes">${c.owner_changes.map((o) => `<li><time>${esc(fmtTime(ms(o.at)))}</time><span>owner ${esc(o.before || "—")} → ${esc(o.after || "—")}</span></li>`).join("")}</ul>`
    : "";
  return `<h3>Asset</h3>
    <div class="sub">${flags || '<span class="chip ok">no flag</span>'} · ${esc(SUPPORT[c.support.status] || c.support.status)}${c.support.end ? ` ${esc(c.support.end)}` : ""}${days}</div>
    <table class="kv">${facts || '<tr><td colspan="2" class="muted">No owner, cost centre or purpose recorded.</td></tr>'}${hw}</table>
    <div class="sub">${life}</div>
    ${lineage ? `<div class="lineage">${lineage}</div>` : ""}
    ${ran ? `<div class="muted">where it ran</div><ul class="rels">${ran}</ul>` : ""}
    ${owners}`;
}

// Fill the panel's asset section for `id` at `at`; `current()` says whether the panel
// still shows that entity when the answer arrives.
export async function fill(panelEl, id, at, current) {
  const el = panelEl.querySelector("[data-asset-card]");
  if (!el) return;
  try {
    const card = await get(`/api/asset/${idPath(id)}`, { at });
    if (current()) el.innerHTML = render(card);
  } catch (e) {
    if (!current()) return;
    if (e instanceof ApiError && e.status === 404) el.remove();
    else el.innerHTML = `<h3>Asset</h3><p class="muted">${esc(e.message)}</p>`;
  }
}
