// Calls to the appliance's API (docs/console.md): the session cookie goes
// by itself, the CSRF token in X-CSRF-Token on everything but GET, an
// Idempotency-Key on every POST. A 401 (the session expired) opens the
// sign-in dialog over the page, which keeps what was typed, and the call is
// made again once signed in.

const BASE = "/api/v1";

let csrf = "";
let reauth = null; // () => Promise<void>, set by the shell
let reauthing = null;

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || (status === 0 ? "network_error" : `http_${status}`);
    this.field = e.field || "";
    this.details = e.details || {};
  }
}

export function setCSRF(token) {
  csrf = token || "";
}

export function setReauth(fn) {
  reauth = fn;
}

// uuid is a random UUID v4: crypto.randomUUID where the page is a secure
// context (HTTPS, localhost), the same from getRandomValues elsewhere.
export function uuid() {
  if (typeof crypto !== "undefined" && crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// api sends one request and returns the decoded answer (null for 204).
// opts: key (the Idempotency-Key; a new one per call when absent), raw (a
// Blob or ArrayBuffer sent as is, with opts.type), auth:false (no sign-in
// dialog on 401: the sign-in calls themselves), status (receives the HTTP
// status).
export async function api(method, path, body, opts = {}) {
  const key = method === "POST" ? opts.key || uuid() : "";
  for (let attempt = 0; ; attempt++) {
    const headers = { Accept: "application/json" };
    let payload;
    if (opts.raw !== undefined) {
      payload = opts.raw;
      headers["Content-Type"] = opts.type || "application/octet-stream";
    } else if (body !== undefined && body !== null) {
      payload = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
    if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
    if (key) headers["Idempotency-Key"] = key;
    let res;
    try {
      res = await fetch(BASE + path, { method, headers, body: payload, credentials: "same-origin", cache: "no-store" });
    } catch {
      throw new ApiError(0, null);
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (opts.status) opts.status(res.status);
    if (res.ok) return res.status === 204 ? null : data;
    const err = new ApiError(res.status, data);
    if (attempt === 0 && opts.auth !== false) {
      if (res.status === 401 && reauth) {
        await signInAgain();
        continue;
      }
      if (res.status === 403 && err.code === "csrf_token_invalid") {
        // Another tab signed in again: this one's token is old.
        const me = await api("GET", "/auth/me");
        setCSRF(me && me.csrf_token);
        continue;
      }
    }
    throw err;
  }
}

// signInAgain shows the sign-in dialog once, however many calls are waiting.
function signInAgain() {
  if (!reauthing) {
    reauthing = reauth().finally(() => {
      reauthing = null;
    });
  }
  return reauthing;
}

// Intent keeps one Idempotency-Key per intended action: every click on the
// same button before the appliance answered (an impatient second click),
// or within a second after (the second half of a double click), carries
// the same key, so the appliance acts once and answers both alike. A later
// click is a new action with a new key. A network failure keeps the key,
// so a retry cannot act twice either.
export class Intent {
  constructor(graceMs = 1000) {
    this.graceMs = graceMs;
    this.keys = new Map();
  }

  key(action) {
    let k = this.keys.get(action);
    if (!k) {
      k = { key: uuid(), timer: null };
      this.keys.set(action, k);
    }
    clearTimeout(k.timer);
    k.timer = null;
    return k.key;
  }

  done(action, err) {
    if (err && err.status === 0) return;
    const k = this.keys.get(action);
    if (!k) return;
    clearTimeout(k.timer);
    k.timer = setTimeout(() => {
      if (this.keys.get(action) === k) this.keys.delete(action);
    }, this.graceMs);
  }

  // forgetOthers: once an action is done, a click on any other button is a
  // new intent (call next, finish, call next again is three actions).
  forgetOthers(action) {
    for (const [a, k] of this.keys) {
      if (a === action) continue;
      clearTimeout(k.timer);
      this.keys.delete(a);
    }
  }

  async run(action, fn) {
    const key = this.key(action);
    try {
      const out = await fn(key);
      this.forgetOthers(action);
      this.done(action);
      return out;
    } catch (err) {
      this.done(action, err);
      throw err;
    }
  }
}
