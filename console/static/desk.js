// The desk app: the operator picks a desk and its services, then calls the
// next citizen with one big button (Space or F2), serves them and says how
// it ended. The desk's state lives on the appliance, so a reload or a
// second tab shows the same desk; /ws/desk keeps the side panel (queues of
// the desk's services) and the desk itself live.

import { api, Intent } from "./api.js";
import { boot } from "./shell.js";
import { Live } from "./live.js";
import { $, $$, el, options, checks, clearErrors, showError, showErrors, message, busy } from "./forms.js";
import { t, has, lang, time } from "./i18n.js";
import { defaultServices, myDesk, mergeDesk, reasonText, punctuality, elapsed } from "./logic.js";

const DESK_KEY = "avanti.console.desk";
const SERVICES_KEY = "avanti.console.services";
const REASON_KEY = "avanti.console.reason.";
const UPCOMING_MIN_MS = 1500;

const page = {
  user: null,
  services: [], // [{id, name, prefix}]
  desks: [],
  queue: [], // ServiceStatus
  desk: null, // the desk at work, or null while choosing
  current: null,
  reasons: [],
  live: null,
  intent: new Intent(),
  upcomingAt: 0,
  upcomingTimer: null,
  serverOffset: 0,
};

// The test hook: what the page shows, for the browser tests.
window.avantiDesk = page;

function stored(key) {
  try {
    return JSON.parse(localStorage.getItem(key));
  } catch {
    return null;
  }
}

function store(key, v) {
  try {
    localStorage.setItem(key, JSON.stringify(v));
  } catch {
    // private mode: the defaults will do
  }
}

function serviceName(id) {
  const s = page.services.find((x) => x.id === id);
  return s ? s.name : `#${id}`;
}

function say(text, kind = "info") {
  const m = $("#desk-message");
  m.textContent = text;
  m.dataset.kind = kind;
}

// ---- choosing a desk

function deskLabel(d) {
  const where = d.room_name ? ` — ${d.room_name}` : "";
  let state = "";
  if (d.state !== "closed" && d.operator_id && d.operator_id !== page.user.id) {
    state = " " + t("desk.taken_by", { name: d.operator_name || "#" + d.operator_id });
  }
  return `${d.name}${where}${state}`;
}

function showChoose(preselect) {
  page.desk = null;
  page.current = null;
  document.body.dataset.desk = "choose";
  $("#desk-work").hidden = true;
  $("#desk-choose").hidden = false;
  const select = $("#desk-select");
  options(
    select,
    page.desks.map((d) => ({ value: d.id, label: deskLabel(d) })),
  );
  for (const o of select.options) {
    const d = page.desks.find((x) => String(x.id) === o.value);
    o.disabled = !!(d && d.state !== "closed" && d.operator_id && d.operator_id !== page.user.id);
  }
  if (preselect) select.value = String(preselect.id);
  if (select.selectedOptions[0] && select.selectedOptions[0].disabled) {
    const free = [...select.options].find((o) => !o.disabled);
    if (free) select.value = free.value;
  }
  const ids = page.services.map((s) => s.id);
  const chosen = defaultServices(page.user.service_ids, stored(SERVICES_KEY), ids);
  page.readChoice = checks(
    $("#service-choices"),
    page.services.map((s) => ({ value: s.id, label: `${s.prefix} · ${s.name}` })),
    chosen,
  );
  select.focus();
}

async function openDesk(e) {
  e.preventDefault();
  const form = $("#open-form");
  clearErrors(form);
  const id = Number(form.elements.desk_id.value);
  const serviceIDs = page.readChoice();
  const errs = {};
  if (!id) errs.desk_id = t("invalid.required");
  if (!serviceIDs.length) errs.service_ids = t("desk.choose_service");
  if (showErrors(form, errs)) return;
  await busy($("#open-desk"), async () => {
    try {
      const d = await page.intent.run("open", (key) => api("POST", `/desks/${id}/open`, { service_ids: serviceIDs }, { key }));
      store(DESK_KEY, id);
      store(SERVICES_KEY, serviceIDs);
      showWork(d);
    } catch (err) {
      showError(form, err);
    }
  });
}

// ---- at work

