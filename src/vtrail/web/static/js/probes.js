// The probe series of a triage as small charts: per target and probe, its loss and its
// RTT over the window, a dot per round, the degraded intervals shaded, the onset and
// the instant asked marked. The series come from `/api/counters` (probe results are
// gauge samples on the target), which answers for any entity, so two endpoints asked
// without a service chart the same way.

import { esc } from "./panel.js";
import { fmtTime } from "./timebar.js";

// Metrics charted, with how each is scaled.
const CHARTS = [
  { metric: "probe.loss", title: "loss", max: () => 1, fmt: (v) => `${Math.round(v * 100)} %` },
  { metric: "probe.rtt_ms", title: "rtt", max: (vs) => Math.max(...vs) * 1.15 || 1, fmt: (v) => `${v.toFixed(v < 10 ? 2 : 0)} ms` },
];
const W = 360;
const H = 40;

const ms = (iso) => Date.parse(iso);

// The probe series among an entity's counters, keyed by source.
export function bySource(counters) {
  const out = new Map();
  for (const s of counters.series) {
    if (!CHARTS.some((c) => c.metric === s.metric)) continue;
    if (!out.has(s.source)) out.set(s.source, new Map());
    out.get(s.source).set(s.metric, s.points.map(([t, v]) => [ms(t), v]));
  }
  return out;
}

// One chart of one metric: dots joined by a line, spans shaded, instants marked.
function chart(points, spec, { lo, hi, spans, marks }) {
  const x = (t) => ((Math.min(Math.max(t, lo), hi) - lo) / (hi - lo || 1)) * W;
  const top = spec.max(points.map((p) => p[1]));
  const y = (v) => H - 3 - (Math.min(v, top) / top) * (H - 8);
  const shade = spans.map(([a, b]) => `<rect class="bad" x="${x(a).toFixed(1)}" y="0" width="${Math.max(2, x(b) - x(a)).toFixed(1)}" height="${H}"/>`);
  const lines = marks.map(([t, cls]) => `<line class="${cls}" x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="0" y2="${H}"/>`);
  const line = points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  const dots = points.map(([t, v]) => `<circle cx="${x(t).toFixed(1)}" cy="${y(v).toFixed(1)}" r="1.7" data-t="${t}" data-v="${v}"/>`);
  const last = points.filter(([t]) => t <= hi).pop();
  return `<div class="pchart" data-metric="${esc(spec.metric)}">
    <div class="head"><span>${esc(spec.title)}</span><b>${last ? esc(spec.fmt(last[1])) : "—"}</b></div>
    <svg viewBox="0 0 ${W} ${H}" height="${H}" preserveAspectRatio="none">${shade.join("")}${lines.join("")}
      <polyline points="${line}"/>${dots.join("")}</svg></div>`;
}

// The charts of every target: `found` holds [entity, its counters or the error it got].
// `affected` (the triage's) gives each series its degraded intervals.
export function charts(found, { affected, lo, hi, onset, names }) {
  const marks = [
    [onset, "onset"],
    [hi, "asked"],
  ];
  const blocks = [];
  for (const [entity, counters] of found) {
    const name = names.get(entity) || entity;
    if (counters instanceof Error) {
      blocks.push(`<p class="none">${esc(name)}: ${esc(counters.message)}</p>`);
      continue;
    }
    const sources = bySource(counters);
    if (!sources.size) {
      blocks.push(`<p class="none">No probe results for ${esc(name)} in the window.</p>`);
      continue;
    }
    for (const [source, metrics] of sources) {
      const spans = affected
        .filter((a) => a.entity === entity && a.source === source)
        .map((a) => [ms(a.from), a.to ? ms(a.to) : hi]);
      const drawn = CHARTS.filter((c) => metrics.get(c.metric)?.length).map((c) => chart(metrics.get(c.metric), c, { lo, hi, spans, marks }));
      blocks.push(`<div class="probe" data-entity="${esc(entity)}" data-source="${esc(source)}">
        <div class="p1"><b>${esc(name)}</b> <span class="muted">${esc(source)}</span></div>
        ${drawn.join("")}</div>`);
    }
  }
  const drawn = blocks.some((b) => b.startsWith("<div"));
  const axis = drawn ? `<div class="paxis"><span>${fmtTime(lo)}</span><span>${fmtTime(hi)}</span></div>` : "";
  return blocks.join("") + axis;
}
