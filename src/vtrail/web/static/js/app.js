// The page: the fabric at T, a slider to move T, a panel for what is picked, the rules
// of the policy at T above it.
//
// State lives here and in the URL (`#at=…&sel=…&path=a,b&colour=services&triage=db@T`),
// so a view can be shared. The triage view is its own module (triage.js).
// Moving the slider coalesces: while one redraw is in flight, only the latest position
// is kept and drawn next, so dragging never queues up stale frames.

import { get, idPath, onTokenNeeded, setToken } from "./api.js";
import { Graph } from "./graph.js";
import * as assetCard from "./assetcard.js";
import * as imageCard from "./images.js";
import * as panel from "./panel.js";
import * as policy from "./policy.js";
import { searchBox } from "./search.js";
import { fmtTime, isoOf, TimeBar } from "./timebar.js";
import { Triage } from "./triage.js";

const $ = (id) => document.getElementById(id);

const state = {
  first: null,
  last: null,
  lo: null,
  hi: null,
  t: null,
  topo: null,
  ghosts: [],
  selected: null,
  path: null,
  pathAnswer: null,
  check: null, // `/api/check` at T, or the error it answered
  band: null, // the request of the slider's band, resolved once it is drawn
  colourBy: "", // "", "services" or "domains"
};

const perf = { redraws: [], last: null };
const graph = new Graph($("cy"));
const bar = new TimeBar({
  slider: $("slider"),
  canvas: $("ticks"),
  axis: $("axis"),
  onInput: (ms, started) => moveTo(ms, started),
});

const triage = new Triage($("triage"), {
  instant: () => state.t,
  selected: () => state.selected,
  check: () => state.check,
  names: () => (state.topo ? state.topo.nodes : []).map((n) => [n.id, n.label]),
  entity: (id) => showEntity(id),
  trace: (a, b) => tracePath(a, b),
  // A suspect: the slider to its instant, then it is picked there.
  suspect: (id, ms) => {
    state.selected = id;
    bar.set(ms);
    return moveTo(bar.value()).then(() => showEntity(id));
  },
  changed: () => {
    graph.cy.resize();
    writeUrl();
  },
});

// -- redraws ----------------------------------------------------------------------

let inflight = null;
let pending = null;

function moveTo(ms, started = performance.now()) {
  state.t = ms;
  showClock();
  pending = started;
  if (!inflight) inflight = drain();
  return inflight;
}

async function drain() {
  try {
    while (pending !== null) {
      const started = pending;
      pending = null;
      await redraw(started);
    }
  } finally {
    inflight = null;
  }
}

async function redraw(started) {
  busy(true);
  try {
    const at = isoOf(state.t);
    const drawing = Promise.all([
      get("/api/topology", { at }),
      state.path ? get("/api/path", { a: state.path.a, b: state.path.b, at }).catch((e) => e) : null,
    ]);
    // Asked beside the drawing, shown once it is painted: the redraw's time is the drawing's.
    const checking = get("/api/check", { at }).catch((e) => e);
    const [topo, path] = await drawing;
    state.topo = topo;
    graph.apply(topo);
    if (path) showPath(path);
    else graph.highlight(null);
    await nextPaint();
    perf.last = performance.now() - started;
    perf.redraws.push(perf.last);
    status();
    writeUrl();
    if (state.selected) showEntity(state.selected, false);
    else if (!state.path) showOverview();
    showRules(at, await checking);
  } catch (e) {
    toast(e.message, true);
  } finally {
    busy(false);
  }
}

function nextPaint() {
  return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
}

// -- window, ticks and ghosts ------------------------------------------------------

async function setWindow(seconds) {
  const span = state.last - state.first;
  let lo = state.first;
  let hi = state.last;
  if (seconds !== "all" && Number(seconds) * 1000 < span) {
    const w = Number(seconds) * 1000;
    lo = Math.max(state.first, state.t - w / 2);
    hi = Math.min(state.last, lo + w);
    lo = Math.max(state.first, hi - w);
  }
  state.lo = lo;
  state.hi = hi;
  const buckets = Math.max(60, Math.min(600, Math.floor($("ticks").clientWidth / 3)));
  const [tl, found] = await Promise.all([
    get("/api/timeline", { from: isoOf(lo), to: isoOf(hi), buckets }),
    get("/api/ghosts", { from: isoOf(lo), to: isoOf(hi) }),
  ]);
  const ghosts = found.ghosts;
  state.ghosts = ghosts;
  bar.setWindow(lo, hi, tl.changes);
  bar.setGhosts(ghosts.map((g) => [Date.parse(g.first_seen), Date.parse(g.ended || g.last_seen)]));
  bar.set(state.t);
  graph.setGhosts(ghosts.map((g) => g.entity));
  state.band = showBand(lo, hi);
}

// The violations over the window, as the slider's band. Not awaited: a long window's
// check may take seconds, and the page is usable meanwhile.
let bandToken = 0;
async function showBand(lo, hi) {
  const mine = ++bandToken;
  let spans = [];
  try {
    spans = policy.spans(await get("/api/check", { from: isoOf(lo), to: isoOf(hi) }), hi);
  } catch (e) {
    if (e.status !== 404) toast(e.message, true); // 404: no policy in force, no band
  }
  if (mine === bandToken) bar.setViolations(spans);
}

