// The drawing: Cytoscape.js with a style per kind, updated in place as time moves.

import * as images from "./images.js";
import { layout, SIZE } from "./layout.js";

const C = {
  ink: "#0f172a",
  muted: "#64748b",
  line: "#94a3b8",
  vm: "#dbeafe",
  vmLine: "#2563eb",
  bridge: "#bbf7d0",
  bridgeLine: "#15803d",
  router: "#fef3c7",
  routerLine: "#b45309",
  peer: "#ea580c",
  ghost: "#7c3aed",
  path: "#e11d48",
};

const STYLE = [
  {
    selector: "node",
    style: {
      "font-family": "Inter, system-ui, -apple-system, Segoe UI, Roboto, sans-serif",
      "font-size": 11,
      color: C.ink,
      label: "data(label)",
      "min-zoomed-font-size": 7,
      "text-valign": "center",
      "text-halign": "center",
      "border-width": 1,
      "border-color": C.line,
      "background-color": "#ffffff",
      width: "data(w)",
      height: "data(h)",
      "z-index-compare": "manual",
      "z-index": 10,
    },
  },
  {
    selector: "node[?box]",
    style: {
      shape: "round-rectangle",
      "background-color": "#f8fafc",
      "border-color": "#cbd5e1",
      "border-width": 1.5,
      "text-valign": "top",
      "text-halign": "center",
      "text-margin-y": 26,
      "font-size": "data(title)",
      "font-weight": 700,
      color: "#334155",
      "min-zoomed-font-size": 3,
      "z-index": 0,
      label: "data(boxLabel)",
    },
  },
  {
    selector: "node[kind = 'host'][!box]",
    style: { shape: "round-rectangle", "background-color": "#f1f5f9", "font-weight": 700 },
  },
  {
    selector: "node[kind = 'router'][!box]",
    style: {
      shape: "round-octagon",
      "background-color": C.router,
      "border-color": C.routerLine,
      "border-width": 1.5,
      "font-weight": 700,
    },
  },
  {
    selector: "node[kind = 'router'][?box]",
    style: { "background-color": "#fffbeb", "border-color": "#f59e0b" },
  },
  {
    selector: "node[kind = 'netns'][?box]",
    style: { "border-style": "dashed", "background-color": "#fafafa" },
  },
  {
    selector: "node[kind = 'vm']",
    style: {
      shape: "round-rectangle",
      "background-color": C.vm,
      "border-color": C.vmLine,
      "border-width": 1.5,
      "font-weight": 600,
      "text-max-width": 104,
      "text-wrap": "ellipsis",
    },
  },
  { selector: "node[kind = 'vm'][state != 'running']", style: { "background-color": "#e2e8f0" } },
  { selector: "node[kind = 'image']", style: { shape: "barrel", "background-color": "#f5f3ff", "border-width": 2, "border-color": "#16a34a" } },
  { selector: "node[kind = 'image'][imageStatus = 'flagged']", style: { "border-color": "#d97706" } },
  { selector: "node[kind = 'image'][imageStatus = 'insecure']", style: { "border-color": "#dc2626", "background-color": "#fee2e2" } },
  {
    selector: "node[kind = 'nic']",
    style: {
      shape: "ellipse",
      "background-color": "#ffffff",
      "border-color": C.vmLine,
      label: "",
    },
  },
  {
    selector: "node[kind = 'port']",
    style: {
      shape: "round-rectangle",
      "background-color": "#e2e8f0",
      "border-color": "#475569",
      "font-size": 9,
      "text-valign": "bottom",
      "text-margin-y": 3,
      color: C.muted,
    },
  },
  {
    selector: "node[kind = 'bridge']",
    style: {
      shape: "round-rectangle",
      "background-color": C.bridge,
      "border-color": C.bridgeLine,
      "border-width": 1.5,
      "font-size": 10,
      "font-weight": 700,
      color: "#14532d",
    },
  },
  {
    selector: "node[kind = 'ip']",
    style: {
      shape: "round-tag",
      "font-size": 9,
      "font-family": "ui-monospace, JetBrains Mono, Menlo, monospace",
      "background-color": "#ffffff",
      "border-color": "#cbd5e1",
      color: "#334155",
    },
  },
  {
    selector: "node[kind = 'net']",
    style: {
      shape: "cut-rectangle",
      "background-color": "#f3e8ff",
      "border-color": "#9333ea",
      "font-size": 10,
      "font-family": "ui-monospace, Menlo, monospace",
    },
  },
  // Coloured by service or domain (policy.js): the group's tone outlines, its tint fills.
  {
    selector: "node[?tone]",
    style: { "border-color": "data(tone)", "border-width": 3, "background-color": "data(tint)" },
  },
  { selector: "node[?tone][?box]", style: { "border-width": 4 } },
  {
    selector: "node.ghost",
    style: {
      "border-style": "dashed",
      "border-color": C.ghost,
      "border-width": 2.5,
      "background-color": "#ede9fe",
      color: "#5b21b6",
    },
  },
  {
    selector: "node.ghost[kind != 'ip']",
    style: { label: "data(ghostLabel)" },
  },
  {
    selector: "node:selected",
    style: {
      "underlay-color": "#2563eb",
      "underlay-opacity": 0.22,
      "underlay-padding": 7,
      "underlay-shape": "round-rectangle",
      "overlay-opacity": 0,
    },
  },
  {
    selector: "node.hit",
    style: { "underlay-color": "#f59e0b", "underlay-opacity": 0.45, "underlay-padding": 12 },
  },
  {
    selector: "edge",
    style: {
      width: 1.2,
      "line-color": C.line,
      // Haystack edges are the cheapest Cytoscape draws; arrows are not needed here.
      "curve-style": "haystack",
      "z-index-compare": "manual",
      "z-index": 5,
      "haystack-radius": 0,
      "target-arrow-shape": "none",
      opacity: 0.9,
    },
  },
  { selector: "edge[rel = 'runs_on']", style: { display: "none" } },
  // Membership is shown by colour (by service, by domain), not by an edge to every member.
  { selector: "edge[rel = 'member_of'], edge[rel = 'in_domain']", style: { display: "none" } },
  {
    selector: "edge[rel = 'peer']",
    style: {
      "line-color": C.peer,
      "line-style": "dashed",
      "line-dash-pattern": [6, 3],
      width: 2,
      "curve-style": "unbundled-bezier",
      "control-point-distances": 40,
      "control-point-weights": 0.5,
    },
  },
  { selector: "edge[rel = 'port_of']", style: { "line-color": C.bridgeLine, width: 1.4 } },
  {
    selector: "edge[drop]",
    style: { "curve-style": "straight", "target-endpoint": "data(drop)" },
  },
  {
    selector: "edge[rel = 'has_address']",
    style: { "line-style": "dotted", "line-color": "#cbd5e1", width: 1 },
  },
  {
    selector: "edge[rel = 'routes']",
    style: {
      "line-color": "#c084fc",
      width: 1,
      "curve-style": "bezier",
      "target-arrow-shape": "triangle",
      "target-arrow-color": "#c084fc",
      "arrow-scale": 0.6,
    },
  },
  { selector: ".dim", style: { opacity: 0.16 } },
  {
    selector: "node.onpath",
    style: {
      "border-color": C.path,
      "border-width": 3,
      "z-index": 25,
      opacity: 1,
    },
  },
  {
    selector: "node.onpath[?box]",
    style: { "border-width": 2.5, "border-color": C.path, "z-index": 0 },
  },
  {
    selector: "node[?box]:selected",
    style: { "underlay-opacity": 0, "border-color": "#2563eb", "border-width": 2.5 },
  },
  {
    selector: "edge.onpath",
    style: {
      "line-color": C.path,
      "line-style": "solid",
      width: 4,
      opacity: 1,
      "z-index": 20,
      "target-arrow-shape": "none",
    },
  },
  {
    selector: "node.breakpoint",
    style: {
      "border-color": "#dc2626",
      "border-width": 4,
      "overlay-color": "#dc2626",
      "overlay-opacity": 0.2,
      "overlay-padding": 8,
    },
  },
];

