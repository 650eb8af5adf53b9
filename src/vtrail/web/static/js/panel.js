// The side panel: the fabric at T (counts, ghosts), one entity (attributes, history
// timeline, counters), or a path (its hops, the routes chosen, where it broke).

import { fmtTime } from "./timebar.js";

export function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

const ms = (iso) => (iso ? Date.parse(iso) : null);

export function link(id, text) {
  return `<a class="ent" data-ent="${esc(id)}" title="${esc(id)}">${esc(text || id)}</a>`;
}

function chip(kind, text) {
  return `<span class="chip ${esc(kind)}">${esc(text || kind)}</span>`;
}

function shortId(id) {
  const kind = id.slice(0, id.indexOf(":"));
  let key = id.slice(id.indexOf(":") + 1);
  if (kind === "nic") key = key.slice(key.lastIndexOf("/") + 1); // its MAC
  return key.length > 28 ? `${key.slice(0, 26)}…` : key;
}

// A person's name for an end of the path: the label its hop carries, else its id.
function endName(p, id) {
  const hop = p.hops.find((h) => h.entity === id);
  return hop ? hop.label : shortId(id);
}

export function fmtBytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let i = 0;
  let v = Math.abs(n);
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

function fmtValue(v) {
  if (v === null || v === undefined) return '<span class="muted">—</span>';
  if (Array.isArray(v)) {
    if (!v.length) return '<span class="muted">none</span>';
    return v.map((x) => `<div>${fmtValue(x)}</div>`).join("");
  }
  if (typeof v === "object") {
    const items = Object.entries(v).filter(([, x]) => x !== null && x !== "" && !(Array.isArray(x) && !x.length));
    if (!items.length) return '<span class="muted">—</span>';
    return items.map(([k, x]) => `<span class="muted">${esc(k)}</span> ${typeof x === "object" ? esc(JSON.stringify(x)) : esc(x)}`).join("<br>");
  }
  return esc(v);
}

function attrsTable(attrs) {
  const keys = Object.keys(attrs || {}).sort();
  if (!keys.length) return '<p class="muted">No attributes recorded.</p>';
  return `<table class="kv">${keys.map((k) => `<tr><td>${esc(k)}</td><td>${fmtValue(attrs[k])}</td></tr>`).join("")}</table>`;
}

// -- the fabric at T ---------------------------------------------------------------

// What a thing carried: its byte counters' totals, one series per metric, the one
// read last (as `Lifetime.read_last`): a counter two sources read, such as a veth
// port's final rx read by its peer's collector, counts once.
export function carriedBytes(counters) {
  const last = new Map();
  for (const c of counters) {
    if (!c.metric.endsWith("bytes")) continue;
    const seen = last.get(c.metric);
    if (!seen || Date.parse(c.last_at) > Date.parse(seen.last_at)) last.set(c.metric, c);
  }
  return [...last.values()].reduce((s, c) => s + c.total, 0);
}

export function overview(el, { at, topo, ghosts, windowText }) {
  const counts = topo ? topo.counts : {};
  const order = ["host", "vm", "bridge", "router", "port", "nic", "ip", "net"];
  const kinds = order.filter((k) => counts[k]).concat(Object.keys(counts).filter((k) => !order.includes(k) && k !== "edges"));
  const cards = kinds.map((k) => `<div><b>${counts[k].toLocaleString()}</b><span>${esc(k === "ip" ? "addresses" : k + "s")}</span></div>`).join("");
  const ghostItems = ghosts.length
    ? ghosts
        .map((g) => {
          const bytes = carriedBytes(g.counters || []);
          const life = g.lifetime_s !== null ? `${Math.round(g.lifetime_s)} s` : "alive";
          return `<li data-ghost="${esc(g.entity)}" data-from="${esc(g.first_seen)}" data-to="${esc(g.ended || "")}">
            <div class="g1"><b>${esc(g.attrs.name || shortId(g.entity))}</b>${chip(g.kind)}</div>
            <div class="g2">${fmtTime(ms(g.first_seen))} → ${g.ended ? fmtTime(ms(g.ended)) : "now"} · ${life}${bytes ? ` · carried ${fmtBytes(bytes)}` : ""}</div></li>`;
        })
        .join("")
    : '<p class="muted">No ghost in this window.</p>';
  el.innerHTML = `
    <h2>Fabric at ${esc(fmtTime(ms(at), true))}</h2>
    <div class="sub">UTC · ${(counts.edges || 0).toLocaleString()} relations · click anything for its story</div>
    <h3>Live at this instant</h3>
    <div class="kinds">${cards || '<p class="muted">Nothing was live.</p>'}</div>
    <h3>Ghosts in the window <span class="muted">(${ghosts.length})</span></h3>
    <p class="sub" style="margin-top:-4px">Things whose whole life fell inside ${esc(windowText)}.</p>
    <ul class="ghosts">${ghostItems}</ul>`;
}

