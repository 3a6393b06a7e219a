// The totem: standby, services, walk-in tickets and their printing,
// identified citizens' appointments (book, move, revoke, reprint),
// check-in, the barcode reader and the camera, pairing. The contract with
// the appliance is docs/kiosk.md; settings and queue changes come live over
// /ws/kiosk (docs/realtime.md).

import { Live } from "./live.js";
import { t as tr, errorText, LANGS, PRINTER_ERRORS } from "./i18n.js";
import { wall, wallAt, whenLabel, dayLabel, dayParts, addDays, DEFAULT_ZONE } from "./wall.js";
import { page } from "./paging.js";
import { Scanner, classify } from "./scanner.js";
import { Keyboard, applyKey } from "./keyboard.js";
import { api, newKey } from "./api.js";

const PAGE_VERSION = document.body.dataset.pageVersion || "";
const TOKEN_KEY = "avanti.kiosk.token";
const SERVICES_PER_PAGE = 6;
const DAYS_PER_PAGE = 8;
const TIMES_PER_PAGE = 20;
const APPOINTMENTS_PER_PAGE = 3;
const STATUS_MS = 30000;
const PAIR_POLL_MS = 2000;
const IDLE_WARN_S = 10; // the last seconds before going back to standby are announced
const PRINT_TIMEOUT_MS = 20000;
const CAMERA_EVERY_MS = 800;
const CAMERA_GIVE_UP_MS = 30000;
const AVAILABILITY_DAYS = 61; // the API answers at most 62 days at a time
const DEFAULTS = {
  services: [],
  identification: "any",
  idle_sec: 45,
  info_text: "",
  ticket_text: "",
  printer: { mode: "browser", address: "" },
  languages: ["it", "en"],
};

const $ = (id) => document.getElementById(id);
const body = document.body;
const enc = encodeURIComponent;

let auth = readToken();
let lang = "it";
let settings = DEFAULTS;
let device = null;
let ownerName = "";
let services = []; // the last list the appliance gave: kept when it cannot be reached
let zone = DEFAULT_ZONE;
let serverOffset = 0; // the appliance's clock minus ours
let live = null;
let view = "starting";
let firstVersion = null;
let reloadWanted = false;
let printer = ""; // "ok" | "error" once the totem printed: reported in its status
let lastActivity = Date.now();
let hasCamera = false;
let camera = null; // {stream, timer, since, busy}
let printJob = null; // {token, timer, frame}
let refreshTimer = null;
let refreshing = false;
let refreshAgain = false;
let s = freshSession();

// A session is one citizen at the screen. Everything in it is forgotten
// at once when they leave or the totem goes back to standby.
function freshSession() {
  return {
    servicePage: 0,
    service: null, // the service page's service
    citizen: null, // {send: what identified them, info: {first_name, last_name, masked}, appointments}
    appointmentPage: 0,
    plan: null, // {mode: "book" | "move", service: {id, name}, ticket (move)}
    days: [],
    dayPage: 0,
    day: null,
    timePage: 0,
    slot: null, // the chosen {start, end}
    ticket: null, // the ticket on screen: {ticket, title, print: {state, code}}
    checkin: null, // {token | fiscal_code, ticket}
    afterIdentify: null, // a service to book once the citizen identified
    message: null, // () => {title, text, code, more, kind, actions}
    confirm: null, // () => {title, text, ok, run, back}
    weakField: "weak-phone",
    busy: false,
  };
}

// ---- credential ------------------------------------------------------------

// The token comes from ?token= (set-up and demo totems) and is kept so a
// reload without it still works; a paired totem uses its cookie instead.
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

// call is api() with the totem's credential, marking the page busy so a
// second tap does not send a second request.
async function call(method, path, opts = {}) {
  s.busy = true;
  body.dataset.busy = "true";
  const session = s;
  try {
    return await api(method, path, { ...opts, auth });
  } finally {
    session.busy = false;
    if (s === session) delete body.dataset.busy;
  }
}

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const jitter = (sec) => sec * 1000 * (0.7 + Math.random() * 0.6);
const T = (key, vars) => tr(lang, key, vars);
const nowMs = () => Date.now() + serverOffset;
const today = () => wallAt(nowMs(), zone).date;
const when = (iso, what) => (what === "time" ? (wall(iso, zone) || {}).time || "" : whenLabel(iso, lang, today(), zone));
const errText = (err) => errorText(lang, err, when);

function screenSize() {
  const r = window.devicePixelRatio || 1;
  return `${Math.round(window.innerWidth * r)}x${Math.round(window.innerHeight * r)}`;
}

function setState(st) {
  body.dataset.state = st;
}

// ---- start -------------------------------------------------------------------