function showWork(d) {
  document.body.dataset.desk = "work";
  $("#desk-choose").hidden = true;
  $("#desk-work").hidden = false;
  apply(d, undefined);
  refreshUpcoming(true);
  $("#call-next").focus();
}

// currentOf is the desk's current ticket from an answer: the desk's own
// current_ticket when it has one, else the ticket the action answered with
// when it is the desk's current one.
function currentOf(d, ticket) {
  if (d.current_ticket) return d.current_ticket;
  const id = d.current_ticket_id;
  if (!id) return null;
  if (ticket && ticket.id === id) return ticket;
  if (page.current && page.current.id === id) return page.current;
  return null;
}

function apply(d, ticket) {
  page.desk = d;
  page.desks = mergeDesk(page.desks, d);
  page.current = currentOf(d, ticket);
  render();
}

function render() {
  const d = page.desk;
  if (!d) return;
  const cur = page.current;
  document.body.dataset.deskState = d.state;
  $("#desk-name").textContent = d.name + (d.room_name ? ` — ${d.room_name}` : "");
  const badge = $("#desk-state");
  badge.textContent = d.state === "paused" ? `${t("desk.state.paused")}: ${pauseLabel(d.pause_reason)}` : t("desk.state." + d.state);
  badge.dataset.state = d.state;
  $("#desk-services").textContent = t("desk.serving_services", { list: (d.service_ids || []).map(serviceName).join(", ") });

  const callable = d.state === "open" && !cur;
  const call = $("#call-next");
  call.disabled = !callable;
  if (d.state === "paused") $("#call-help").textContent = t("desk.call_help_paused");
  else if (cur) $("#call-help").textContent = t("desk.call_help_busy");
  else $("#call-help").textContent = t("desk.call_help");

  $("#current-none").hidden = !!cur;
  $("#current-ticket").hidden = !cur;
  const status = cur ? cur.status : "";
  const enable = {
    recall: status === "called",
    start: status === "called",
    "no-show": status === "called",
    finish: status === "serving",
  };
  for (const b of $$("#current .actions button[data-action]")) b.disabled = !enable[b.dataset.action];
  $("#transfer-open").disabled = !(status === "called" || status === "serving");
  $("#pause").disabled = !(d.state === "open" && !cur);
  $("#pause-reason").disabled = !(d.state === "open" && !cur);
  $('button[data-action="resume"]').disabled = d.state !== "paused";
  $("#close-desk").disabled = !!cur;

  if (cur) {
    $("#cur-code").textContent = cur.code;
    $("#cur-service").textContent = cur.service_name || serviceName(cur.service_id);
    $("#cur-appointment").textContent = cur.walk_in ? t("desk.walk_in", { time: time(cur.start) }) : time(cur.start) + (cur.late ? ` (${t("desk.late")})` : "");
    $("#cur-status").textContent = t("status." + cur.status);
    const c = cur.citizen || null;
    const name = c ? [c.first_name, c.last_name].filter(Boolean).join(" ") : "";
    $("#cur-citizen").textContent = name || (c && c.fiscal_code) || "";
    $("#cur-phone").textContent = (c && c.phone) || "";
    for (const e of $$(".name-row")) e.hidden = !(name || (c && c.fiscal_code));
    for (const e of $$(".phone-row")) e.hidden = !(c && c.phone);
    $("#cur-note").textContent = cur.note || "";
    for (const e of $$(".note-row")) e.hidden = !cur.note;
    const reason = reasonFor(cur.id);
    $("#why").hidden = !reason;
    $("#why-text").textContent = reason ? reasonText(reason, t) : "";
  }
  renderQueue();
}

function pauseLabel(code) {
  const r = page.reasons.find((x) => x.code === code);
  if (lang !== "it" && has("pause." + code)) return t("pause." + code);
  return r ? r.label : t("pause." + code);
}

function reasonFor(ticketID) {
  try {
    return JSON.parse(sessionStorage.getItem(REASON_KEY + ticketID));
  } catch {
    return null;
  }
}

