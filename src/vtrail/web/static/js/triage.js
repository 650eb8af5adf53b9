// The triage view: "what broke it?" for a service or domain, or between two entities,
// at the slider's instant, from `/api/triage` (docs/triage.md). It shows the symptom (the
// onset, the affected members' probe series as small charts), the paths at the onset
// and before with the first differing hop marked, and the ranked suspects.
//
// The answer stays pinned to the instant asked while the slider moves (clicking a
// suspect moves it to the suspect's instant: re-asking there would answer about
// another moment). Its question is in the URL as `triage=WHAT[,B]@INSTANT`.

import { get, idPath } from "./api.js";
import { esc } from "./panel.js";
import { charts } from "./probes.js";
import { fmtTime, isoOf } from "./timebar.js";

const $ = (id) => document.getElementById(id);
const ms = (iso) => Date.parse(iso);
// Members charted at most: each is one request for its series.
const MAX_CHARTED = 4;

function short(id) {
  const key = id.slice(id.indexOf(":") + 1);
  return key.length > 28 ? `${key.slice(0, 26)}…` : key;
}

function link(id, text) {
  return `<a class="ent" data-ent="${esc(id)}" title="${esc(id)}">${esc(text || short(id))}</a>`;
}

function ago(seconds) {
  const s = Math.round(seconds);
  if (s < 90) return `${s} s`;
  return s < 3600 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1).replace(/\.0$/, "")} h`;
}

// The question as the URL keeps it, and back.
export function encode(what, at) {
  return `${what.join(",")}@${isoOf(at)}`;
}

export function decode(text) {
  const i = text.lastIndexOf("@");
  if (i < 1) return null;
  // A "+" in a hand-written link arrives as a space: put the zone's sign back.
  const at = Date.parse(text.slice(i + 1).replace(" ", "+"));
  const what = text.slice(0, i).split(",").filter(Boolean);
  return Number.isNaN(at) || !what.length || what.length > 2 ? null : { what, at };
}

export class Triage {
  // `app`: instant() and selected() (the slider's instant, the pick), check() (the
  // rules' answer at T, for the names of services and domains), names() (labels of
  // what is drawn), entity(id), suspect(id, ms), trace(a, b), changed() (layout, URL).
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.out = $("triage-out");
    this.asked = null; // { what, at }
    this.token = 0;
    $("triage-open").addEventListener("click", () => (this.isOpen() ? this.close() : this.open()));
    $("triage-close").addEventListener("click", () => this.close());
    $("triage-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const what = [$("triage-a").value.trim(), $("triage-b").value.trim()].filter(Boolean);
      if (!what.length) return void this.say("Give a service or a domain, or one or two entities.");
      this.ask(what, app.instant());
    });
    $("triage-sel").addEventListener("click", () => this.addSelected());
    $("triage-a").addEventListener("focus", () => this.offerGroups());
    this.out.addEventListener("click", (ev) => this.clicked(ev));
  }

  isOpen() {
    return !this.root.hidden;
  }

  open(first) {
    if (first) {
      $("triage-a").value = first;
      $("triage-b").value = "";
    }
    this.root.hidden = false;
    this.layout(true);
    this.offerGroups();
    this.app.changed();
    $("triage-a").focus();
  }

  close() {
    this.root.hidden = true;
    this.asked = null;
    this.token++;
    this.out.innerHTML = "";
    delete this.out.dataset.key;
    delete this.out.dataset.state;
    this.layout(false);
    this.app.changed();
  }

  // The view is a column of its own beside the side panel while open.
  layout(open) {
    this.root.parentElement.classList.toggle("triaging", open);
    $("triage-open").classList.toggle("on", open);
  }

  // The question in the URL, or null when the view is closed or has not asked.
  param() {
    return this.isOpen() && this.asked ? encode(this.asked.what, this.asked.at) : null;
  }

  restore(text) {
    const q = decode(text);
    this.open();
    if (!q) return void this.say(`The link's triage=${text} is not a question: WHAT or A,B, then @ and an instant.`);
    return this.ask(q.what, q.at);
  }

  offerGroups() {
    const found = this.app.check();
    const groups = found && !(found instanceof Error) ? [...found.services, ...found.domains] : [];
    $("triage-groups").innerHTML = groups.map((g) => `<option value="${esc(g.name)}">${g.members.length} members</option>`).join("");
  }

  addSelected() {
    const id = this.app.selected();
    if (!id) return void this.say("Select an entity on the drawing first.");
    const a = $("triage-a");
    const b = $("triage-b");
    if (!a.value.trim() || a.value.trim() === id) a.value = id;
    else b.value = id;
  }

  say(text) {
    $("triage-hint").textContent = text;
  }

  async ask(what, at) {
    const mine = ++this.token;
    this.asked = { what, at };
    this.say("");
    $("triage-a").value = what[0];
    $("triage-b").value = what[1] || "";
    this.out.dataset.key = encode(what, at);
    this.out.dataset.state = "loading";
    this.out.innerHTML = `<p class="muted">Asking about ${esc(what.join(" and "))} at ${fmtTime(at, true)}…</p>`;
    this.app.changed();
    let t;
    try {
      t = await get("/api/triage", { what, at: isoOf(at) });
    } catch (e) {
      if (mine !== this.token) return;
      this.out.dataset.state = "error";
      this.out.innerHTML = `<p class="t-error">${esc(e.message)}</p>`;
      return;
    }
    if (mine !== this.token) return;
    const names = this.names(t);
    this.out.innerHTML = this.render(t, names);
    this.out.dataset.state = "answer";
    await this.chart(t, names, mine);
  }

  // Labels for ids: what is drawn, then the hops of the paths (which know the past).
  names(t) {
    const names = new Map(this.app.names());
    for (const p of t.paths) {
      for (const h of [...p.comparison.before.hops, ...p.comparison.after.hops]) names.set(h.entity, h.label);
    }
    return names;
  }

  render(t, names) {
    const onset = ms(t.onset);
    const asked = `${esc(t.targets.join(" and "))} <span class="muted">at ${fmtTime(ms(t.at), true)} UTC</span>`;
    const banner = t.affected.length
      ? `<div class="banner bad onset"><b>${esc(t.onset_reason[0].toUpperCase() + t.onset_reason.slice(1))} at ${fmtTime(onset)}</b> · last healthy round ${fmtTime(ms(t.last_healthy))}</div>`
      : `<div class="banner none onset">No probe was degraded in the ${ago((ms(t.to) - ms(t.from)) / 1000)} before: the onset is the instant asked, ${fmtTime(onset)}.</div>`;
    const affected = t.affected
      .map((a) => `<li>${link(a.entity, names.get(a.entity))} <span class="muted">${esc(a.probe)}${a.vantage ? ` from ${esc(a.vantage)}` : ""}</span> · ${esc(a.reason)} · ${fmtTime(ms(a.from))} → ${a.to ? fmtTime(ms(a.to)) : "still bad"}</li>`)
      .join("");
    // The pair asked and a probe's vantage to its target may be one path, traced twice.
    const seen = new Set();
    const unique = t.paths.filter((p) => !seen.has(`${p.a} ${p.b}`) && seen.add(`${p.a} ${p.b}`));
    const paths = unique.length
      ? unique.map((p) => this.path(p, names)).join("")
      : `<p class="none">${t.affected.length ? "No probe with a vantage to trace a path from." : "No path traced: nothing was degraded."}</p>`;
    const suspects = t.suspects.length
      ? `<ol class="suspects">${t.suspects.map((s, i) => this.suspect(s, i, names)).join("")}</ol>`
      : '<p class="none">No change in the window before the onset.</p>';
    return `<h2 class="asked">${asked}</h2>${banner}
      ${affected ? `<ul class="affected">${affected}</ul>` : ""}
      <h3>Probes</h3><div class="t-probes"><p class="muted">Reading the probe series…</p></div>
      <h3>Paths at the onset and before</h3>${paths}
      <h3>Suspects <span class="muted">· ${t.suspects.length} of ${t.changes} changes, best first</span></h3>${suspects}`;
  }

  path(p, names) {
    const before = p.comparison.before;
    const after = p.comparison.after;
    const n = Math.max(before.hops.length, after.hops.length);
    const cell = (h, broken) =>
      h ? `<td class="${broken ? "broken" : ""}">${link(h.entity, h.label)}${broken ? ' <span class="x" title="where it broke">✕</span>' : ""}</td>` : '<td class="gone">—</td>';
    const rows = [];
    for (let i = 0; i < n; i++) {
      const x = before.hops[i];
      const y = after.hops[i];
      const first = p.first_difference === i + 1;
      const cls = first ? "first" : x?.entity !== y?.entity ? "diff" : "";
      const broke = y && !after.reachable && y.entity === p.broken_at;
      rows.push(`<tr class="${cls}" data-hop="${i + 1}"><td class="n">${i + 1}${first ? " ⚠" : ""}</td>${cell(x, false)}${cell(y, broke)}</tr>`);
    }
    const diff = p.first_difference
      ? `First differs at hop ${p.first_difference}: ${esc(names.get(p.differs_before) || p.differs_before || "nothing")} → ${esc(names.get(p.differs_at_onset) || p.differs_at_onset || "nothing")}`
      : "The same hops before and at the onset";
    const broke = p.broken_at ? ` · broke at ${esc(names.get(p.broken_at) || p.broken_at)}` : "";
    return `<div class="t-path" data-a="${esc(p.a)}" data-b="${esc(p.b)}">
      <div class="r1"><b>${esc(names.get(p.a) || short(p.a))} → ${esc(names.get(p.b) || short(p.b))}</b><button type="button" data-trace>Trace on the drawing</button></div>
      <div class="sub">${diff}${broke}</div>
      <table class="t-hops"><thead><tr><th>#</th><th>before · ${fmtTime(ms(before.at))}</th><th>at the onset · ${fmtTime(ms(after.at))}</th></tr></thead>
      <tbody>${rows.join("")}</tbody></table>
      ${after.reachable ? "" : `<div class="sub why">${esc(after.reason || "")}</div>`}</div>`;
  }

  suspect(s, i, names) {
    const parts = Object.entries(s.parts)
      .map(([k, v]) => `<span class="part" title="${esc(k)} ${v}"><i style="width:${Math.round(v * 100)}%"></i></span>${esc(k)} ${v.toFixed(2)}`)
      .join(" ");
    return `<li data-ent="${esc(s.entity)}" data-at="${esc(s.at)}" data-kind="${esc(s.kind)}" title="Go to ${fmtTime(ms(s.at))} and select ${esc(s.entity)}">
      <div class="s1"><span class="rank">${i + 1}</span><b class="score">${s.score.toFixed(2)}</b><span class="chip ${esc(s.kind)}">${esc(s.kind)}</span>
        <span class="sname">${esc(names.get(s.entity) || short(s.entity))}</span><time>${fmtTime(ms(s.at))}</time></div>
      <div class="reason">${esc(s.reason)}</div><div class="parts">${parts}</div></li>`;
  }

  // The series of the affected members (of every member, when nothing was degraded).
  async chart(t, names, mine) {
    const entities = [...new Set(t.affected.length ? t.affected.map((a) => a.entity) : t.members)].slice(0, MAX_CHARTED);
    const found = await Promise.all(
      entities.map((id) =>
        get(`/api/counters/${idPath(id)}`, { from: t.from, to: t.at }).then(
          (c) => [id, c],
          (e) => [id, e],
        ),
      ),
    );
    if (mine !== this.token) return;
    const hi = ms(t.at);
    // From the first reading charted: a window reaching before the record is empty there.
    const firsts = found.flatMap(([, c]) => (c instanceof Error ? [] : c.series.filter((s) => s.metric.startsWith("probe.") && s.points.length).map((s) => ms(s.points[0][0]))));
    const lo = Math.max(ms(t.from), Math.min(hi - 1000, ...firsts));
    const el = this.out.querySelector(".t-probes");
    el.innerHTML = entities.length ? charts(found, { affected: t.affected, lo, hi, onset: ms(t.onset), names }) : '<p class="none">No member to chart.</p>';
    this.out.dataset.state = "charted";
  }

  clicked(ev) {
    const trace = ev.target.closest("[data-trace]");
    if (trace) {
      const p = trace.closest(".t-path");
      return void this.app.trace(p.dataset.a, p.dataset.b);
    }
    const ent = ev.target.closest("a.ent[data-ent]");
    if (ent) return void this.app.entity(ent.dataset.ent);
    const s = ev.target.closest(".suspects li[data-ent]");
    if (!s) return;
    for (const li of this.out.querySelectorAll(".suspects li.picked")) li.classList.remove("picked");
    s.classList.add("picked");
    // What vanished is gone at its instant: it is picked at the last second it was there.
    this.app.suspect(s.dataset.ent, ms(s.dataset.at) - (s.dataset.kind === "vanished" ? 1000 : 0));
  }
}
