// Where each node goes: a deterministic "network diagram" placement, in linear time.
//
// A force layout would move everything on every slider step and takes seconds
// at 2,000 nodes; this one depends only on the structure at T, so a redraw
// moves only what changed (a migrated VM jumps from one host box to another).
//
// Inside a host or namespace box, each bridge is a column: its VM-facing ports
// stand above it as slots (VM, NIC, tap port, stacked), its other ports (veth,
// tunnel, uplink) hang below it. What is on no bridge (a router's interfaces,
// a stopped VM) forms a row underneath. Boxes are packed in shelves: routers
// first, then hosts, then other namespaces; things in no box come last.

const SLOT = 128; // width of one VM slot
const MAXCOLS = 8; // slots per row above a bridge
const ROW = 124; // height of one row of slots
const OTHER = 96; // width of a port hanging below a bridge
const COLGAP = 48; // between bridge columns
const BOXGAP = 70; // between boxes
const PAD = 24; // inside a box, around its members
const TITLE = 30; // a box's title band
const NETBAND = 70; // a router's networks, above its box
const IPSTEP = 19; // between stacked address tags

export const SIZE = {
  vm: [112, 32],
  nic: [14, 14],
  port: [16, 16],
  ip: [84, 17],
  net: [104, 24],
  host: [140, 44],
  router: [120, 44],
  netns: [120, 44],
  other: [80, 24],
};