// -- one entity -----------------------------------------------------------------------

function historyChanges(id, history) {
  const out = [];
  const vs = history.versions;
  vs.forEach((v, i) => {
    if (i === 0 || vs[i - 1].to !== v.from) out.push([v.from, "appeared"]);
    else {
      const a = vs[i - 1].attrs;
      const b = v.attrs;
      const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
      const text = keys.slice(0, 3).map((k) => `${k}: ${shortVal(a[k])} → ${shortVal(b[k])}`).join("; ");
      out.push([v.from, text || "changed", true]);
    }
    if (v.to && (i === vs.length - 1 || vs[i + 1].from !== v.to)) out.push([v.to, v.vanished_between ? "vanished (source was away)" : "vanished"]);
  });
  for (const r of history.relations) {
    const other = r.src === id ? r.dst : r.src;
    const arrow = r.src === id ? `${r.rel} →` : `← ${r.rel}`;
    out.push([r.from, `+ ${arrow} ${other}`, false, other]);
    if (r.to) out.push([r.to, `− ${arrow} ${other}`, false, other]);
  }
  return out.sort((x, y) => ms(x[0]) - ms(y[0]));
}

function shortVal(v) {
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return s === undefined ? "—" : s.length > 24 ? `${s.slice(0, 22)}…` : s;
}

function timelineSvg(id, history, lo, hi, t) {
  const W = 340;
  const rows = [];
  rows.push({ label: "versions", spans: history.versions.map((v, i) => [ms(v.from), ms(v.to) ?? hi, i % 2]) });
  const byRel = new Map();
  for (const r of history.relations) {
    const other = r.src === id ? r.dst : r.src;
    const key = `${r.rel} ${shortId(other)}`;
    if (!byRel.has(key)) byRel.set(key, []);
    byRel.get(key).push([ms(r.from), ms(r.to) ?? hi, 2]);
  }
  for (const [label, spans] of [...byRel].slice(0, 9)) rows.push({ label, spans });
  const x = (v) => 4 + ((Math.min(Math.max(v, lo), hi) - lo) / (hi - lo)) * (W - 8);
  const colors = ["#93c5fd", "#60a5fa", "#a7f3d0"];
  let y = 0;
  const parts = [];
  for (const row of rows) {
    parts.push(`<text x="4" y="${y + 10}" font-size="10" fill="#64748b">${esc(row.label)}</text>`);
    for (const [a, b, c] of row.spans) {
      if (b < lo || a > hi) continue;
      parts.push(`<rect x="${x(a)}" y="${y + 13}" width="${Math.max(2, x(b) - x(a))}" height="7" rx="2" fill="${colors[c]}"/>`);
    }
    y += 26;
  }
  parts.push(`<line x1="${x(t)}" x2="${x(t)}" y1="0" y2="${y}" stroke="#2563eb" stroke-width="1.5"/>`);
  return `<svg viewBox="0 0 ${W} ${y}" height="${y}">${parts.join("")}</svg>`;
}

function rates(points) {
  const out = [];
  for (let i = 1; i < points.length; i++) {
    const [t0, v0] = points[i - 1];
    const [t1, v1] = points[i];
    const dt = (ms(t1) - ms(t0)) / 1000;
    if (dt <= 0) continue;
    const dv = v1 >= v0 ? v1 - v0 : v1; // a counter that went down restarted from zero
    out.push([ms(t1), dv / dt]);
  }
  return out;
}