function boxLabel(n) {
  const what = n.kind === "netns" ? "namespace" : n.kind;
  return `${n.label}  ·  ${what}`;
}

export class Graph {
  constructor(container) {
    this.cy = cytoscape({
      container,
      style: STYLE,
      elements: [],
      minZoom: 0.03,
      maxZoom: 3,
      textureOnViewport: true,
      hideEdgesOnViewport: true,
      boxSelectionEnabled: false,
      selectionType: "single",
      autoungrabify: true, // positions come from the layout; dragging would only mislead
    });
    this.ghosts = new Set();
    this.hues = new Map();
    this.autoFit = true;
    for (const ev of ["wheel", "mousedown", "touchstart"]) {
      container.addEventListener(ev, () => (this.autoFit = false), { passive: true });
    }
  }

  fit() {
    this.autoFit = true;
    this.cy.fit(undefined, 40);
  }

  // Bring the drawing to `topo` (the /api/topology answer): remove what is gone, add
  // what appeared, and move what moved. One batch, one paint.
  //
  // Host and namespace boxes are plain nodes drawn under their members, not Cytoscape
  // compound parents: compounds make every move re-measure the parent and re-sort by
  // depth, which at 2,000 nodes costs more than the whole redraw may take.
  apply(topo) {
    const cy = this.cy;
    const groups = new Set(topo.nodes.map((n) => n.group).filter(Boolean));
    // An inventory's facts are an entity of their own (asset:<id>), shown on the panel's
    // asset card rather than as a node beside what it describes.
    const nodes = topo.nodes.filter((n) => n.kind !== "asset");
    const known = new Set(nodes.map((n) => n.id));
    for (const g of groups) {
      if (!known.has(g)) nodes.push({ id: g, kind: "netns", label: g.split(":")[1], group: null });
    }
    const ids = new Set(nodes.map((n) => n.id));
    const edges = topo.edges.filter((e) => ids.has(e.src) && ids.has(e.dst));
    const { pos, widths, rects } = layout(nodes, edges);
    // Box titles grow with the whole drawing, so they stay legible when it is fitted.
    let extent = 0;
    for (const r of rects.values()) extent = Math.max(extent, r.x + r.w / 2);
    const title = Math.round(Math.max(15, Math.min(48, extent / 80)));
    const wanted = new Map();
    for (const n of nodes) {
      const rect = rects.get(n.id);
      let [w, h] = n.kind === "bridge" ? [widths.get(n.id) || 150, 18] : SIZE[n.kind] || SIZE.other;
      if (rect) [w, h] = [rect.w, rect.h];
      wanted.set(n.id, {
        group: "nodes",
        data: {
          id: n.id,
          kind: n.kind,
          label: n.kind === "image" ? images.label(n) : n.label,
          ghostLabel: `${n.label} · ghost`,
          imageStatus: n.kind === "image" ? images.status(n.attrs, topo.at) : null,
          boxLabel: boxLabel(n),
          box: Boolean(rect),
          title,
          group: n.group || null,
          state: (n.attrs && n.attrs.state) || "running",
          ...this.hueOf(n.id),
          w,
          h,
        },
        position: rect ? { x: rect.x, y: rect.y } : pos.get(n.id) || { x: 0, y: 0 },
        classes: this.ghosts.has(n.id) ? "ghost" : "",
      });
    }
    for (const e of edges) {
      const id = `${e.src}|${e.rel}|${e.dst}`;
      const data = { id, source: e.src, target: e.dst, rel: e.rel };
      const a = pos.get(e.src);
      const b = pos.get(e.dst);
      if (e.rel === "port_of" && a && b && wanted.get(e.dst).data.kind === "bridge") {
        // A port drops straight onto its bridge's bar, as in a network diagram.
        const half = wanted.get(e.dst).data.w / 2 - 4;
        const dx = Math.max(-half, Math.min(half, a.x - b.x));
        data.drop = `${dx.toFixed(0)}px ${a.y < b.y ? -9 : 9}px`;
      }
      wanted.set(id, { group: "edges", data });
    }
    cy.batch(() => {
      cy.elements().forEach((ele) => {
        if (!wanted.has(ele.id())) ele.remove();
      });
      const add = [];
      for (const [id, el] of wanted) {
        const ele = cy.getElementById(id);
        if (!ele.length || ele.removed()) {
          add.push(el);
          continue;
        }
        if (el.group !== "nodes") continue;
        // Touch only what changed: every data or position write makes Cytoscape redo
        // that element's style, bounds and edges, and a slider step changes little.
        const changed = {};
        let dirty = false;
        for (const key of DATA_KEYS) {
          if (ele.data(key) !== el.data[key]) {
            changed[key] = el.data[key];
            dirty = true;
          }
        }
        if (dirty) ele.data(changed);
        if (ele.hasClass("ghost") !== (el.classes === "ghost")) ele.classes(el.classes);
        const p = ele.position();
        if (Math.abs(p.x - el.position.x) > 0.5 || Math.abs(p.y - el.position.y) > 0.5) {
          ele.position(el.position);
        }
      }
      // Nodes before the edges that join them.
      add.sort((a, b) => (a.group === "edges") - (b.group === "edges"));
      cy.add(add);
    });
    // Keep the whole fabric in view until the person pans or zooms themselves.
    if (this.autoFit && cy.nodes().length) {
      cy.resize(); // the container may have been laid out after Cytoscape measured it
      cy.fit(undefined, 40);
    }
  }