// act runs one desk action: one request per intent (a double click is one
// action, with one Idempotency-Key), the desk and ticket from the answer.
// It returns the error the appliance answered with, or null.
async function act(action, body, button, { quiet = false } = {}) {
  const d = page.desk;
  if (!d) return null;
  return busy(button, async () => {
    try {
      const res = await page.intent.run(action, (key) => api("POST", `/desks/${d.id}/${action}`, body, { key }));
      if (action === "call-next" && res === null) {
        say(t("desk.nobody_waiting"), "info");
        return null;
      }
      say("", "info");
      if (res && res.reason && res.ticket) {
        try {
          sessionStorage.setItem(REASON_KEY + res.ticket.id, JSON.stringify(res.reason));
        } catch {
          // the reason is shown now anyway
        }
      }
      const desk = res && res.desk ? res.desk : res;
      if (action === "close") {
        page.desks = mergeDesk(page.desks, desk);
        showChoose(desk);
        return null;
      }
      if (desk && desk.id) apply(desk, res.ticket);
      if (action === "call-next" && page.current) say(t("desk.called", { code: page.current.code }), "ok");
      refreshUpcoming();
      return null;
    } catch (err) {
      if (!quiet) say(message(err), "error");
      if (err.code === "not_your_desk" || err.code === "desk_closed" || err.code === "desk_taken") {
        await reloadDesks();
      }
      return err;
    }
  });
}

async function reloadDesks() {
  const res = await api("GET", "/desks");
  page.desks = res.desks || [];
  const mine = myDesk(page.desks, page.user.id, null);
  if (mine.open) showWork(mine.desk);
  else showChoose(page.desk);
}

function callNext() {
  const b = $("#call-next");
  if (b.disabled || !page.desk) return;
  return act("call-next", null, b);
}

// Space and F2 call the next citizen, except where Space types or presses
// something else (a field, a button, a link) or a dialog is open.
function onKey(e) {
  if (!page.desk || e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
  if (document.querySelector("dialog[open]")) return;
  if (e.key === "F2") {
    e.preventDefault();
    callNext();
    return;
  }
  if (e.key === " " || e.code === "Space") {
    const tag = e.target && e.target.closest ? e.target.closest("input, textarea, select, button, a, summary, [contenteditable], [role=button]") : null;
    if (tag) return;
    e.preventDefault();
    callNext();
  }
}

// ---- side panel

function renderQueue() {
  const d = page.desk;
  const tbody = $("#queue-table tbody");
  const ids = new Set(d ? d.service_ids || [] : []);
  const rows = page.queue.filter((s) => ids.has(s.id));
  tbody.replaceChildren(
    ...rows.map((s) =>
      el(
        "tr",
        { dataset: { service: s.id } },
        el("th", { scope: "row", text: `${s.prefix} · ${s.name}` }),
        el("td", { class: "num", text: s.waiting }),
        el("td", { dataset: { state: s.punctuality ? s.punctuality.state : "" }, text: punctuality(s.punctuality, t, lang) }),
        el("td", { text: s.last_called || "—" }),
      ),
    ),
  );
}

function refreshUpcoming(now) {
  clearTimeout(page.upcomingTimer);
  const wait = now ? 0 : Math.max(0, page.upcomingAt + UPCOMING_MIN_MS - Date.now());
  page.upcomingTimer = setTimeout(loadUpcoming, wait);
}

async function loadUpcoming() {
  const d = page.desk;
  if (!d) return;
  page.upcomingAt = Date.now();
  const list = $("#upcoming");
  try {
    const res = await api("GET", `/desks/${d.id}/upcoming`);
    const tickets = (res && res.tickets) || [];
    if (!tickets.length) {
      list.replaceChildren(el("li", { class: "muted", text: t("desk.no_upcoming") }));
      return;
    }
    list.replaceChildren(
      ...tickets.map((tk) =>
        el(
          "li",
          { dataset: { status: tk.status } },
          el("strong", { class: "code", text: tk.code }),
          " ",
          el("span", { text: tk.service_name }),
          " ",
          el("span", { class: "muted", text: (tk.walk_in ? t("desk.walk_in_short") + " " : "") + time(tk.start) + " · " + t("status." + tk.status) }),
        ),
      ),
    );
  } catch (err) {
    list.replaceChildren(el("li", { class: "muted", text: message(err) }));
  }
}

function startLive() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  page.live = new Live({
    url: () => `${proto}//${location.host}/ws/desk`,
    onSnapshot: (msg) => {
      page.queue = msg.services || [];
      if (msg.server_time) page.serverOffset = Date.parse(msg.server_time) - Date.now();
      page.desks = msg.desks || page.desks;
      const mine = page.desk && page.desks.find((x) => x.id === page.desk.id);
      if (mine) followDesk(mine);
      else renderQueue();
      refreshUpcoming();
    },
    onEvent: (msg) => {
      if (msg.type === "queue") {
        page.queue = msg.services || page.queue;
        renderQueue();
        refreshUpcoming();
      } else if (msg.type === "desk" && msg.desk) {
        page.desks = mergeDesk(page.desks, msg.desk);
        if (page.desk && msg.desk.id === page.desk.id) followDesk(msg.desk);
      }
    },
    onState: (s) => {
      const e = $("#live-state");
      e.dataset.state = s;
      e.textContent = t("live." + s);
    },
  });
  page.live.start();
}

