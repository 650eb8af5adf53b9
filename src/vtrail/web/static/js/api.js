// Every request the page makes: one place for the bearer token and for errors.

const TOKEN_KEY = "vtrail.token";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

let askToken = null; // set by the app: shows the token dialog, resolves when one is given

export function onTokenNeeded(fn) {
  askToken = fn;
}

export function setToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

export async function get(path, params = {}) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(params)) {
    // A list is the parameter repeated (`what=A&what=B`).
    for (const one of Array.isArray(v) ? v : [v]) {
      if (one !== undefined && one !== null && one !== "") url.searchParams.append(k, one);
    }
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    const headers = { Accept: "application/json" };
    const token = localStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = `Bearer ${token}`;
    const resp = await fetch(url, { headers });
    if (resp.ok) return resp.json();
    let detail = resp.statusText;
    try {
      detail = (await resp.json()).detail || detail;
    } catch (_) {
      /* not JSON: keep the status text */
    }
    if (resp.status === 401 && askToken) {
      await askToken(detail);
      continue;
    }
    throw new ApiError(resp.status, detail);
  }
  throw new ApiError(401, "no valid token");
}

// Entity ids hold slashes and colons: keep the slashes, escape the rest.
export function idPath(id) {
  return id.split("/").map(encodeURIComponent).join("/");
}
