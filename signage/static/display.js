// The waiting-room display: pairing, then the call monitor, the services
// monitor and the playlist, fed by /ws/display (docs/realtime.md).

import { Live } from "./live.js";
import { Voice } from "./voice.js";
import { playing, quiet } from "./schedule.js";

const PAGE_VERSION = document.body.dataset.pageVersion || "";
const TOKEN_KEY = "avanti.display.token";
const TAKEOVER_MS = 15000; // a call holds the screen at least this long
const BLINK_MS = 5000;
const STATUS_MS = 30000;
const PAIR_POLL_MS = 2000;
const RECENT_MS = 60000; // a call missed while offline still blinks if this fresh
const DEFAULTS = {
  mode: "calls",
  rooms: [],
  services: [],
  history: 6,
  alternate_sec: 20,
  voice: { enabled: true, volume: 80, quiet_hours: [] },
  playlist_id: null,
};

const $ = (id) => document.getElementById(id);
const body = document.body;

let auth = readToken();
let device = null;
let settings = DEFAULTS;
let calls = []; // newest first, at most history+1
let services = [];
let playlist = [];
const seen = new Set(); // call ids shown: a call seen once is never announced
let firstVersion = null;
let snapshots = 0;
let serverOffset = 0; // the appliance's clock minus ours, from the snapshots
let live = null;
let showing = "none";
let rotation = null; // pending timer of the rotation
let takeoverUntil = 0;
let contentTurn = 0;
let blinkTimer = null;
let reloading = false;
let lastDeviceCheck = 0;
const voice = new Voice($("voice"));

// The token comes from ?token= (scripted and demo screens) and is kept so a
// reload without it still works; a paired screen uses its cookie instead.
function readToken() {
  const q = new URLSearchParams(location.search).get("token");
  try {
    if (q) localStorage.setItem(TOKEN_KEY, q);
    return q || localStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return q || "";
  }
}

function forgetToken() {
  auth = "";
  try {
    localStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled: nothing kept
  }
}

async function api(method, path, payload) {
  const headers = { Accept: "application/json" };
  if (auth) headers.Authorization = "Bearer " + auth;
  if (payload !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {
    method,
    headers,
    body: payload === undefined ? undefined : JSON.stringify(payload),
    credentials: "same-origin",
    cache: "no-store",
  });
  let data = null;
  try {
    data = await r.json();
  } catch {
    // no body (202) or not JSON
  }
  return { status: r.status, data };
}

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const jitter = (s) => s * 1000 * (0.7 + Math.random() * 0.6);
// The appliance's time zone (its site's): the clock, quiet hours and the
// playlist's windows follow it whatever the screen's own zone is set to.
let zone = "Europe/Rome";