// followDesk applies what another tab (or a supervisor) did to this desk.
function followDesk(d) {
  if (d.state === "closed" || (d.operator_id && d.operator_id !== page.user.id)) {
    showChoose(d);
    say(t("desk.closed_elsewhere"), "info");
    return;
  }
  apply(d, undefined);
}

// ---- dialogs and forms

function wire() {
  $("#open-form").addEventListener("submit", openDesk);
  $("#call-next").addEventListener("click", () => callNext());
  for (const b of $$("button[data-action]")) {
    b.addEventListener("click", () => act(b.dataset.action, null, b));
  }
  $("#pause-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const reason = $("#pause-reason").value;
    if (!reason) return;
    act("pause", { reason }, $("#pause"));
  });
  const dlg = $("#transfer-dialog");
  const form = $("#transfer-form");
  $("#transfer-open").addEventListener("click", () => {
    clearErrors(form);
    const cur = page.current;
    options(
      $("#transfer-service"),
      page.services.filter((s) => !cur || s.id !== cur.service_id).map((s) => ({ value: s.id, label: `${s.prefix} · ${s.name}` })),
    );
    form.elements.note.value = (cur && cur.note) || "";
    dlg.showModal();
    $("#transfer-service").focus();
  });
  form.querySelector("[data-close]").addEventListener("click", () => dlg.close());
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const serviceID = Number(form.elements.service_id.value);
    if (showErrors(form, serviceID ? {} : { service_id: t("invalid.required") })) return;
    const err = await act("transfer", { service_id: serviceID, note: form.elements.note.value.trim() }, form.querySelector("button[type=submit]"), { quiet: true });
    if (err === undefined) return; // already on its way
    if (err) {
      showError(form, err);
      return;
    }
    dlg.close();
    say(t("desk.transferred", { service: serviceName(serviceID) }), "ok");
    $("#call-next").focus();
  });
  document.addEventListener("keydown", onKey);
  // Time in state, ticking.
  setInterval(() => {
    const d = page.desk;
    if (d && d.state_since) $("#desk-state").title = t("desk.since", { time: elapsed(d.state_since, Date.now() + page.serverOffset) });
  }, 1000);
}

async function loadReasons() {
  try {
    const res = await api("GET", "/pause-reasons");
    page.reasons = res.reasons || [];
  } catch {
    page.reasons = ["break", "back_office", "training", "meeting", "technical", "other"].map((code) => ({ code, label: t("pause." + code) }));
  }
  options(
    $("#pause-reason"),
    page.reasons.map((r) => ({ value: r.code, label: lang !== "it" && has("pause." + r.code) ? t("pause." + r.code) : r.label })),
  );
}

boot(async (user) => {
  page.user = user;
  wire();
  const [services, desks] = await Promise.all([api("GET", "/services"), api("GET", "/desks"), loadReasons()]);
  page.services = (services.services || []).slice().sort((a, b) => a.prefix.localeCompare(b.prefix));
  page.desks = desks.desks || [];
  const { desk, open } = myDesk(page.desks, user.id, stored(DESK_KEY));
  if (open) showWork(desk);
  else showChoose(desk);
  startLive();
});