function windowText() {
  return `${fmtTime(state.lo, true)} – ${fmtTime(state.hi, true)}`;
}

// -- the policy: rules at T, colours ---------------------------------------------------

function showRules(at, found) {
  state.check = found;
  const error = found instanceof Error ? found : null;
  const names = new Map((state.topo ? state.topo.nodes : []).map((n) => [n.id, n.label]));
  policy.rules($("rules"), { at, answer: found, error, names });
  showColours();
}

function showColours() {
  const found = state.check;
  const error = found instanceof Error ? found.message : null;
  const { hues, legend } = policy.colouring(error ? null : found, state.colourBy);
  graph.colour(hues);
  policy.legend($("groups"), state.colourBy, legend, error && state.colourBy ? "no policy at this instant" : null);
}

$("colour-by").addEventListener("change", () => {
  state.colourBy = $("colour-by").value;
  showColours();
  writeUrl();
});

$("rules").addEventListener("click", (ev) => {
  const ent = ev.target.closest("[data-ent]");
  if (ent) showEntity(ent.dataset.ent);
});

// -- the panel ------------------------------------------------------------------------

function showOverview() {
  panel.overview($("panel"), { at: isoOf(state.t), topo: state.topo, ghosts: state.ghosts, windowText: windowText() });
}

let entityToken = 0;
async function showEntity(id, focus = true) {
  state.selected = id;
  const mine = ++entityToken;
  const at = isoOf(state.t);
  try {
    const [show, history, counters] = await Promise.all([
      get(`/api/show/${idPath(id)}`, { at }),
      get(`/api/history/${idPath(id)}`),
      get(`/api/counters/${idPath(id)}`, { from: isoOf(state.lo), to: isoOf(state.hi) }),
    ]);
    if (mine !== entityToken) return;
    const ghost = state.ghosts.some((g) => g.entity === id);
    panel.entity($("panel"), { id: show.entity, at, show, history, counters, ghost, lo: state.lo, hi: state.hi });
    assetCard.fill($("panel"), show.entity, at, () => mine === entityToken);
    imageCard.fill($("panel"), show.entity, at, isoOf(state.lo), isoOf(state.hi), () => mine === entityToken);
    if (focus && !graph.focus(show.entity)) toast(`${show.entity} is not in the fabric at this instant`);
    writeUrl();
  } catch (e) {
    toast(e.message, true);
  }
}

function showPath(p) {
  if (p instanceof Error) {
    toast(p.message, true);
    state.path = null;
    graph.highlight(null);
    $("path-clear").hidden = true;
    return;
  }
  state.pathAnswer = p;
  graph.highlight(p.hops, p.reachable ? null : p.broken_at);
  if (!state.selected) panel.path($("panel"), p);
}

async function tracePath(a, b) {
  state.path = { a, b };
  state.selected = null;
  $("path-a").value = a;
  $("path-b").value = b;
  $("path-clear").hidden = false;
  try {
    const p = await get("/api/path", { a, b, at: isoOf(state.t) });
    showPath(p);
  } catch (e) {
    showPath(e);
  }
  writeUrl();
}

function clearPath() {
  state.path = null;
  state.pathAnswer = null;
  $("path-clear").hidden = true;
  graph.highlight(null);
  showOverview();
  writeUrl();
}

$("panel").addEventListener("click", (ev) => {
  const ent = ev.target.closest("[data-ent]");
  if (ent) return void showEntity(ent.dataset.ent);
  const ghost = ev.target.closest("[data-ghost]");
  if (ghost) {
    const a = Date.parse(ghost.dataset.from);
    const b = ghost.dataset.to ? Date.parse(ghost.dataset.to) : state.hi;
    bar.set((a + b) / 2);
    state.selected = ghost.dataset.ghost;
    return void moveTo(bar.value());
  }
  const act = ev.target.closest("[data-act]");
  if (!act || !state.selected) return;
  if (act.dataset.act === "from") $("path-a").value = state.selected;
  if (act.dataset.act === "to") $("path-b").value = state.selected;
  if (act.dataset.act === "triage") return void triage.open(state.selected);
  if (act.dataset.act === "jump") {
    get(`/api/lifetime/${idPath(state.selected)}`).then((l) => {
      const end = l.ended ? Date.parse(l.ended) : state.last;
      bar.set((Date.parse(l.first_seen) + end) / 2);
      moveTo(bar.value());
    });
  }
  if ($("path-a").value && $("path-b").value) tracePath($("path-a").value, $("path-b").value);
});

graph.cy.on("tap", "node", (ev) => {
  const id = ev.target.id();
  if (id.startsWith("netns:")) return;
  showEntity(id, false);
});
graph.cy.on("tap", (ev) => {
  if (ev.target !== graph.cy) return;
  state.selected = null;
  if (state.pathAnswer && state.path) panel.path($("panel"), state.pathAnswer);
  else showOverview();
  writeUrl();
});

