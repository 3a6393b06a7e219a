// Calls to the appliance's API (docs/kiosk.md). Every answer comes back as
// {status, data, error}: error is the API's {code, field, details}, or
// {code: "network"} when the appliance could not be reached at all, so the
// pages handle one shape.

const TIMEOUT_MS = 15000;

export function newKey() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// api sends a request. opts: body (JSON), blob (a raw body with its type),
// auth (the device token), key (an Idempotency-Key, so a retried or doubled
// booking is one ticket).
export async function api(method, path, opts = {}) {
  const headers = { Accept: "application/json" };
  if (opts.auth) headers.Authorization = "Bearer " + opts.auth;
  if (opts.key) headers["Idempotency-Key"] = opts.key;
  let body;
  if (opts.blob) {
    body = opts.blob;
    headers["Content-Type"] = opts.blob.type || "application/octet-stream";
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["Content-Type"] = "application/json";
  }
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), opts.timeout || TIMEOUT_MS);
  let r;
  try {
    r = await fetch(path, { method, headers, body, credentials: "same-origin", cache: "no-store", signal: ctl.signal });
  } catch {
    return { status: 0, data: null, error: { code: "network" } };
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  try {
    data = await r.json();
  } catch {
    // no body (202) or not JSON (a proxy's error page)
  }
  if (r.ok) return { status: r.status, data, error: null };
  let error = data && data.error && data.error.code ? data.error : null;
  if (!error) error = { code: r.status === 404 ? "not_found" : r.status >= 500 ? "network" : "internal" };
  return { status: r.status, data, error };
}