function spark(series, lo, hi, t) {
  const W = 340;
  const H = 46;
  const pts = rates(series.points);
  const isBytes = series.metric.endsWith("bytes");
  const fmt = (v) => (isBytes ? `${fmtBytes(v)}/s` : `${v.toFixed(v < 10 ? 2 : 0)}/s`);
  if (!pts.length) {
    const only = series.points.length ? series.points[series.points.length - 1][1] : 0;
    return `<div class="spark"><div class="head"><span>${esc(series.metric)}</span><b>${isBytes ? fmtBytes(only) : only}</b></div><p class="muted">One reading only.</p></div>`;
  }
  const a = Math.min(lo, pts[0][0]);
  const b = Math.max(hi, pts[pts.length - 1][0]);
  const max = Math.max(...pts.map((p) => p[1]), 1e-9);
  const x = (v) => ((v - a) / (b - a || 1)) * W;
  const y = (v) => H - 3 - (v / max) * (H - 8);
  const line = pts.map(([tt, v]) => `${x(tt).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  const area = `${x(pts[0][0]).toFixed(1)},${H} ${line} ${x(pts[pts.length - 1][0]).toFixed(1)},${H}`;
  const now = pts.find((p) => p[0] >= t) || pts[pts.length - 1];
  const total = series.points[series.points.length - 1][1];
  return `<div class="spark"><div class="head"><span>${esc(series.metric)} <span class="muted">· last ${isBytes ? fmtBytes(total) : total.toLocaleString()}</span></span><b>${fmt(now[1])}</b></div>
    <svg viewBox="0 0 ${W} ${H}" height="${H}" preserveAspectRatio="none">
      <polygon points="${area}" fill="#dbeafe"/><polyline points="${line}" fill="none" stroke="#2563eb" stroke-width="1.5"/>
      <line x1="${x(t)}" x2="${x(t)}" y1="0" y2="${H}" stroke="#0f172a" stroke-dasharray="2,2"/>
    </svg></div>`;
}

export function entity(el, { id, at, show, history, counters, ghost, lo, hi }) {
  const t = ms(at);
  const v = show.version;
  const last = history.versions[history.versions.length - 1];
  const attrs = v ? v.attrs : last ? last.attrs : {};
  const kind = id.slice(0, id.indexOf(":"));
  const name = attrs.name || shortId(id);
  const present = v
    ? chip("ok", "present")
    : chip("absent", history.versions.length ? "not present at this instant" : "never described");
  const rels = show.relations
    .map((r) => {
      const out = r.src === id;
      return `<li><span class="rel">${esc(out ? r.rel : `${r.rel} ←`)}</span>${link(out ? r.dst : r.src)}</li>`;
    })
    .join("");
  const changes = historyChanges(id, history)
    .map(([when, text, _attr, other]) => `<li class="${ms(when) > t ? "future" : ""}"><time>${fmtTime(ms(when))}</time><span>${other ? esc(text.slice(0, text.length - other.length)) + link(other, shortId(other)) : esc(text)}</span></li>`)
    .join("");
  const first = history.versions.length ? history.versions[0].from : null;
  const lifeLine = first
    ? `${fmtTime(ms(first), true)} → ${last.to ? fmtTime(ms(last.to), true) : "now"}`
    : "";
  el.innerHTML = `
    <h2>${esc(name)} ${chip(kind)} ${ghost ? chip("ghost") : ""}</h2>
    <div class="eid">${esc(id)}</div>
    <div style="margin-top:8px">${present} <span class="sub">${esc(lifeLine)}</span></div>
    <div class="actions">
      <button data-act="from">Path from here</button>
      <button data-act="to">Path to here</button>
      <button data-act="triage">Triage from here</button>
      ${!v && first ? '<button data-act="jump">Go to its lifetime</button>' : ""}
    </div>
    ${kind === "vm" || kind === "host" ? `<section class="asset" data-asset-card="${esc(id)}"></section>` : ""}
    ${kind === "image" ? `<section class="image" data-image-card="${esc(id)}"></section>` : ""}
    <h3>Attributes ${v ? "at this instant" : "last recorded"}</h3>
    ${attrsTable(attrs)}
    ${rels ? `<h3>Attached at this instant</h3><ul class="rels">${rels}</ul>` : ""}
    <h3>History</h3>
    <div class="timeline">${timelineSvg(id, history, lo, hi, t)}</div>
    <ul class="changes">${changes || '<li class="muted">No change recorded.</li>'}</ul>
    <h3>Counters</h3>
    ${counters.series.length ? counters.series.map((s) => spark(s, lo, hi, t)).join("") : '<p class="muted">No counter recorded.</p>'}`;
}

// -- a path -----------------------------------------------------------------------------

export function path(el, p) {
  const routes = new Map(p.routes.map((r) => [r.router, r]));
  const hops = p.hops
    .map((h, i) => {
      const r = routes.get(h.entity);
      const broken = !p.reachable && h.entity === p.broken_at;
      const route = r
        ? `<div class="route">route ${esc(r.prefix)} ${r.gateway ? `via ${esc(r.gateway)}` : "connected"} dev ${esc(r.dev)} · metric ${r.metric} · longest of ${r.candidates}</div>`
        : "";
      const via = h.via ? `<span class="via">${esc(h.via)}</span>` : "";
      return `<li class="${h.kind === "router" ? "router" : ""} ${broken ? "broken" : ""}">${link(h.entity, h.label)} ${chip(h.kind)} ${via}
        ${h.group ? `<div class="sub">in ${esc(h.group)}</div>` : ""}${route}</li>`;
    })
    .join("");
  const banner = p.reachable
    ? `<div class="banner ok"><b>Reachable</b> · ${p.hops.length} hops · ${p.routes.length} routed</div>`
    : `<div class="banner bad"><b>No path.</b> ${esc(p.reason)}<br>Last reachable hop: ${p.broken_at ? link(p.broken_at) : "none"}</div>`;
  el.innerHTML = `
    <h2>Path</h2>
    <div class="sub">${link(p.a, endName(p, p.a))} → ${link(p.b, endName(p, p.b))}</div>
    <div class="sub">${esc(p.src_address || "?")} → ${esc(p.dst_address || "?")} at ${fmtTime(ms(p.at), true)}</div>
    ${banner}
    <ol class="hops">${hops}</ol>`;
}