// -- search ---------------------------------------------------------------------------

searchBox($("search"), $("search-results"), { pick, failed: (e) => toast(e.message, true) });

function pick(id) {
  $("search-results").hidden = true;
  $("search").value = "";
  showEntity(id, true);
}

// -- controls -----------------------------------------------------------------------

$("path-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const a = $("path-a").value.trim();
  const b = $("path-b").value.trim();
  if (a && b) tracePath(a, b);
  else toast("Give both ends of the path: a VM, NIC, MAC, IP or namespace");
});
$("path-clear").addEventListener("click", clearPath);
$("prev-change").addEventListener("click", () => step(-1));
$("next-change").addEventListener("click", () => step(1));
$("latest").addEventListener("click", () => {
  bar.set(state.hi);
  moveTo(bar.value());
});
$("fit").addEventListener("click", () => graph.fit());
$("window-select").addEventListener("change", async () => {
  await setWindow($("window-select").value);
  moveTo(bar.value());
});

function step(dir) {
  bar.set(bar.step(bar.value(), dir));
  moveTo(bar.value());
}

document.addEventListener("keydown", (ev) => {
  if (ev.target.closest("input, select, textarea")) return;
  if (ev.key === "/") {
    $("search").focus();
    ev.preventDefault();
  } else if (ev.key === "ArrowLeft") step(-1);
  else if (ev.key === "ArrowRight") step(1);
  else if (ev.key === "End") $("latest").click();
  else if (ev.key === "f" || ev.key === "F") graph.fit();
  else if (ev.key === "Escape") clearPath();
});

// -- chrome ---------------------------------------------------------------------------

function showClock() {
  $("clock-time").textContent = `${fmtTime(state.t, true)} UTC`;
  const ago = state.last - state.t;
  $("clock-rel").textContent = ago <= 0 ? "latest recorded instant" : `${human(ago)} before the latest record`;
}

function human(msec) {
  const s = Math.round(msec / 1000);
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${Math.round(s / 86400)} days`;
}

function status() {
  const n = state.topo ? state.topo.nodes.length : 0;
  const e = state.topo ? state.topo.counts.edges : 0;
  $("status").innerHTML = `${n.toLocaleString()} entities · ${e.toLocaleString()} relations<br>redrawn in ${Math.round(perf.last)} ms`;
}

let busyCount = 0;
function busy(on) {
  busyCount += on ? 1 : -1;
  $("busy").hidden = busyCount <= 0;
}

let toastTimer = null;
function toast(text, bad = false) {
  const t = $("toast");
  t.textContent = text;
  t.className = bad ? "bad" : "";
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), 4000);
}

function writeUrl() {
  const p = new URLSearchParams();
  p.set("at", isoOf(state.t));
  if (state.selected) p.set("sel", state.selected);
  if (state.path) p.set("path", `${state.path.a},${state.path.b}`);
  if (state.colourBy) p.set("colour", state.colourBy);
  if (triage.param()) p.set("triage", triage.param());
  history.replaceState(null, "", `#${p}`);
}

onTokenNeeded(
  (why) =>
    new Promise((resolve) => {
      const d = $("token-dialog");
      $("token-why").textContent = why;
      d.addEventListener(
        "close",
        () => {
          setToken($("token-input").value.trim());
          resolve();
        },
        { once: true },
      );
      if (!d.open) d.showModal();
    }),
);

// -- start ----------------------------------------------------------------------------

async function start() {
  const tl = await get("/api/timeline", { buckets: 2 });
  if (!tl.first) {
    $("empty").hidden = false;
    return;
  }
  state.first = Date.parse(tl.first);
  state.last = Math.max(Date.parse(tl.last), state.first + 1000);
  const url = new URLSearchParams(window.location.hash.slice(1));
  // A "+" in a hand-written link arrives as a space: put the zone's sign back.
  const at = url.get("at") ? Date.parse(url.get("at").replace(" ", "+")) : NaN;
  state.t = Number.isNaN(at) ? state.last : Math.min(state.last, Math.max(state.first, at));
  await setWindow("all");
  bar.set(state.t);
  const sel = url.get("sel");
  const path = url.get("path");
  const colour = url.get("colour");
  if (colour === "services" || colour === "domains") {
    state.colourBy = colour;
    $("colour-by").value = colour;
  }
  if (path && path.includes(",")) {
    const [a, b] = path.split(",");
    state.path = { a, b };
    $("path-a").value = a;
    $("path-b").value = b;
    $("path-clear").hidden = false;
  }
  await moveTo(state.t);
  if (sel) await showEntity(sel, true);
  if (url.get("triage")) await triage.restore(url.get("triage"));
}

// For tests and benchmarks: the graph, the time bar, the state, and redraw timings.
window.vtrail = {
  graph,
  bar,
  state,
  triage,
  perf,
  moveTo: (iso) => {
    bar.set(Date.parse(iso));
    return moveTo(bar.value());
  },
  ready: start().catch((e) => toast(e.message, true)),
};