  // Colour the nodes of `hues` (id -> {tone, tint}); every other node as its kind is.
  colour(hues) {
    this.hues = hues;
    this.cy.batch(() => {
      this.cy.nodes().forEach((n) => {
        const want = this.hueOf(n.id());
        if (n.data("tone") !== want.tone || n.data("tint") !== want.tint) n.data(want);
      });
    });
  }

  hueOf(id) {
    const h = this.hues.get(id);
    return h ? { tone: h.tone, tint: h.tint } : { tone: "", tint: "" };
  }

  setGhosts(ids) {
    this.ghosts = new Set(ids);
    this.cy.batch(() => {
      this.cy.nodes().forEach((n) => n.toggleClass("ghost", this.ghosts.has(n.id())));
    });
  }

  // Light up the hops of a path (consecutive hops are joined by a recorded edge, or by
  // a namespace/route step, which is drawn as the edge into or out of the router box).
  highlight(hops, brokenAt) {
    const cy = this.cy;
    cy.batch(() => {
      cy.elements().removeClass("onpath dim breakpoint");
      if (!hops || !hops.length) return;
      const onpath = cy.collection();
      for (let i = 0; i < hops.length; i++) {
        const n = cy.getElementById(hops[i].entity);
        if (n.length) onpath.merge(n);
        if (i > 0) {
          const a = cy.getElementById(hops[i - 1].entity);
          if (n.length && a.length) onpath.merge(a.edgesWith(n));
        }
      }
      cy.elements().not(onpath).not("node[?box]").addClass("dim");
      onpath.addClass("onpath");
      if (brokenAt) cy.getElementById(brokenAt).addClass("breakpoint");
    });
  }

  focus(id) {
    const n = this.cy.getElementById(id);
    if (!n.length) return false;
    this.cy.elements().unselect();
    n.select();
    this.autoFit = false;
    this.cy.animate({ center: { eles: n }, zoom: Math.max(this.cy.zoom(), 0.9) }, { duration: 250 });
    n.flashClass("hit", 1200);
    return true;
  }
}

const DATA_KEYS = [
  "kind",
  "label",
  "imageStatus",
  "ghostLabel",
  "boxLabel",
  "box",
  "title",
  "group",
  "state",
  "tone",
  "tint",
  "w",
  "h",
];