// wall turns an instant into a Date whose local fields (getHours…) read
// the appliance's wall-clock time.
function wall(t) {
  try {
    const p = {};
    for (const x of new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(t)) p[x.type] = x.value;
    return new Date(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  } catch {
    return t; // an unknown zone: the screen's own
  }
}

const now = () => wall(new Date(Date.now() + serverOffset));

function screenSize() {
  const r = window.devicePixelRatio || 1;
  return `${Math.round(window.innerWidth * r)}x${Math.round(window.innerHeight * r)}`;
}

function setState(s) {
  body.dataset.state = s;
}

// ---- start: who am I? ------------------------------------------------------

async function boot() {
  tick();
  setInterval(tick, 1000);
  show("calls");
  let wait = 1;
  for (;;) {
    let res = null;
    try {
      res = await api("GET", "/api/v1/device");
    } catch {
      // the appliance is not reachable (yet): the screen may boot first
    }
    if (res && res.status === 200 && res.data && res.data.device) {
      start(res.data.device);
      return;
    }
    if (res && res.status === 401) {
      if (auth) {
        forgetToken(); // a stale token: the cookie may still be good
        continue;
      }
      pair();
      return;
    }
    setState("offline");
    await sleep(jitter(wait));
    wait = Math.min(30, wait * 2);
  }
}

// ---- pairing ---------------------------------------------------------------

async function pair() {
  setState("pairing");
  show("pairing");
  let wait = 1;
  for (;;) {
    let res = null;
    try {
      res = await api("POST", "/api/v1/pairing", { kind: "display", screen: screenSize(), version: PAGE_VERSION });
    } catch {
      // retried below
    }
    if (!res || res.status !== 201 || !res.data) {
      setState("offline");
      await sleep(jitter(wait));
      wait = Math.min(30, wait * 2);
      continue;
    }
    wait = 1;
    setState("pairing");
    const { code, secret, expires_at: expires } = res.data;
    showCode(code, expires);
    for (;;) {
      await sleep(PAIR_POLL_MS);
      let r;
      try {
        r = await api("GET", "/api/v1/pairing/" + encodeURIComponent(secret));
      } catch {
        setState("offline");
        continue;
      }
      setState("pairing");
      if (r.status === 202) continue;
      if (r.status === 200 && r.data && r.data.device) {
        // The appliance set the device cookie: nothing to keep here.
        start(r.data.device);
        return;
      }
      if (r.status >= 500) continue;
      break; // 410 expired (or unknown): ask for a new code
    }
  }
}

function showCode(code, expires) {
  const c = String(code || "");
  $("pair-code").textContent = c.length === 6 ? c.slice(0, 3) + " " + c.slice(3) : c;
  $("pair-code").dataset.code = c;
  const t = wall(new Date(expires));
  $("pair-expiry").textContent = isNaN(t) ? "" : "Il codice vale fino alle " + hhmm(t) + ".";
}

// ---- the live connection ---------------------------------------------------

function start(dev) {
  applyDevice(dev);
  setState("connecting");
  show(firstPage());
  live = new Live({
    url: () => {
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      const q = auth ? "?token=" + encodeURIComponent(auth) : "";
      return `${proto}//${location.host}/ws/display${q}`;
    },
    onSnapshot,
    onEvent,
    onState: (s) => {
      setState(s);
      if (s === "offline") checkDevice();
    },
  });
  live.start();
  setInterval(sendStatus, STATUS_MS);
}

function sendStatus() {
  if (!live) return;
  live.send({ type: "status", version: PAGE_VERSION, screen: screenSize(), showing, seq: live.seq });
}

// checkDevice finds out, while the connection keeps failing, whether this
// screen was unpaired (its credential revoked): then it starts over.
async function checkDevice() {
  if (!live || live.failures < 3 || Date.now() - lastDeviceCheck < 30000) return;
  lastDeviceCheck = Date.now();
  try {
    const r = await api("GET", "/api/v1/device");
    if (r.status === 401) location.reload();
  } catch {
    // still unreachable: the connection keeps trying
  }
}

function onSnapshot(msg) {
  snapshots++;
  if (firstVersion === null) {
    firstVersion = msg.version || "";
  } else if (msg.version && msg.version !== firstVersion && !reloading) {
    // A new appliance was deployed: load its page (spread over a few
    // seconds so a thousand screens do not ask at once).
    reloading = true;
    setTimeout(() => location.reload(), Math.random() * 5000);
  }
  const t = Date.parse(msg.server_time);
  if (!isNaN(t)) serverOffset = t - Date.now();
  if (msg.time_zone) zone = msg.time_zone;
  tick();
  if (msg.display) applyDevice(msg.display);
  services = msg.services || [];
  playlist = msg.playlist || [];
  const fresh = msg.calls || [];
  // A call made while we were away is shown (and blinks if it is new), but
  // never spoken: no backlog after a reconnect.
  const latest = fresh[0];
  const missed = snapshots > 1 && latest && !seen.has(latest.id) &&
    Date.now() + serverOffset - Date.parse(latest.called_at) < RECENT_MS;
  fresh.forEach((c) => seen.add(c.id));
  calls = fresh.slice(0, historySize() + 1);
  renderAll();
  if (missed) {
    takeover();
  } else if (snapshots === 1) {
    go(firstPlan());
  }
  sendStatus();
}

function onEvent(msg) {
  switch (msg.type) {
    case "call":
    case "recall":
      addCall(msg.call);
      break;
    case "queue":
      services = msg.services || [];
      renderServices();
      break;
    case "config": {
      const before = shownRooms();
      if (msg.display) applyDevice(msg.display);
      if (shownRooms() !== before && live) {
        live.resubscribe(); // the calls of other rooms come on other channels
        return;
      }
      if (msg.playlist) playlist = msg.playlist;
      calls = calls.slice(0, historySize() + 1);
      renderAll();
      if (!voiceOn()) voice.mute();
      if (Date.now() >= takeoverUntil) go(firstPlan());
      break;
    }
  }
}

// shownRooms names the rooms whose calls the display shows, as a key.
function shownRooms() {
  const r = (settings.rooms || []).length > 0 ? settings.rooms : device && device.room ? [device.room.id] : [];
  return r.slice().sort((a, b) => a - b).join(",");
}

function applyDevice(dev) {
  device = dev;
  const s = dev.settings || {};
  settings = {
    ...DEFAULTS,
    ...s,
    voice: { ...DEFAULTS.voice, ...(s.voice || {}) },
  };
  body.dataset.mode = settings.mode;
  const rooms = (dev.room && dev.room.name) || "";
  $("room").textContent = rooms;
  $("owner").textContent = (dev.owner && dev.owner.name) || "";
}

function historySize() {
  const n = Number(settings.history);
  return Number.isFinite(n) && n >= 0 ? Math.min(n, 20) : DEFAULTS.history;
}

function addCall(call) {
  if (!call || call.id === undefined) return;
  if (seen.has(call.id)) return; // in a snapshot already: shown, not spoken
  seen.add(call.id);
  const code = call.ticket && call.ticket.code;
  calls = [call, ...calls.filter((c) => c.id !== call.id && !(c.ticket && c.ticket.code === code))]
    .slice(0, historySize() + 1);
  renderCalls();
  takeover();
  voice.say(call, voiceOn, () => settings.voice.volume);
}

function voiceOn() {
  const v = settings.voice;
  return v.enabled !== false && Number(v.volume) > 0 && !quiet(now(), v.quiet_hours);
}

// ---- what is on screen -----------------------------------------------------

function show(page, item) {
  if (showing === "content" && page !== "content") $("content").replaceChildren();
  showing = page;
  body.dataset.showing = page;
  if (page === "content" && item) renderContent(item);
}

// takeover puts the latest call on screen now, whatever was showing, makes
// it blink and keeps it there for TAKEOVER_MS before the rotation goes on.
function takeover() {
  takeoverUntil = Date.now() + TAKEOVER_MS;
  clearTimeout(rotation);
  show("calls");
  blink();
  rotation = setTimeout(() => go(plan("calls")), TAKEOVER_MS);
}

function blink() {
  const el = $("latest");
  el.classList.remove("blink");
  void el.offsetWidth; // restart the animation
  el.classList.add("blink");
  clearTimeout(blinkTimer);
  blinkTimer = setTimeout(() => el.classList.remove("blink"), BLINK_MS);
}

function firstPage() {
  return settings.mode === "services" ? "services" : "calls";
}

function firstPlan() {
  return settings.mode === "alternating" ? { page: "calls", ms: altMs() } : { page: firstPage() };
}

function altMs() {
  const s = Number(settings.alternate_sec);
  return (Number.isFinite(s) && s >= 3 ? s : DEFAULTS.alternate_sec) * 1000;
}

// plan is what comes after page: in alternating mode calls, services, then
// the next playlist item showing now (one per round, so calls come back
// often), each for its time.
function plan(after) {
  if (settings.mode !== "alternating") return { page: firstPage() };
  const order = ["calls", "services", "content"];
  const at = Math.max(0, order.indexOf(after));
  for (let k = 1; k <= order.length; k++) {
    const page = order[(at + k) % order.length];
    if (page !== "content") return { page, ms: altMs() };
    const items = playlist.filter((it) => playing(it, now()));
    if (items.length === 0) continue;
    const item = items[contentTurn++ % items.length];
    const secs = Number(item.duration_sec);
    return { page, item, ms: (Number.isFinite(secs) && secs > 0 ? secs : 10) * 1000 };
  }
  return { page: "calls", ms: altMs() };
}

function go(p) {
  clearTimeout(rotation);
  rotation = null;
  show(p.page, p.item);
  if (p.ms) rotation = setTimeout(() => go(plan(p.page)), p.ms);
}

// skip leaves a content item that cannot be shown (missing file).
function skip(item) {
  if (showing === "content" && $("content").dataset.item === String(item.id)) go(plan("content"));
}

// ---- rendering -------------------------------------------------------------

function deskName(d) {
  if (!d) return "";
  return d.name || (d.number !== undefined ? "Sportello " + d.number : "");
}

function hhmm(t) {
  return t.toLocaleTimeString("it-IT", { hour: "2-digit", minute: "2-digit" });
}

function tick() {
  const t = now();
  $("clock").textContent = hhmm(t);
  $("date").textContent = t.toLocaleDateString("it-IT", { weekday: "long", day: "numeric", month: "long" });
}

function renderAll() {
  renderCalls();
  renderServices();
}

function renderCalls() {
  const latest = calls[0];
  const box = $("latest");
  box.dataset.empty = latest ? "false" : "true";
  box.dataset.callId = latest ? latest.id : "";
  box.dataset.kind = latest ? latest.kind : "";
  $("latest-code").textContent = latest ? latest.ticket.code : "";
  $("latest-desk").textContent = latest ? deskName(latest.desk) : "";
  const svc = latest && latest.ticket.service ? latest.ticket.service.name : "";
  $("latest-service").textContent = svc;
  const appt = latest && latest.ticket.appointment;
  $("latest-appointment").textContent = appt ? "appuntamento delle " + appt : "";
  $("history").replaceChildren(
    ...calls.slice(1).map((c) => {
      const li = document.createElement("li");
      li.dataset.callId = c.id;
      const code = document.createElement("span");
      code.className = "code";
      code.textContent = c.ticket.code;
      const desk = document.createElement("span");
      desk.className = "desk";
      desk.textContent = deskName(c.desk);
      li.append(code, desk);
      return li;
    }),
  );
  $("history").style.setProperty("--rows", Math.max(historySize(), 1));
  $("ticker-code").textContent = latest ? latest.ticket.code : "—";
  $("ticker-desk").textContent = latest ? deskName(latest.desk) : "";
}

// shownServices are the services the settings pick, or else those of the
// rooms this screen shows.
function shownServices() {
  const ids = settings.services || [];
  if (ids.length > 0) return services.filter((s) => ids.includes(s.id));
  const rooms = (settings.rooms || []).length > 0 ? settings.rooms : device && device.room ? [device.room.id] : [];
  if (rooms.length === 0) return services;
  return services.filter((s) => !s.rooms || s.rooms.length === 0 || s.rooms.some((r) => rooms.includes(r)));
}

const PUNCTUALITY = { on_time: "in orario", late: "ritardo", closed: "chiuso" };

function punctualityLabel(p) {
  if (!p) return "";
  if (p.label) return p.label;
  if (p.state === "late") return `ritardo ${p.delay_min || 0} min`;
  return PUNCTUALITY[p.state] || "";
}

function renderServices() {
  const list = shownServices();
  const ul = $("service-list");
  ul.style.setProperty("--rows", Math.max(list.length, 1));
  ul.replaceChildren(
    ...list.map((s) => {
      const li = document.createElement("li");
      li.dataset.serviceId = s.id;
      li.dataset.punctuality = (s.punctuality && s.punctuality.state) || "";
      const cell = (cls, text, label) => {
        const el = document.createElement("span");
        el.className = cls;
        if (label) {
          const small = document.createElement("small");
          small.textContent = label;
          el.append(small);
        }
        const b = document.createElement("b");
        b.textContent = text;
        el.append(b);
        return el;
      };
      li.append(
        cell("prefix", s.prefix || ""),
        cell("name", s.name || ""),
        cell("waiting", String(s.waiting ?? 0), "in attesa"),
        cell("last", s.last_called || "—", "ultimo"),
        cell("punct", punctualityLabel(s.punctuality)),
      );
      return li;
    }),
  );
  if (list.length === 0) {
    const li = document.createElement("li");
    li.className = "none";
    li.textContent = "Nessun servizio da mostrare";
    ul.append(li);
  }
}

function renderContent(item) {
  const box = $("content");
  box.replaceChildren();
  box.dataset.kind = item.kind;
  box.dataset.item = item.id;
  if (item.kind === "image" && item.url) {
    const img = document.createElement("img");
    img.alt = item.text || "";
    img.onerror = () => skip(item);
    img.src = item.url;
    box.append(img);
  } else if (item.kind === "video" && item.url) {
    const v = document.createElement("video");
    v.muted = true;
    v.autoplay = true;
    v.playsInline = true;
    v.loop = true; // the item's duration decides when it ends
    v.onerror = () => skip(item);
    v.src = item.url;
    box.append(v);
    v.play().catch(() => {});
  }
  if (item.text) {
    const p = document.createElement("p");
    p.className = item.kind === "text" ? "announcement" : "caption";
    p.textContent = item.text;
    box.append(p);
  }
}

// ---- for tests and diagnostics: read-only ---------------------------------

Object.defineProperty(window, "avantiDisplay", {
  value: Object.freeze({
    get state() {
      return body.dataset.state;
    },
    get showing() {
      return showing;
    },
    get mode() {
      return settings.mode;
    },
    get spoken() {
      return voice.spoken.slice();
    },
    get failed() {
      return voice.failed.slice();
    },
    get calls() {
      return calls.map((c) => c.id);
    },
    get snapshots() {
      return snapshots;
    },
    get version() {
      return firstVersion;
    },
    get pageVersion() {
      return PAGE_VERSION;
    },
    get epoch() {
      return live ? live.epoch : null;
    },
    get seq() {
      return live ? live.seq : 0;
    },
  }),
});

boot();