function push(map, key, value) {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

const collator = new Intl.Collator(undefined, { numeric: true });

export function layout(nodes, edges) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const portsOf = new Map();
  const plugged = new Map();
  const nicsOf = new Map();
  const vmOf = new Map();
  const ipsOf = new Map();
  const routed = new Map();
  const claimed = new Set(); // networks already placed above a router
  for (const e of edges) {
    if (e.rel === "port_of") push(portsOf, e.dst, e.src);
    else if (e.rel === "plugged_into") push(plugged, e.dst, e.src);
    else if (e.rel === "has_nic") {
      push(nicsOf, e.src, e.dst);
      vmOf.set(e.dst, e.src);
    } else if (e.rel === "has_address") push(ipsOf, e.src, e.dst);
    else if (e.rel === "routes") push(routed, e.src, e.dst);
  }
  const label = (id) => (byId.get(id) || { label: id }).label;
  const byLabel = (a, b) => collator.compare(label(a), label(b)) || collator.compare(a, b);
  const members = new Map();
  for (const n of nodes) if (n.group) push(members, n.group, n.id);

  const pos = new Map();
  const widths = new Map();

  function layoutBox(boxId, ids) {
    const inBox = new Set(ids);
    const local = new Map();
    const put = (id, x, y) => {
      if (inBox.has(id) && !local.has(id)) local.set(id, [x, y]);
    };
    const putIps = (owner, x, y, below) => {
      (ipsOf.get(owner) || []).sort(byLabel).forEach((ip, i) => {
        if (below) put(ip, x, y + 34 + i * IPSTEP);
        else put(ip, x + 54, y + i * IPSTEP);
      });
    };
    const putVm = (nic, x, y) => {
      const vm = vmOf.get(nic);
      if (vm && !local.has(vm)) put(vm, x, y);
      put(nic, x, y + 44);
      putIps(nic, x, y + 44, false);
    };
    let x = 0;
    let bottom = 0;
    const bridges = ids.filter((id) => byId.get(id).kind === "bridge").sort(byLabel);
    for (const b of bridges) {
      const slots = [];
      const others = [];
      for (const p of (portsOf.get(b) || []).filter((p) => inBox.has(p))) {
        const nics = (plugged.get(p) || []).filter((n) => byId.has(n));
        if (nics.length) slots.push([p, nics[0]]);
        else others.push(p);
      }
      for (const nic of plugged.get(b) || []) if (byId.has(nic)) slots.push([null, nic]);
      slots.sort((s, t) => byLabel(vmOf.get(s[1]) || s[1], vmOf.get(t[1]) || t[1]));
      others.sort(byLabel);
      const rows = Math.ceil(slots.length / MAXCOLS);
      const width = Math.max(Math.min(slots.length, MAXCOLS) * SLOT, others.length * OTHER, 150);
      slots.forEach(([port, nic], i) => {
        const cx = x + (i % MAXCOLS) * SLOT + SLOT / 2;
        const y = Math.floor(i / MAXCOLS) * ROW;
        putVm(nic, cx, y);
        if (port) put(port, cx, y + 80);
      });
      const barY = rows ? (rows - 1) * ROW + 118 : 0;
      put(b, x + width / 2, barY);
      widths.set(b, width - 12);
      others.forEach((p, i) => {
        const cx = x + i * OTHER + OTHER / 2;
        put(p, cx, barY + 46);
        putIps(p, cx, barY + 46, true);
      });
      const ipRows = Math.max(0, ...others.map((p) => (ipsOf.get(p) || []).length));
      bottom = Math.max(bottom, barY + (others.length ? 60 + ipRows * IPSTEP : 20));
      x += width + COLGAP;
    }
    // What no bridge holds: a router's interfaces, stopped VMs, loose ports.
    // Addresses go with their owner; only orphans are placed on their own.
    const owned = new Set();
    for (const id of ids) for (const ip of ipsOf.get(id) || []) if (inBox.has(id)) owned.add(ip);
    const loose = ids.filter((id) => !local.has(id) && !owned.has(id)).sort(byLabel);
    let lx = 0;
    const ly = bridges.length ? bottom + 70 : 0;
    for (const id of loose) {
      if (local.has(id)) continue;
      const kind = byId.get(id).kind;
      if (kind === "vm") {
        const nics = (nicsOf.get(id) || []).filter((n) => inBox.has(n));
        put(id, lx + SLOT / 2, ly);
        nics.forEach((nic, i) => {
          put(nic, lx + SLOT / 2 + i * 24, ly + 44);
          putIps(nic, lx + SLOT / 2 + i * 24, ly + 44, false);
        });
        lx += SLOT;
      } else if (kind === "port" || kind === "nic") {
        put(id, lx + OTHER / 2, ly);
        putIps(id, lx + OTHER / 2, ly, true);
        lx += OTHER;
      } else {
        put(id, lx + 60, ly);
        lx += 120;
      }
    }
    // A router's routed networks sit in a row above its box, near the edges they end.
    const routers = [boxId, ...ids].filter((id) => byId.has(id) && byId.get(id).kind === "router");
    const nets = [];
    for (const r of routers) {
      for (const net of routed.get(r) || []) {
        if (byId.has(net) && !claimed.has(net)) {
          claimed.add(net);
          nets.push(net);
        }
      }
    }
    const box = normalise(local, byId, widths);
    box.nets = nets.sort(byLabel);
    return box;
  }

  // Boxes: one per group, plus one for everything in none.
  const boxes = [];
  for (const [gid, ids] of members) boxes.push({ gid, ...layoutBox(gid, ids) });
  const free = nodes.filter((n) => !n.group && !members.has(n.id) && !claimed.has(n.id)).map((n) => n.id);
  const rank = (gid) => {
    if (gid === null) return 0;
    if (gid.startsWith("router:")) return 1;
    if (gid.startsWith("host:")) return 2;
    return 3;
  };
  boxes.sort((a, b) => rank(a.gid) - rank(b.gid) || collator.compare(a.gid, b.gid));
  if (free.length) boxes.push({ gid: null, ...gridBox(free.sort(byLabel), byId) });

  // Shelf packing. A box is drawn PAD around its members with a TITLE band on top;
  // a router's networks stand in a band above that.
  const outer = (b) => {
    const top = PAD + TITLE + (b.nets && b.nets.length ? NETBAND : 0);
    return { w: Math.max(b.w, (b.nets || []).length * 130) + 2 * PAD, h: b.h + top + PAD, top };
  };
  const area = boxes.reduce((s, b) => s + (outer(b).w + BOXGAP) * (outer(b).h + BOXGAP), 0);
  const shelf = Math.max(1800, Math.sqrt(area) * 1.4);
  const rects = new Map();
  let sx = 0;
  let sy = 0;
  let rowH = 0;
  let lastRank = null;
  for (const box of boxes) {
    const r = rank(box.gid);
    const o = outer(box);
    if ((sx > 0 && sx + o.w > shelf) || (lastRank !== null && r !== lastRank && sx > 0)) {
      sy += rowH + BOXGAP;
      sx = 0;
      rowH = 0;
    }
    lastRank = r;
    // Members' local (0, 0) is the top-left of what they cover.
    const ox = sx + PAD;
    const oy = sy + o.top;
    for (const [id, [lx, ly]] of box.local) pos.set(id, { x: ox + lx, y: oy + ly });
    (box.nets || []).forEach((net, i) => pos.set(net, { x: ox + i * 130 + 65, y: sy + 24 }));
    if (box.gid !== null) {
      const netBand = o.top - PAD - TITLE;
      const h = o.h - netBand;
      rects.set(box.gid, { x: sx + o.w / 2, y: sy + netBand + h / 2, w: o.w, h });
    }
    sx += o.w + BOXGAP;
    rowH = Math.max(rowH, o.h);
  }
  return { pos, widths, rects };
}

function sizeOf(node, widths) {
  if (node.kind === "bridge") return [widths.get(node.id) || 150, 18];
  return SIZE[node.kind] || SIZE.other;
}

function normalise(local, byId, widths) {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const [id, [x, y]] of local) {
    const [w, h] = sizeOf(byId.get(id), widths);
    minX = Math.min(minX, x - w / 2);
    maxX = Math.max(maxX, x + w / 2);
    minY = Math.min(minY, y - h / 2);
    maxY = Math.max(maxY, y + h / 2);
  }
  if (!local.size) return { local, w: SIZE.host[0], h: SIZE.host[1] };
  const out = new Map();
  for (const [id, [x, y]] of local) out.set(id, [x - minX, y - minY]);
  return { local: out, w: maxX - minX, h: maxY - minY };
}

function gridBox(ids, byId) {
  const cols = Math.max(4, Math.ceil(Math.sqrt(ids.length)));
  const local = new Map();
  ids.forEach((id, i) => local.set(id, [(i % cols) * 140 + 70, Math.floor(i / cols) * 60]));
  return normalise(local, byId, new Map());
}