async function boot() {
  applyLang();
  tick();
  setInterval(tick, 1000);
  setInterval(idleCheck, 1000);
  detectCamera();
  let wait = 1;
  for (;;) {
    const r = await api("GET", "/api/v1/kiosk", { auth });
    if (r.status === 200 && r.data) {
      applyKiosk(r.data);
      start();
      return;
    }
    if (r.status === 401 || r.status === 403) {
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

async function pair() {
  setState("pairing");
  show("pairing");
  let wait = 1;
  for (;;) {
    const res = await api("POST", "/api/v1/pairing", { body: { kind: "kiosk", screen: screenSize(), version: PAGE_VERSION } });
    if (res.status !== 201 || !res.data) {
      setState("offline");
      await sleep(jitter(wait));
      wait = Math.min(30, wait * 2);
      continue;
    }
    wait = 1;
    setState("pairing");
    const { code, secret, expires_at: expires } = res.data;
    const c = String(code || "");
    $("pair-code").textContent = c.length === 6 ? c.slice(0, 3) + " " + c.slice(3) : c;
    $("pair-code").dataset.code = c;
    $("pair-expiry").dataset.expires = expires || "";
    renderPairExpiry();
    for (;;) {
      await sleep(PAIR_POLL_MS);
      const r = await api("GET", "/api/v1/pairing/" + enc(secret));
      if (r.status === 0 || r.status >= 500) {
        setState("offline");
        continue;
      }
      setState("pairing");
      if (r.status === 202) continue;
      if (r.status === 200 && r.data && r.data.device) {
        // The appliance set the device cookie: load the totem with it.
        location.reload();
        return;
      }
      break; // 410 expired (or unknown): ask for a new code
    }
  }
}

function renderPairExpiry() {
  const e = $("pair-expiry").dataset.expires;
  const w = e ? wall(e, zone) : null;
  $("pair-expiry").textContent = w ? T("pair.expiry", { time: w.time }) : "";
}

function start() {
  setState("connecting");
  reset();
  live = new Live({
    url: () => {
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      const q = auth ? "?token=" + enc(auth) : "";
      return `${proto}//${location.host}/ws/kiosk${q}`;
    },
    onSnapshot,
    onEvent,
    onState: (st) => {
      setState(st);
      renderOffline();
      if (st === "online") refreshKiosk();
    },
  });
  live.start();
  setInterval(sendStatus, STATUS_MS);
}

function sendStatus() {
  if (!live) return;
  const msg = { type: "status", version: PAGE_VERSION, screen: screenSize(), showing: view, seq: live.seq };
  if (printer) msg.printer = printer;
  live.send(msg);
}

function onSnapshot(msg) {
  if (firstVersion === null) {
    firstVersion = msg.version || "";
  } else if (msg.version && msg.version !== firstVersion) {
    // A new appliance was deployed: load its pages, but never in the
    // middle of a citizen's session.
    reloadWanted = true;
    if (view === "standby") setTimeout(() => location.reload(), Math.random() * 5000);
  }
  const t = Date.parse(msg.server_time);
  if (!isNaN(t)) serverOffset = t - Date.now();
  if (msg.time_zone) zone = msg.time_zone;
  tick();
  if (msg.kiosk) applyDevice(msg.kiosk);
  refreshKiosk();
  sendStatus();
}

function onEvent(msg) {
  switch (msg.type) {
    case "config":
      if (msg.kiosk) applyDevice(msg.kiosk);
      refreshKiosk();
      break;
    case "queue":
      refreshKiosk();
      break;
  }
}

// refreshKiosk reloads what the totem shows, at most a few times a second
// however many events come. News that comes while a reload is on its way
// asks for one more: the answer on its way may predate it.
function refreshKiosk() {
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  if (refreshTimer) return;
  refreshTimer = setTimeout(reloadKiosk, 150);
}

async function reloadKiosk() {
  refreshTimer = null;
  refreshing = true;
  const r = await api("GET", "/api/v1/kiosk", { auth });
  refreshing = false;
  if (r.status === 200 && r.data) {
    applyKiosk(r.data);
  } else if (r.status === 401) {
    location.reload(); // unpaired: start over with a code
    return;
  }
  renderLive();
  if (refreshAgain) {
    refreshAgain = false;
    refreshKiosk();
  }
}

function applyKiosk(data) {
  if (data.kiosk) applyDevice(data.kiosk);
  if (data.owner && data.owner.name) ownerName = data.owner.name;
  // The site's clock, whatever zone the totem's own is set to.
  if (data.site && data.site.timezone) zone = data.site.timezone;
  services = Array.isArray(data.services) ? data.services : [];
  // The service on screen follows the appliance's news.
  if (s.service) s.service = services.find((x) => x.id === s.service.id) || s.service;
}

function applyDevice(dev) {
  device = dev;
  const k = dev.kiosk_settings || dev.settings || {};
  settings = { ...DEFAULTS, ...k, printer: { ...DEFAULTS.printer, ...(k.printer || {}) } };
  const langs = (settings.languages || []).filter((l) => LANGS.includes(l));
  settings.languages = langs.length ? langs : ["it"];
  if (dev.owner && dev.owner.name) ownerName = dev.owner.name;
  if (!settings.languages.includes(lang)) {
    lang = settings.languages[0];
    applyLang();
  }
  body.dataset.identification = settings.identification;
  body.dataset.printer = settings.printer.mode;
}

// renderLive redraws what depends on the appliance's data, where it shows.
function renderLive() {
  renderChrome();
  if (["standby", "services", "service"].includes(view)) render();
}

// ---- time, idleness, activity -------------------------------------------------

function tick() {
  const w = wallAt(nowMs(), zone);
  $("clock").textContent = w.time;
}

function activity() {
  lastActivity = Date.now();
  if ($("idle-warning").textContent) $("idle-warning").textContent = "";
}

function idleSec() {
  const n = Number(settings.idle_sec);
  return Number.isFinite(n) && n >= 5 ? n : DEFAULTS.idle_sec;
}

// idleCheck sends an unattended screen back to standby, forgetting the
// citizen, and says so during its last seconds.
function idleCheck() {
  if (["standby", "pairing", "starting"].includes(view)) return;
  if (camera || printJob) {
    // Looking at the camera or waiting for the ticket is not idleness.
    lastActivity = Date.now();
    return;
  }
  const left = Math.ceil(idleSec() - (Date.now() - lastActivity) / 1000);
  if (left <= 0) {
    reset();
    return;
  }
  $("idle-warning").textContent = left <= IDLE_WARN_S ? T("idle.warning", { n: left }) : "";
}

for (const type of ["pointerdown", "touchstart", "wheel"]) {
  document.addEventListener(type, activity, { capture: true, passive: true });
}

// ---- views ---------------------------------------------------------------------

const VIEWS = ["starting", "pairing", "standby", "services", "service", "ticket", "identify", "weak", "citizen",
  "days", "times", "confirm", "checkin", "scan", "camera", "message"];

function show(name) {
  if (view === "camera" && name !== "camera") stopCamera();
  const changed = view !== name;
  view = name;
  body.dataset.view = name;
  for (const v of VIEWS) $("v-" + v).hidden = v !== name;
  render();
  if (changed) {
    window.scrollTo(0, 0);
    // Screen readers hear the new page from its title.
    const h = $("v-" + name).querySelector("h1");
    if (h && name !== "weak") {
      h.tabIndex = -1;
      h.focus({ preventScroll: true });
    }
    if (live) sendStatus();
  }
}

function render() {
  renderChrome();
  switch (view) {
    case "standby": return renderStandby();
    case "services": return renderServices();
    case "service": return renderService();
    case "ticket": return renderTicket();
    case "identify": return renderIdentify();
    case "weak": return renderWeak();
    case "citizen": return renderCitizen();
    case "days": return renderDays();
    case "times": return renderTimes();
    case "confirm": return renderConfirm();
    case "checkin": return renderCheckin();
    case "message": return renderMessage();
    case "pairing": return renderPairExpiry();
  }
}

function renderChrome() {
  $("owner").textContent = ownerName;
  $("lang").hidden = settings.languages.length < 2 || view === "pairing";
  $("home").hidden = ["standby", "pairing", "starting"].includes(view);
  renderOffline();
}

function renderOffline() {
  // The banner says what does not work; the list of services stays.
  const off = body.dataset.state === "offline" && !["pairing", "starting"].includes(view);
  $("offline-banner").hidden = !off;
  $("services-cached").hidden = !off;
}

function applyLang() {
  document.documentElement.lang = lang;
  body.dataset.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = T(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", T(el.dataset.i18nLabel));
  // The language button is written in the language it switches to.
  $("lang").setAttribute("lang", lang === "it" ? "en" : "it");
  $("keyboard").setAttribute("aria-label", T("kbd.label"));
}

function button(text, cls, run) {
  const b = document.createElement("button");
  b.type = "button";
  if (cls) b.className = cls;
  b.textContent = text;
  b.addEventListener("click", run);
  return b;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// pager draws "Indietro · pagina n di m · Avanti" into nav, hidden when
// everything fits on one page.
function pager(nav, p, go, label) {
  nav.hidden = p.count <= 1;
  if (p.count <= 1) {
    nav.replaceChildren();
    return;
  }
  const prev = button("‹ " + T("back"), "page-prev", () => go(p.index - 1));
  prev.disabled = p.first;
  const next = button(T("next") + " ›", "page-next", () => go(p.index + 1));
  next.disabled = p.last;
  const where = el("span", "page-of", T("page", { n: p.index + 1, of: p.count }));
  where.setAttribute("aria-live", "polite");
  nav.setAttribute("aria-label", label);
  nav.replaceChildren(prev, where, next);
}

// ---- standby -------------------------------------------------------------------

function renderStandby() {
  $("standby-owner").textContent = ownerName;
  $("standby-info").textContent = settings.info_text || "";
  $("standby-info").hidden = !settings.info_text;
}

// Any touch starts a session ("click", not "pointerdown": the services
// must not be under the finger when it lifts).
$("v-standby").addEventListener("click", () => {
  if (view === "standby") {
    activity();
    show("services");
  }
});

// reset goes back to standby and forgets the citizen: every field, list and
// text that held their data is emptied, not just hidden.
function reset() {
  stopCamera();
  s = freshSession();
  delete body.dataset.busy;
  for (const input of document.querySelectorAll("#main input")) input.value = "";
  for (const id of ["citizen-hello", "citizen-id", "appointments", "appointments-pager", "ticket-service", "ticket-when",
    "ticket-code", "ticket-queue", "ticket-hint", "print-status", "checkin-service", "checkin-when", "checkin-code",
    "checkin-question", "message-title", "message-text", "message-code", "message-more", "message-actions",
    "confirm-title", "confirm-text", "day-grid", "time-grid", "days-service", "times-day", "weak-error",
    "camera-status", "services-who", "service-who", "idle-warning"]) {
    $(id).replaceChildren();
  }
  $("ticket-qr").removeAttribute("src");
  $("ticket-qr").alt = "";
  lang = settings.languages[0] || "it";
  applyLang();
  if (reloadWanted) {
    location.reload();
    return;
  }
  show("standby");
}

$("home").addEventListener("click", () => reset());
$("lang").addEventListener("click", () => {
  const langs = settings.languages;
  lang = langs[(langs.indexOf(lang) + 1) % langs.length];
  applyLang();
  render();
});

// ---- services ------------------------------------------------------------------

function stateLines(svc) {
  const lines = [];
  if (svc.state === "open") {
    const st = svc.first_today && svc.first_today.start;
    lines.push(st ? T("state.open", { time: when(st, "time") }) : T("state.open_now"));
  } else {
    lines.push(T(svc.state === "full" ? "state.full" : "state.closed"));
    lines.push(svc.next ? T("state.next", { when: when(svc.next) }) : T("state.no_next"));
  }
  return lines;
}

function whoLine() {
  const c = s.citizen;
  if (!c) return "";
  return T("service.booking_for", { name: citizenName(c) });
}

function citizenName(c) {
  const i = c.info || {};
  return [i.first_name, i.last_name].filter(Boolean).join(" ") || i.masked || "";
}

function renderServices() {
  $("services-owner").textContent = ownerName;
  $("services-info").textContent = settings.info_text || "";
  $("services-info").hidden = !settings.info_text;
  $("services-who").textContent = whoLine();
  const p = page(services, SERVICES_PER_PAGE, s.servicePage);
  s.servicePage = p.index;
  const grid = $("service-grid");
  grid.replaceChildren(
    ...p.items.map((svc) => {
      const li = el("li");
      const b = button("", "service", () => openService(svc));
      b.dataset.serviceId = svc.id;
      b.dataset.state = svc.state || "";
      const lines = stateLines(svc);
      b.append(el("span", "prefix", svc.prefix || ""), el("span", "name", svc.name || ""));
      const st = el("span", "state");
      lines.forEach((l, i) => st.append(el("span", i === 0 ? "state-now" : "state-next", l)));
      b.append(st);
      li.append(b);
      return li;
    }),
  );
  if (services.length === 0) grid.append(el("li", "none", T("services.none")));
  pager($("services-pager"), p, (i) => {
    s.servicePage = i;
    renderServices();
  }, T("services.title"));
  $("to-identify").hidden = settings.identification === "none" || !!s.citizen;
}

$("to-identify").addEventListener("click", () => {
  s.afterIdentify = null;
  show("identify");
});
$("to-scan").addEventListener("click", () => show("scan"));
$("scan-back").addEventListener("click", () => show("services"));

function openService(svc) {
  s.service = svc;
  show("service");
}

function canBookOtherDays() {
  return settings.identification !== "none";
}

function renderService() {
  const svc = s.service;
  if (!svc) return;
  $("service-name").textContent = svc.name || "";
  $("service-who").textContent = whoLine();
  $("service-description").textContent = svc.description || "";
  $("service-notes").textContent = svc.notes || "";
  $("service-notes-box").hidden = !svc.notes;
  const state = $("service-state");
  state.dataset.state = svc.state || "";
  if (svc.state === "open") {
    const st = svc.first_today && svc.first_today.start;
    state.textContent = st ? T("service.first_today", { time: when(st, "time") }) : T("state.open_now");
  } else {
    const next = svc.next ? " " + T("err.next", { when: when(svc.next) }) : "";
    state.textContent = T(svc.state === "full" ? "service.full" : "service.closed") + next;
  }
  $("service-take").hidden = svc.state !== "open";
  $("service-other").hidden = !canBookOtherDays();
  $("service-other").classList.toggle("primary", svc.state !== "open");
}

$("service-back").addEventListener("click", () => show("services"));
$("service-take").addEventListener("click", () => walkIn(s.service));
$("service-other").addEventListener("click", () => bookOtherDay(s.service));

// ---- walk-in and the ticket -----------------------------------------------------

async function walkIn(svc) {
  if (s.busy || !svc) return;
  const req = { service_id: svc.id };
  if (s.citizen) req.citizen = s.citizen.send;
  const r = await call("POST", "/api/v1/tickets", { body: req, key: newKey() });
  if (r.error) return bookingError(r.error, svc);
  showTicket(r.data, "ticket.title");
}

function bookingError(err, svc) {
  const actions = [];
  if ((err.code === "no_availability" || err.code === "service_closed") && canBookOtherDays() && svc) {
    actions.push({ key: "service.other_day", primary: true, run: () => bookOtherDay(svc) });
  }
  if (["slot_full", "slot_closed", "too_soon", "too_far"].includes(err.code) && s.plan) {
    actions.push({ key: "back", primary: true, run: () => loadDays() });
  }
  showError(err, actions);
}

function showTicket(ticket, title) {
  s.ticket = { ticket, title, print: { state: "printing" } };
  if (s.citizen) refreshCitizen(); // their list now holds it
  show("ticket");
  printTicket(ticket);
}

function renderTicket() {
  const tk = s.ticket;
  if (!tk) return;
  const t = tk.ticket;
  $("ticket-title").textContent = T(tk.title);
  $("ticket-service").textContent = t.service_name || "";
  $("ticket-when").textContent = t.start ? when(t.start) : "";
  $("ticket-code").textContent = t.code || "";
  const qr = $("ticket-qr");
  const src = "/api/v1/tickets/" + enc(t.token) + "/qr.png";
  if (qr.getAttribute("src") !== src) qr.src = src;
  qr.alt = T("ticket.qr", { code: t.code || "" });
  const q = [];
  if (t.status === "waiting" && t.position !== undefined && t.position !== null) q.push(T("ticket.position", { n: t.position }));
  if (t.status === "waiting" && t.estimated_wait_minutes !== undefined && t.estimated_wait_minutes !== null) {
    q.push(T("ticket.wait", { n: t.estimated_wait_minutes }));
  }
  $("ticket-queue").textContent = q.join(" · ");
  $("ticket-hint").textContent = T(t.status === "booked" ? "ticket.appointment" : "ticket.wait_call");
  renderPrintStatus();
}

function renderPrintStatus() {
  const tk = s.ticket;
  const box = $("print-status");
  if (!tk) return;
  const p = tk.print;
  box.dataset.state = p.state;
  box.replaceChildren();
  if (p.state === "printing") box.append(el("span", "", T("ticket.printing")));
  if (p.state === "ok") box.append(el("span", "", T("ticket.printed")));
  if (p.state === "error") box.append(el("strong", "", errText({ code: p.code })));
  else box.append(" ", el("span", "fallback", T("ticket.fallback")));
}

$("ticket-done").addEventListener("click", () => {
  if (s.citizen) show("citizen");
  else reset();
});
$("ticket-reprint").addEventListener("click", () => {
  if (s.ticket && s.ticket.print.state !== "printing") {
    s.ticket.print = { state: "printing" };
    renderPrintStatus();
    printTicket(s.ticket.ticket);
  }
});

// printTicket prints from the browser (a hidden frame with the 80 mm page,
// printed silently by Chromium started with --kiosk-printing) or asks the
// appliance to send it to the totem's network printer.
async function printTicket(ticket) {
  if (settings.printer.mode === "network") {
    const r = await api("POST", "/api/v1/tickets/" + enc(ticket.token) + "/print", { auth });
    if (!r.error) return printDone(ticket.token, null);
    if (r.error.code !== "printer_not_network") {
      return printDone(ticket.token, PRINTER_ERRORS.includes(r.error.code) || r.error.code === "network" ? r.error.code : "printer_error");
    }
  }
  browserPrint(ticket.token);
}

function browserPrint(token) {
  endPrintJob();
  const frame = document.createElement("iframe");
  frame.className = "printer";
  frame.title = T("print.title");
  frame.tabIndex = -1;
  frame.setAttribute("aria-hidden", "true");
  frame.src = "print/" + enc(token);
  printJob = { token, frame, timer: setTimeout(() => printDone(token, "printer_error"), PRINT_TIMEOUT_MS) };
  document.body.append(frame);
}

function endPrintJob() {
  if (!printJob) return;
  clearTimeout(printJob.timer);
  const f = printJob.frame;
  printJob = null;
  // Let the print finish spooling before the frame goes.
  setTimeout(() => f.remove(), 5000);
}

window.addEventListener("message", (e) => {
  if (e.origin !== location.origin || !e.data || e.data.type !== "avanti.print") return;
  if (!printJob || e.data.token !== printJob.token) return;
  printDone(e.data.token, e.data.ok ? null : e.data.code || "printer_error");
});

function printDone(token, code) {
  if (printJob && printJob.token === token) endPrintJob();
  printer = code && code !== "network" ? "error" : "ok";
  sendStatus();
  if (!s.ticket || s.ticket.ticket.token !== token) return;
  s.ticket.print = code ? { state: "error", code } : { state: "ok" };
  if (view === "ticket") renderPrintStatus();
}

// ---- messages --------------------------------------------------------------------

// showMessage shows a result or an error; spec is a function of nothing
// so that it is written again in the other language.
function showMessage(spec) {
  s.message = spec;
  show("message");
}

function showError(err, actions = []) {
  showMessage(() => ({
    kind: "error",
    title: T("msg.error"),
    text: errText(err),
    code: err.code,
    actions: actions.length ? actions : [{ key: "back", primary: true, run: back }],
  }));
}

// back leaves a message for where the citizen was before.
function back() {
  if (s.citizen) show("citizen");
  else if (s.service && services.some((x) => x.id === s.service.id)) show("service");
  else show("services");
}

function renderMessage() {
  if (!s.message) return;
  const m = s.message();
  $("v-message").dataset.kind = m.kind || "";
  $("v-message").dataset.code = m.code || "";
  $("message-title").textContent = m.title || "";
  $("message-text").textContent = m.text || "";
  $("message-code").textContent = m.ticketCode || "";
  $("message-code").hidden = !m.ticketCode;
  $("message-more").textContent = m.more || "";
  $("message-actions").replaceChildren(
    ...(m.actions || []).map((a) => button(T(a.key), a.primary ? "primary" : "ghost", a.run)),
  );
}

// ---- scanner: a keyboard-wedge reader ----------------------------------------------

const scanner = new Scanner();
let burst = null; // {field, value}: what the focused field held before a burst

document.addEventListener("keydown", (e) => {
  activity();
  if (e.isComposing) return;
  const focused = document.activeElement;
  const field = focused && focused.tagName === "INPUT" ? focused : null;
  const r = scanner.key(e.key, e.timeStamp || performance.now());
  if (r.start) burst = field ? { field, value: field.value } : null;
  if (r.scan) {
    e.preventDefault();
    e.stopPropagation();
    // What the reader typed into a field is not the citizen's.
    if (burst && burst.field) burst.field.value = burst.value;
    burst = null;
    handleScan(r.scan);
    return;
  }
  // No stray typing into the page (Space still presses a focused button).
  if (!field && e.key.length === 1 && e.key !== " ") e.preventDefault();
}, { capture: true });

async function handleScan(text) {
  if (["pairing", "starting"].includes(view) || s.busy) return;
  const identifying = view === "identify" || view === "weak";
  const r = await call("POST", "/api/v1/scan", { body: { text } });
  let res;
  if (r.error && r.status === 404 && r.error.code === "not_found") {
    res = classify(text); // an appliance without /scan: the page's own reading
  } else if (r.error) {
    res = { error: r.error };
  } else {
    res = r.data || {};
  }
  scanned(res, identifying);
}

// scanned acts on what the reader or the camera saw.
function scanned(res, identifying) {
  if (res.error) {
    const err = typeof res.error === "string" ? { code: res.error } : res.error;
    if (!identifying) startSession();
    return showError(err, [{ key: "back", primary: true, run: () => show(identifying ? "identify" : "services") }]);
  }
  if (res.kind === "ticket") {
    startSession();
    return startCheckin(res.token);
  }
  if (res.kind === "fiscal_code") {
    const after = identifying ? s.afterIdentify : null;
    startSession();
    s.afterIdentify = after;
    return cardSwiped(res.fiscal_code);
  }
  showError({ code: "unrecognized_code" });
}

// startSession begins again for whoever is at the screen now: a new scan
// is a new person, or the same one starting over.
function startSession() {
  s = freshSession();
  for (const input of document.querySelectorAll("#main input")) input.value = "";
  activity();
}

// ---- check-in ----------------------------------------------------------------------

async function startCheckin(token) {
  const r = await call("GET", "/api/v1/tickets/" + enc(token));
  if (r.error) return showError(r.error, [{ key: "back", primary: true, run: () => show("services") }]);
  s.checkin = { token, ticket: r.data };
  show("checkin");
}

function renderCheckin() {
  const c = s.checkin;
  if (!c) return;
  const t = c.ticket;
  $("checkin-question").textContent = T(t ? "checkin.question" : "checkin.card");
  $("checkin-card").hidden = !t;
  $("checkin-service").textContent = t ? t.service_name || "" : "";
  $("checkin-when").textContent = t && t.start ? when(t.start) : "";
  $("checkin-code").textContent = t ? t.code || "" : "";
}

$("checkin-no").addEventListener("click", () => (s.citizen ? show("citizen") : reset()));
$("checkin-yes").addEventListener("click", confirmCheckin);

async function confirmCheckin() {
  const c = s.checkin;
  if (!c || s.busy) return;
  const r = c.token
    ? await call("POST", "/api/v1/tickets/" + enc(c.token) + "/checkin")
    : await call("POST", "/api/v1/kiosk/checkin", { body: { fiscal_code: c.fiscal_code } });
  if (r.error) return checkinError(r.error, c);
  const t = r.data || {};
  if (s.citizen) refreshCitizen();
  showMessage(() => {
    const more = [];
    if (t.late) more.push(T("checkin.late"));
    if (t.position !== undefined && t.position !== null) more.push(T("ticket.position", { n: t.position }));
    if (t.estimated_wait_minutes !== undefined && t.estimated_wait_minutes !== null) more.push(T("ticket.wait", { n: t.estimated_wait_minutes }));
    return {
      kind: t.late ? "late" : "ok",
      code: t.late ? "late" : "checked_in",
      title: T("checkin.done"),
      text: T("checkin.done_text", { code: t.code || "" }),
      ticketCode: t.code || "",
      more: more.join(" "),
      actions: [{ key: "close", primary: true, run: () => (s.citizen ? show("citizen") : reset()) }],
    };
  });
}

function checkinError(err, c) {
  const actions = [];
  const svcId = c.ticket && c.ticket.service_id;
  if (err.code === "ticket_expired" && svcId) {
    actions.push({ key: "msg.first_free", primary: true, run: () => walkIn({ id: svcId }) });
  }
  actions.push({ key: "close", primary: actions.length === 0, run: () => (s.citizen ? show("citizen") : reset()) });
  showError(err, actions);
}

// ---- identification --------------------------------------------------------------------

function allows(way) {
  const id = settings.identification;
  return id === "any" || id === way;
}

function renderIdentify() {
  $("identify-card").hidden = !allows("health_card");
  $("identify-weak").hidden = !allows("weak");
  $("identify-none").hidden = settings.identification !== "none";
  renderCameraButtons();
}

$("identify-back").addEventListener("click", () => (s.afterIdentify ? show("service") : show("services")));
$("identify-weak").addEventListener("click", () => {
  s.weakField = "weak-phone";
  show("weak");
});

async function cardSwiped(fiscal) {
  if (!allows("health_card")) {
    // A totem that identifies no one still checks in a swiped card's
    // appointment of today.
    s.checkin = { fiscal_code: fiscal, ticket: null };
    return show("checkin");
  }
  const r = await call("POST", "/api/v1/kiosk/identify", { body: { fiscal_code: fiscal } });
  if (r.error) return showError(r.error, [{ key: "back", primary: true, run: () => show("identify") }]);
  identified({ fiscal_code: fiscal }, r.data);
  const due = s.citizen.appointments.find((a) => a.status === "booked" && (wall(a.start, zone) || {}).date === today());
  if (due && !s.afterIdentify) {
    s.checkin = { fiscal_code: fiscal, ticket: due };
    return show("checkin");
  }
  afterIdentify();
}

function identified(send, data) {
  const info = (data && data.citizen) || {};
  const full = { ...send };
  // Bookings carry the same citizen: what identified them and their names.
  if (info.first_name && !full.first_name) full.first_name = info.first_name;
  if (info.last_name && !full.last_name) full.last_name = info.last_name;
  s.citizen = { send: full, ident: send, info, appointments: (data && data.appointments) || [] };
  s.appointmentPage = 0;
}

function afterIdentify() {
  const svc = s.afterIdentify;
  s.afterIdentify = null;
  if (svc) return bookOtherDay(svc);
  show("citizen");
}

async function refreshCitizen() {
  const c = s.citizen;
  if (!c) return;
  const r = await api("POST", "/api/v1/kiosk/identify", { body: c.ident, auth });
  if (r.error || s.citizen !== c) return;
  c.appointments = (r.data && r.data.appointments) || [];
  c.info = (r.data && r.data.citizen) || c.info;
  if (view === "citizen") renderCitizen();
}

// The weak identification form, typed on the on-screen keyboard.
const keyboard = new Keyboard($("keyboard"), (key) => {
  activity();
  const input = $(s.weakField);
  input.value = applyKey(input.value, key, Number(input.maxLength) > 0 ? Number(input.maxLength) : 60);
  $("weak-error").textContent = "";
}, () => T("kbd.label"));

function renderWeak() {
  for (const id of ["weak-phone", "weak-first", "weak-last"]) {
    const input = $(id);
    input.closest(".field").classList.toggle("active", id === s.weakField);
  }
  keyboard.show(s.weakField === "weak-phone" ? "digits" : "letters", { space: T("kbd.space"), delete: T("kbd.delete") });
}

for (const id of ["weak-phone", "weak-first", "weak-last"]) {
  $(id).addEventListener("focus", () => {
    if (s.weakField !== id) {
      s.weakField = id;
      renderWeak();
    }
  });
}

$("weak-back").addEventListener("click", () => show("identify"));
$("weak-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (s.busy) return;
  const send = {
    phone: $("weak-phone").value.replace(/\s+/g, ""),
    first_name: $("weak-first").value.trim(),
    last_name: $("weak-last").value.trim(),
  };
  const r = await call("POST", "/api/v1/kiosk/identify", { body: send });
  if (r.error) {
    if (["phone_required", "name_required", "invalid_phone"].includes(r.error.code) || r.error.field) {
      $("weak-error").textContent = errText(r.error);
      const to = { phone: "weak-phone", first_name: "weak-first", last_name: "weak-last" }[r.error.field];
      if (to) {
        s.weakField = to;
        renderWeak();
      }
      return;
    }
    return showError(r.error, [{ key: "back", primary: true, run: () => show("weak") }]);
  }
  identified(send, r.data);
  for (const input of document.querySelectorAll("#weak-form input")) input.value = "";
  afterIdentify();
});

// ---- the citizen's appointments ---------------------------------------------------------

function renderCitizen() {
  const c = s.citizen;
  if (!c) return;
  const name = [c.info.first_name, c.info.last_name].filter(Boolean).join(" ");
  $("citizen-hello").textContent = name ? T("citizen.hello", { name }) : T("citizen.hello_anon");
  $("citizen-id").textContent = c.info.masked ? T("citizen.id", { masked: c.info.masked }) : "";
  const list = c.appointments.filter((a) => a.status === "booked" || a.status === "waiting");
  const p = page(list, APPOINTMENTS_PER_PAGE, s.appointmentPage);
  s.appointmentPage = p.index;
  const ul = $("appointments");
  ul.replaceChildren(...p.items.map(appointmentItem));
  if (list.length === 0) ul.append(el("li", "none", T("citizen.none")));
  pager($("appointments-pager"), p, (i) => {
    s.appointmentPage = i;
    renderCitizen();
  }, T("citizen.appointments"));
}

function appointmentItem(a) {
  const li = el("li", "appointment");
  li.dataset.token = a.token;
  li.dataset.status = a.status;
  const w = wall(a.start, zone);
  const info = el("div", "appointment-info");
  info.append(
    el("span", "appointment-service", a.service_name || ""),
    el("span", "appointment-when", a.start ? when(a.start) : ""),
    el("span", "appointment-code", a.code || ""),
    el("span", "appointment-status", T("status." + a.status)),
  );
  const acts = el("div", "appointment-actions");
  if (a.status === "booked" && w && w.date === today()) {
    acts.append(button(T("citizen.checkin"), "primary checkin", () => {
      s.checkin = { token: a.token, ticket: a };
      show("checkin");
    }));
  }
  if (a.status === "booked") {
    acts.append(
      button(T("citizen.move"), "move", () => moveAppointment(a)),
      button(T("citizen.revoke"), "revoke", () => askRevoke(a)),
    );
  }
  acts.append(button(T("citizen.reprint"), "reprint", () => showTicket(a, "ticket.title")));
  li.append(info, acts);
  return li;
}

$("citizen-new").addEventListener("click", () => {
  s.servicePage = 0;
  show("services");
});
$("citizen-logout").addEventListener("click", () => reset());

function askRevoke(a) {
  s.confirm = () => ({
    title: T("revoke.title"),
    text: T("revoke.text", { service: a.service_name || "", date: dayLabel((wall(a.start, zone) || {}).date || "", lang, today()), time: when(a.start, "time"), code: a.code || "" }),
    ok: "revoke.ok",
    back: () => show("citizen"),
    run: () => revoke(a),
  });
  show("confirm");
}

async function revoke(a) {
  if (s.busy) return;
  const r = await call("POST", "/api/v1/tickets/" + enc(a.token) + "/revoke");
  if (r.error) return showError(r.error, [{ key: "back", primary: true, run: () => show("citizen") }]);
  a.status = "revoked";
  refreshCitizen();
  showMessage(() => ({
    kind: "ok",
    code: "revoked",
    title: T("msg.ok"),
    text: T("revoke.done"),
    actions: [{ key: "back", primary: true, run: () => show("citizen") }],
  }));
}

function moveAppointment(a) {
  s.plan = { mode: "move", service: { id: a.service_id, name: a.service_name }, ticket: a };
  loadDays();
}

// ---- another day: days, times, confirmation ------------------------------------------------

function bookOtherDay(svc) {
  if (!svc) return;
  if (!s.citizen) {
    // Booking a day ahead is for identified citizens.
    s.afterIdentify = svc;
    return show("identify");
  }
  s.plan = { mode: "book", service: { id: svc.id, name: svc.name } };
  loadDays();
}

async function loadDays() {
  const plan = s.plan;
  if (!plan || s.busy) return;
  const from = today();
  const r = await call("GET", `/api/v1/services/${enc(plan.service.id)}/availability?from=${from}&to=${addDays(from, AVAILABILITY_DAYS)}`);
  if (r.error) return showError(r.error);
  s.days = ((r.data && r.data.days) || [])
    .map((d) => ({ date: d.date, slots: (d.slots || []).filter((x) => x.free > 0) }))
    .filter((d) => d.slots.length > 0);
  s.dayPage = 0;
  show("days");
}

function renderDays() {
  const plan = s.plan;
  if (!plan) return;
  $("days-service").textContent = plan.service.name || "";
  const p = page(s.days, DAYS_PER_PAGE, s.dayPage);
  s.dayPage = p.index;
  $("day-grid").replaceChildren(
    ...p.items.map((d) => {
      const li = el("li");
      const parts = dayParts(d.date, lang);
      const free = d.slots.reduce((n, x) => n + x.free, 0);
      const b = button("", "day", () => {
        s.day = d;
        s.timePage = 0;
        show("times");
      });
      b.dataset.date = d.date;
      const td = today();
      const near = d.date === td || d.date === addDays(td, 1); // "oggi", "domani"
      b.append(
        el("span", "day-weekday", near ? dayLabel(d.date, lang, td) : parts.weekday),
        el("span", "day-number", parts.day),
        el("span", "day-month", parts.month),
        el("span", "day-free", free === 1 ? T("days.place") : T("days.places", { n: free })),
      );
      li.append(b);
      return li;
    }),
  );
  $("days-none").hidden = s.days.length > 0;
  pager($("days-pager"), p, (i) => {
    s.dayPage = i;
    renderDays();
  }, T("days.title"));
}

$("days-back").addEventListener("click", () => {
  if (s.plan && s.plan.mode === "move") show("citizen");
  else if (s.service) show("service");
  else show("citizen");
});

function renderTimes() {
  const d = s.day;
  if (!d) return;
  $("times-day").textContent = dayLabel(d.date, lang, today());
  const p = page(d.slots, TIMES_PER_PAGE, s.timePage);
  s.timePage = p.index;
  $("time-grid").replaceChildren(
    ...p.items.map((slot) => {
      const li = el("li");
      const b = button(when(slot.start, "time"), "time", () => chooseSlot(slot));
      b.dataset.start = slot.start;
      li.append(b);
      return li;
    }),
  );
  pager($("times-pager"), p, (i) => {
    s.timePage = i;
    renderTimes();
  }, T("times.title"));
}

$("times-back").addEventListener("click", () => show("days"));

function chooseSlot(slot) {
  s.slot = slot;
  const plan = s.plan;
  s.confirm = () => {
    const w = wall(slot.start, zone) || {};
    const vars = { service: plan.service.name || "", date: dayLabel(w.date || "", lang, today()), time: w.time || "" };
    return plan.mode === "move"
      ? { title: T("confirm.title"), text: T("confirm.move", { ...vars, code: plan.ticket.code || "" }), ok: "confirm.ok", back: () => show("times"), run: book }
      : { title: T("confirm.title"), text: T("confirm.book", vars), ok: "confirm.ok", back: () => show("times"), run: book };
  };
  show("confirm");
}

function renderConfirm() {
  if (!s.confirm) return;
  const c = s.confirm();
  $("confirm-title").textContent = c.title;
  $("confirm-text").textContent = c.text;
  $("confirm-yes").textContent = T(c.ok);
}

$("confirm-yes").addEventListener("click", () => s.confirm && s.confirm().run());
$("confirm-no").addEventListener("click", () => s.confirm && s.confirm().back());

async function book() {
  const plan = s.plan;
  if (!plan || !s.slot || s.busy) return;
  let r;
  if (plan.mode === "move") {
    r = await call("POST", "/api/v1/tickets/" + enc(plan.ticket.token) + "/move", { body: { start: s.slot.start }, key: newKey() });
  } else {
    r = await call("POST", "/api/v1/tickets", {
      body: { service_id: plan.service.id, start: s.slot.start, citizen: s.citizen.send },
      key: newKey(),
    });
  }
  if (r.error) return bookingError(r.error, null);
  s.plan = null;
  showTicket(r.data, plan.mode === "move" ? "moved.title" : "booked.title");
}

// ---- camera ---------------------------------------------------------------------------

async function detectCamera() {
  try {
    const devices = await navigator.mediaDevices.enumerateDevices();
    hasCamera = devices.some((d) => d.kind === "videoinput");
  } catch {
    hasCamera = false;
  }
  body.dataset.camera = hasCamera ? "yes" : "no";
  renderCameraButtons();
}

function renderCameraButtons() {
  for (const b of document.querySelectorAll(".camera-button")) b.hidden = !hasCamera;
}

$("scan-camera").addEventListener("click", () => startCamera("scan"));
$("identify-camera").addEventListener("click", () => startCamera("identify"));
$("camera-back").addEventListener("click", () => show(camera && camera.from ? camera.from : "services"));

async function startCamera(from) {
  stopCamera();
  show("camera");
  $("camera-status").textContent = "";
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false });
  } catch {
    $("camera-status").textContent = T("camera.unavailable");
    return;
  }
  if (view !== "camera") {
    stream.getTracks().forEach((t) => t.stop());
    return;
  }
  const video = $("camera-video");
  video.srcObject = stream;
  video.play().catch(() => {});
  camera = { stream, from, since: Date.now(), timer: setTimeout(grab, CAMERA_EVERY_MS) };
}

// grab sends one frame to the appliance, which reads QR codes and the
// card's barcode; it tries again until it sees one or gives up.
async function grab() {
  const cam = camera;
  if (!cam || view !== "camera") return;
  const video = $("camera-video");
  const w = video.videoWidth;
  const h = video.videoHeight;
  if (w && h) {
    const scale = Math.min(1, 1280 / Math.max(w, h));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(w * scale);
    canvas.height = Math.round(h * scale);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((res) => canvas.toBlob(res, "image/jpeg", 0.9));
    if (blob && camera === cam) {
      const r = await api("POST", "/api/v1/scan", { blob, auth });
      if (camera !== cam) return;
      if (!r.error) {
        stopCamera();
        return scanned(r.data || {}, cam.from === "identify");
      }
      if (r.error.code !== "no_code_found" && r.error.code !== "unrecognized_code") {
        stopCamera();
        return scanned({ error: r.error }, cam.from === "identify");
      }
      $("camera-status").textContent = T("err." + r.error.code);
    }
  }
  if (Date.now() - cam.since > CAMERA_GIVE_UP_MS) {
    stopCamera();
    return showError({ code: "no_code_found" }, [{ key: "back", primary: true, run: () => show(cam.from) }]);
  }
  cam.timer = setTimeout(grab, CAMERA_EVERY_MS);
}

function stopCamera() {
  if (!camera) return;
  clearTimeout(camera.timer);
  camera.stream.getTracks().forEach((t) => t.stop());
  const video = $("camera-video");
  video.pause();
  video.srcObject = null;
  camera = null;
}

// ---- for tests and diagnostics: read-only ----------------------------------------------------

Object.defineProperty(window, "avantiKiosk", {
  value: Object.freeze({
    get state() {
      return body.dataset.state;
    },
    get view() {
      return view;
    },
    get lang() {
      return lang;
    },
    get busy() {
      return s.busy;
    },
    get services() {
      return services.map((x) => x.id);
    },
    get servicePage() {
      return s.servicePage;
    },
    get identified() {
      return !!s.citizen;
    },
    get ticket() {
      return s.ticket ? { token: s.ticket.ticket.token, code: s.ticket.ticket.code, print: { ...s.ticket.print } } : null;
    },
    get printer() {
      return printer;
    },
    get printing() {
      return printJob ? printJob.token : "";
    },
    get settings() {
      return JSON.parse(JSON.stringify(settings));
    },
    get camera() {
      return hasCamera;
    },
    get idleLeft() {
      return Math.ceil(idleSec() - (Date.now() - lastActivity) / 1000);
    },
    get seq() {
      return live ? live.seq : 0;
    },
    // settled: no reload of the services pending or on its way.
    get settled() {
      return !refreshTimer && !refreshing;
    },
    get pageVersion() {
      return PAGE_VERSION;
    },
  }),
});

boot();
