// Images on the page: an image node's status (uncertified, insecure, out of support),
// read from its catalog attributes as `vtrail images` flags them, and an image's panel
// section: its catalog record (/api/image) and its exposure over the time bar's window
// (/api/image/exposure), every VM that ran it, the ones that lived seconds too.

import { ApiError, get } from "./api.js";
import { esc, link } from "./panel.js";
import { fmtTime } from "./timebar.js";

const ms = (iso) => (iso ? Date.parse(iso) : null);

// The flags of an image from its attributes at `atIso`, as the server gives them.
export function flags(attrs, atIso) {
  const a = attrs || {};
  const out = [];
  if (!a["catalog.certified_by"]) out.push("uncertified");
  if (a["catalog.security"] === "vulnerable") out.push("insecure");
  const end = a["catalog.support_end"];
  if (end && atIso && end < atIso.slice(0, 10)) out.push("out-of-support");
  return out;
}

// What an image node is drawn with: `insecure` above everything, then `flagged`, `ok`.
export function status(attrs, atIso) {
  const f = flags(attrs, atIso);
  if (f.includes("insecure")) return "insecure";
  return f.length ? "flagged" : "ok";
}

// An image is named by its catalog name where it has one: a checksum says nothing to a person.
export function label(n) {
  const a = n.attrs || {};
  if (a["catalog.name"]) return `${a["catalog.name"]}@${a["catalog.version"] || "?"}`;
  const key = n.id.slice(n.id.indexOf(":") + 1);
  if (key.startsWith("sha256:")) return `sha256:${key.slice(7, 19)}…`;
  const path = key.slice(key.lastIndexOf("/") + 1);
  return path || n.label;
}

function span(seconds) {
  if (seconds < 120) return `${Math.round(seconds)}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  return `${(seconds / 3600).toFixed(1)}h`;
}

export function render(facts, exp) {
  const chips = facts.flags.length
    ? facts.flags.map((f) => `<span class="chip bad">${esc(f)}</span>`).join(" ")
    : '<span class="chip ok">certified</span>';
  const rows = [
    ["catalog name", facts.name ? `${facts.name}@${facts.version}` : ""],
    ["identity", facts.identity === "checksum" ? `sha256 ${facts.checksum}` : `by path${facts.unhashed ? ` (${facts.unhashed})` : ""}`],
    ["format", facts.format || ""],
    ["creator", facts.creator || ""],
    ["certified", facts.certified_by ? `by ${facts.certified_by}${facts.certified_at ? ` · ${fmtTime(ms(facts.certified_at), true)}` : ""}` : ""],
    ["security", facts.security ? `${facts.security}${facts.advisories.length ? ` · ${facts.advisories.join(", ")}` : ""}` : ""],
    ["support end", facts.support_end || ""],
    ["location", facts.location || ""],
    ["paths", facts.paths.join(", ")],
  ]
    .filter(([, v]) => v)
    .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`)
    .join("");
  const runs = exp.vms
    .map(
      (x) =>
        `<li data-exposed="${esc(x.entity)}">${link(x.entity, x.name || x.entity)} <span class="muted">on</span> ${link(x.host)}` +
        `${x.owner ? ` <span class="muted">· ${esc(x.owner)}</span>` : ""}` +
        `<br><span class="muted">${esc(fmtTime(ms(x.from), true))} → ${x.ongoing ? "still" : esc(fmtTime(ms(x.to), true))} · ${span(x.seconds)}</span></li>`,
    )
    .join("");
  return `<h3>Image</h3>
    <div class="sub" data-image-flags>${chips}</div>
    <table class="kv">${rows}</table>
    <div class="muted" data-exposure-total>exposure in the window: ${exp.vm_count} VMs on ${exp.hosts.length} hosts, ${exp.vm_hours.toFixed(2)} VM-hours</div>
    ${runs ? `<ul class="rels exposure">${runs}</ul>` : '<p class="muted">No VM ran it in the window.</p>'}`;
}

// Fill the panel's image section for `id`: its facts at `at`, its exposure from `from`
// to `to`; `current()` says whether the panel still shows that image when they arrive.
export async function fill(panelEl, id, at, from, to, current) {
  const el = panelEl.querySelector("[data-image-card]");
  if (!el) return;
  try {
    const [facts, exp] = await Promise.all([
      get("/api/image", { image: id, at }),
      get("/api/image/exposure", { image: id, from, to }),
    ]);
    if (current()) el.innerHTML = render(facts, exp);
  } catch (e) {
    if (current()) el.innerHTML = `<p class="muted">${esc(e instanceof ApiError ? e.message : String(e))}</p>`;
  }
}
