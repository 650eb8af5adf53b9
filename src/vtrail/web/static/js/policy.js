// The policy on the page: the rules panel (what is violated at the slider's instant),
// the colours of services and domains, and their legend. Everything here comes from
// `/api/check`: at an instant for the panel and the colours, over the window for the
// slider's band.

import { esc } from "./panel.js";

// Tone (border) and tint (fill) pairs that stay apart from the kinds' own colours and
// from one another.
const PALETTE = [
  ["#db2777", "#fce7f3"],
  ["#0891b2", "#cffafe"],
  ["#65a30d", "#ecfccb"],
  ["#ea580c", "#ffedd5"],
  ["#7c3aed", "#ede9fe"],
  ["#0d9488", "#ccfbf1"],
  ["#ca8a04", "#fef9c3"],
  ["#4f46e5", "#e0e7ff"],
  ["#dc2626", "#fee2e2"],
  ["#475569", "#e2e8f0"],
];

const WHAT = { services: "service", domains: "domain" };

// The colour of each entity in a service or domain (by = "services" | "domains"), and
// the legend. Groups take colours in the order of their names, so a group keeps its
// colour while the slider moves; an entity in several takes the first one's.
export function colouring(answer, by) {
  const hues = new Map();
  const legend = [];
  if (!answer || !by || !answer[by]) return { hues, legend };
  const groups = [...answer[by]].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  groups.forEach((g, i) => {
    const [tone, tint] = PALETTE[i % PALETTE.length];
    legend.push({ name: g.name, tone, tint, count: g.members.length });
    // The group's own entity (service:web, domain:rack-1) wears its colour too.
    for (const id of [...g.members, `${WHAT[by]}:${g.name}`]) {
      if (!hues.has(id)) hues.set(id, { tone, tint });
    }
  });
  return { hues, legend };
}

export function legend(el, by, items, error) {
  if (!by) {
    el.hidden = true;
    el.innerHTML = "";
    return;
  }
  el.hidden = false;
  const title = `<b>${by === "services" ? "Services" : "Domains"}</b>`;
  if (error) {
    el.innerHTML = `${title}<span class="muted">${esc(error)}</span>`;
    return;
  }
  const rows = items.map(
    (g) => `<span data-group="${esc(g.name)}"><i class="sw" style="background:${g.tint};border-color:${g.tone}"></i>${esc(g.name)} <span class="muted">${g.count}</span></span>`,
  );
  el.innerHTML = `${title}${rows.join("") || `<span class="muted">none defined</span>`}`;
}

function member(id, names) {
  const label = names.get(id) || id.slice(id.indexOf(":") + 1);
  return `<a class="ent" data-ent="${esc(id)}" title="${esc(id)}">${esc(label)}</a>`;
}

// The kinds of provisioning rules (who may run which images, where, and how much,
// docs/provisioning.md): the panel lists them apart from the placement rules.
const PROVISIONING = new Set(["certified", "security", "images", "hosts", "quota"]);

function broken(r, names) {
  const who = r.members.map((m) => member(m, names)).join(" ");
  return `<li class="violated" data-rule="${esc(r.name)}">
      <div class="r1"><b>${esc(r.name)}</b><span class="chip bad">${esc(r.kind)}</span></div>
      <div class="why">${esc(r.reason || "")}</div>
      <div class="who">${who}</div></li>`;
}

// One group of rules: those violated, with why and who, and the others in a line.
function group(rules, names) {
  const out = rules.filter((r) => !r.holds).map((r) => broken(r, names));
  const holding = rules.filter((r) => r.holds);
  const rest = holding.length
    ? `<p class="holding"><span class="muted">Holding:</span> ${holding.map((r) => esc(r.name)).join(", ")}</p>`
    : "";
  return `${out.length ? `<ul class="broken">${out.join("")}</ul>` : ""}${rest}`;
}

// The rules at `at`: each one violated then, with why and who; the others in a line.
// Provisioning rules come under a heading of their own. Without a policy in force (the
// API's 404), one line says so, the API's whole line (how to record one) under the
// pointer.
export function rules(el, { at, answer, error, names }) {
  el.dataset.at = at;
  if (error) {
    const text = error.status === 404 ? "No policy was in force at this instant." : error.message;
    el.innerHTML = `<h3>Rules</h3><p class="none one" title="${esc(error.message)}">${esc(text)}</p>`;
    return;
  }
  const violated = answer.rules.filter((r) => !r.holds).length;
  const summary = answer.rules.length
    ? `${violated} of ${answer.rules.length} violated`
    : "the policy has no rules";
  const placement = answer.rules.filter((r) => !PROVISIONING.has(r.kind));
  const provisioning = answer.rules.filter((r) => PROVISIONING.has(r.kind));
  const none = violated ? "" : `<p class="none ok">${answer.rules.length ? "Every rule holds at this instant." : ""}</p>`;
  const who = provisioning.length
    ? `<div class="provisioning"><h4>Who may run what</h4>${group(provisioning, names)}</div>`
    : "";
  el.innerHTML = `<h3>Rules <span class="muted">· ${esc(summary)}</span></h3>
    ${none}${group(placement, names)}${who}`;
}

// The violations over the window as [from, to] spans in ms; one still open reaches `hi`.
export function spans(answer, hi) {
  const out = [];
  for (const r of answer.rules) {
    for (const v of r.violations) out.push([Date.parse(v.from), v.to ? Date.parse(v.to) : hi, r.name]);
  }
  return out;
}
