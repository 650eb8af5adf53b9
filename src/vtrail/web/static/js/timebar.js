// The time slider: a range input over the visible window, with the changes drawn under
// it as ticks (one bar per slice, height by the number of versions and relations that
// began or ended in it), ghost lifetimes as violet bands, and the policy's violations
// as a red band just above the track.

export function fmtTime(ms, withDate) {
  const d = new Date(ms);
  const iso = d.toISOString();
  return withDate ? `${iso.slice(0, 10)} ${iso.slice(11, 19)}` : iso.slice(11, 19);
}

export function isoOf(ms) {
  return new Date(ms).toISOString();
}

// Where the violations' band lies in the canvas: under the ticks, above the track.
export const BAND_TOP = 23;
export const BAND_HEIGHT = 5;
const VIOLATION = "rgba(220, 38, 38, 0.45)";

export class TimeBar {
  constructor({ slider, canvas, axis, onInput }) {
    this.slider = slider;
    this.canvas = canvas;
    this.axis = axis;
    this.lo = 0;
    this.hi = 1;
    this.counts = [];
    this.ghosts = [];
    this.violations = [];
    slider.addEventListener("input", () => onInput(this.value(), performance.now()));
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  setWindow(lo, hi, counts) {
    this.lo = lo;
    this.hi = Math.max(hi, lo + 1000);
    this.counts = counts || [];
    this.slider.min = String(this.lo);
    this.slider.max = String(this.hi);
    // Seconds are the finest step a person drags to; arrows step by a slice.
    this.slider.step = "1000";
    this.draw();
  }

  setGhosts(spans) {
    this.ghosts = spans;
    this.draw();
  }

  // [from, to] spans in ms, each a rule's violation; one still open ends at the window's end.
  setViolations(spans) {
    this.violations = spans;
    this.draw();
  }

  value() {
    return Number(this.slider.value);
  }

  set(ms) {
    this.slider.value = String(Math.min(this.hi, Math.max(this.lo, ms)));
  }

  // The end of the next (or previous) slice with a change: at that instant the change
  // has happened, so the drawing shows it.
  step(ms, dir) {
    const n = this.counts.length;
    if (!n) return ms;
    const width = (this.hi - this.lo) / n;
    const at = Math.floor((ms - this.lo) / width);
    if (dir > 0) {
      for (let i = Math.max(0, at + 1); i < n; i++) {
        if (this.counts[i]) return Math.min(this.hi, this.lo + (i + 1) * width);
      }
      return this.hi;
    }
    for (let i = Math.min(n - 1, at - 1); i >= 0; i--) {
      if (this.counts[i] && this.lo + (i + 1) * width < ms - 1) {
        return this.lo + (i + 1) * width;
      }
    }
    return this.lo;
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const h = c.clientHeight;
    if (!w || !h) return;
    c.width = w * dpr;
    c.height = h * dpr;
    const g = c.getContext("2d");
    g.scale(dpr, dpr);
    g.clearRect(0, 0, w, h);
    const span = this.hi - this.lo;
    const x = (ms) => ((ms - this.lo) / span) * (w - 16) + 8; // the thumb's travel
    // Ghost lifetimes: thin violet lines in a few lanes, so that many stay readable.
    g.fillStyle = "rgba(124, 58, 237, 0.4)";
    this.ghosts.forEach(([a, b], i) => {
      const x0 = x(Math.max(a, this.lo));
      const x1 = x(Math.min(b, this.hi));
      if (x1 >= x0) g.fillRect(x0, 1 + (i % 5) * 3, Math.max(2, x1 - x0), 2);
    });
    // Violations: one red band, deeper where several overlap; a violation of a few
    // seconds still gets a sliver, so that it can be found and dragged onto.
    g.fillStyle = VIOLATION;
    for (const [a, b] of this.violations) {
      if (b < this.lo || a > this.hi) continue;
      // Whole pixels: a sliver's antialiased edges would leave it fainter than the rest.
      const x0 = Math.floor(x(Math.max(a, this.lo)));
      const x1 = Math.ceil(x(Math.min(b, this.hi)));
      g.fillRect(x0, BAND_TOP, Math.max(3, x1 - x0), BAND_HEIGHT);
    }
    const n = this.counts.length;
    const max = Math.max(1, ...this.counts);
    g.fillStyle = "#475569";
    for (let i = 0; i < n; i++) {
      if (!this.counts[i]) continue;
      const bh = Math.max(3, Math.sqrt(this.counts[i] / max) * 14);
      const x0 = x(this.lo + ((i + 0.5) * span) / n);
      g.fillRect(Math.round(x0) - 1, 22 - bh, 2, bh);
    }
    this.drawAxis(w);
  }

  drawAxis(w) {
    const span = this.hi - this.lo;
    const withDate = span > 86400000 || new Date(this.lo).getUTCDate() !== new Date(this.hi).getUTCDate();
    const parts = Math.max(2, Math.min(6, Math.floor(w / 170)));
    const labels = [];
    for (let i = 0; i <= parts; i++) {
      const ms = this.lo + (span * i) / parts;
      let left = (i / parts) * (w - 16) + 8;
      if (i === 0) left = 0;
      if (i === parts) left = w;
      const text = fmtTime(ms, withDate && (i === 0 || i === parts));
      labels.push(`<span style="left:${left}px">${text}</span>`);
    }
    this.axis.innerHTML = labels.join("");
  }
}
