// The page the ticket's QR code opens on a citizen's phone (/t/<token>
// redirects here): the ticket's status, code, service and time, its place
// in the queue and the estimated wait, refreshed by itself. It shows
// nothing personal: the ticket's API view has no citizen data.

import { api } from "./api.js";
import { t as tr } from "./i18n.js";
import { wall, wallAt, whenLabel } from "./wall.js";

const REFRESH_MS = 20000;
const $ = (id) => document.getElementById(id);
const token = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
const LANG_KEY = "avanti.ticket.lang";
// Italian first, as everywhere; a citizen who chose English keeps it.
let lang = stored() === "en" ? "en" : "it";
let ticket = null;
let missing = false;
let offline = false;
let updated = 0;

const T = (key, vars) => tr(lang, key, vars);

async function refresh() {
  const r = await api("GET", "/api/v1/tickets/" + encodeURIComponent(token));
  if (r.error && r.error.code === "network") {
    offline = true; // keep what was shown
  } else if (r.error) {
    offline = false;
    missing = true;
    ticket = null;
  } else {
    offline = false;
    missing = false;
    ticket = r.data;
    updated = Date.now();
  }
  render();
}

function render() {
  document.documentElement.lang = lang;
  const st = missing ? "missing" : ticket ? ticket.status : "loading";
  document.body.dataset.state = st;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = T(el.dataset.i18n);
  $("lang").textContent = T("lang.switch");
  $("lang").setAttribute("lang", lang === "it" ? "en" : "it");
  $("lang").setAttribute("aria-label", T("lang.switch.label"));
  $("offline").textContent = offline ? T("err.network") : "";
  $("offline").hidden = !offline;
  $("missing").textContent = missing ? T("public.not_found") : "";
  $("missing").hidden = !missing;
  $("card").hidden = !ticket;
  $("updated").textContent = updated ? T("public.refresh", { time: wallAt(updated).time }) : "";
  if (!ticket) return;
  const t = ticket;
  $("service").textContent = t.service_name || "";
  $("code").textContent = t.code || "";
  $("status").textContent = t.status === "called" && t.desk
    ? T("public.called", { desk: t.desk.name || t.desk.number || "" })
    : T("status." + t.status);
  $("status").dataset.status = t.status;
  const w = wall(t.start);
  $("when").textContent = w ? whenLabel(t.start, lang, wallAt(Date.now()).date) : "";
  const waiting = t.status === "waiting";
  const hasPos = waiting && t.position !== undefined && t.position !== null;
  const hasWait = waiting && t.estimated_wait_minutes !== undefined && t.estimated_wait_minutes !== null;
  $("queue").hidden = !hasPos && !hasWait;
  $("position-label").textContent = T("public.position");
  $("position").textContent = hasPos ? String(t.position) : "—";
  $("wait-label").textContent = T("public.wait");
  $("wait").textContent = hasWait ? T("public.minutes", { n: t.estimated_wait_minutes }) : "—";
  const hint = { booked: "public.booked", waiting: "public.waiting", called: "", serving: "" }[t.status];
  $("hint").textContent = hint === undefined ? T("public.over") : hint ? T(hint) : "";
}

function stored() {
  try {
    return localStorage.getItem(LANG_KEY);
  } catch {
    return null;
  }
}

$("lang").addEventListener("click", () => {
  lang = lang === "it" ? "en" : "it";
  try {
    localStorage.setItem(LANG_KEY, lang);
  } catch {
    // storage disabled: the choice lasts as long as the page
  }
  render();
});

// The phone may sleep: refresh when the page is looked at again.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") refresh();
});

render();
refresh();
setInterval(refresh, REFRESH_MS);
