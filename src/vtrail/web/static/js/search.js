// The search box: matches as you type (/api/search), arrows to move, Enter to pick.

import { get } from "./api.js";
import { esc } from "./panel.js";

export function searchBox(input, results, { pick, failed }) {
  let timer = null;
  let hits = [];
  let active = 0;

  function render() {
    if (!hits.length) {
      results.innerHTML = '<li class="none">No match</li>';
    } else {
      results.innerHTML = hits
        .map((h, i) => `<li data-id="${esc(h.id)}" class="${i === active ? "active" : ""}">
          <span class="chip ${esc(h.kind)}">${esc(h.kind)}</span>
          <b>${esc(h.name || h.id.slice(h.id.indexOf(":") + 1))}</b><span class="sid">${esc(h.id)}</span></li>`)
        .join("");
    }
    results.hidden = false;
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    const q = input.value.trim();
    if (!q) {
      results.hidden = true;
      return;
    }
    timer = setTimeout(async () => {
      try {
        hits = (await get("/api/search", { q, limit: 12 })).hits;
        active = 0;
        render();
      } catch (e) {
        failed(e);
      }
    }, 120);
  });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      active = Math.max(0, Math.min(hits.length - 1, active + (ev.key === "ArrowDown" ? 1 : -1)));
      render();
      ev.preventDefault();
    } else if (ev.key === "Enter") {
      ev.preventDefault();
      if (hits[active]) pick(hits[active].id);
    } else if (ev.key === "Escape") {
      results.hidden = true;
      input.blur();
    }
  });
  results.addEventListener("mousedown", (ev) => {
    const li = ev.target.closest("li[data-id]");
    if (li) pick(li.dataset.id);
  });
  input.addEventListener("blur", () => setTimeout(() => (results.hidden = true), 150));
}
