// The agendas of a service: a weekly editor (days × time ranges × slot
// length × places, validity dates, exceptions) whose result is previewed
// (the slots of the next 14 days and the booked tickets that would lose
// their place) before it can be saved.

import { api } from "./api.js";
import { boot } from "./shell.js";
import { $, $$, el, options, clearErrors, showError, showErrors, notice, busy } from "./forms.js";
import { t, day, time } from "./i18n.js";
import { agendaBody, validateAgenda, previewDay, ymd, isoDay, WEEK, fieldOfMessage } from "./logic.js";

const page = { services: [], agendas: [], serviceID: 0, previewed: null, preview: null };
window.avantiAgendas = page;

function input(attrs) {
  return el("input", attrs);
}

const hhmm = (value, label, part) => input({ type: "text", class: "hhmm", inputmode: "numeric", placeholder: "hh:mm", value: value || "", "aria-label": label, "data-part": part });

// A row's inputs are named by renumber() with their API field path.
function rangeRow(r = { weekday: 1, start: "08:30", end: "12:30", slot_minutes: 15, places: 1 }) {
  const weekday = el("select", { "aria-label": t("agendas.weekday"), "data-part": "weekday" }, ...WEEK.map((d) => el("option", { value: d, text: t("weekday." + isoDay(d)) })));
  weekday.value = String(r.weekday ?? 1);
  const tr = el(
    "tr",
    { class: "range" },
    el("td", {}, weekday),
    el("td", {}, hhmm(r.start, t("agendas.start"), "start")),
    el("td", {}, hhmm(r.end, t("agendas.end"), "end")),
    el("td", {}, input({ type: "number", min: 1, max: 1440, value: r.slot_minutes, class: "short", "aria-label": t("agendas.slot_min"), "data-part": "slot_minutes" })),
    el("td", {}, input({ type: "number", min: 0, max: 1000, value: r.places, class: "short", "aria-label": t("agendas.capacity"), "data-part": "places" })),
    el("td", {}, el("button", { type: "button", class: "link", onclick: () => removeRow(tr) }, t("remove"))),
  );
  return tr;
}

function exceptionRow(x = { day: "", kind: "closed", start: "", end: "", slot_minutes: 15, places: 1 }) {
  const kind = el("select", { "aria-label": t("agendas.kind"), "data-part": "kind" }, el("option", { value: "closed", text: t("agendas.closed") }), el("option", { value: "open", text: t("agendas.hours") }));
  kind.value = x.kind === "open" ? "open" : "closed";
  const tr = el(
    "tr",
    { class: "exception" },
    el("td", {}, input({ type: "date", value: x.day || "", "aria-label": t("agendas.date"), "data-part": "day" })),
    el("td", {}, kind),
    el("td", {}, hhmm(x.start, t("agendas.start"), "start")),
    el("td", {}, hhmm(x.end, t("agendas.end"), "end")),
    el("td", {}, input({ type: "number", min: 1, max: 1440, value: x.slot_minutes || 15, class: "short", "aria-label": t("agendas.slot_min"), "data-part": "slot_minutes" })),
    el("td", {}, input({ type: "number", min: 1, max: 1000, value: x.places || 1, class: "short", "aria-label": t("agendas.capacity"), "data-part": "places" })),
    el("td", {}, el("button", { type: "button", class: "link", onclick: () => removeRow(tr) }, t("remove"))),
  );
  kind.addEventListener("change", () => slotsEnabled(tr));
  slotsEnabled(tr);
  return tr;
}

// A closed day may name the hours it is closed; only an open one has slots.
function slotsEnabled(tr) {
  const open = tr.querySelector('[data-part="kind"]').value === "open";
  for (const p of ["slot_minutes", "places"]) tr.querySelector(`[data-part="${p}"]`).disabled = !open;
}

function removeRow(tr) {
  const next = tr.nextElementSibling || tr.previousElementSibling;
  tr.remove();
  renumber();
  stale();
  const f = next && next.querySelector("input, select");
  (f || $("#range-add")).focus();
}

function part(tr, name) {
  const f = tr.querySelector(`[data-part="${name}"]`);
  return f ? f.value : "";
}

function readBody() {
  const form = $("#agenda-form");
  const rows = (sel) => $$(sel).map((tr) => Object.fromEntries([...tr.querySelectorAll("[data-part]")].map((f) => [f.dataset.part, f.value])));
  const meta = { name: form.elements.name.value, valid_from: form.elements.valid_from.value, valid_to: form.elements.valid_to.value, open_on_holidays: form.elements.open_on_holidays.checked };
  return agendaBody(meta, rows("#ranges-table tbody tr"), rows("#exceptions-table tbody tr"));
}

// renumber names every row's inputs with its API field path, so that an
// error about ranges[2].start lands on the third row's start.
function renumber() {
  for (const [sel, list] of [["#ranges-table tbody tr", "ranges"], ["#exceptions-table tbody tr", "exceptions"]]) {
    $$(sel).forEach((tr, i) => {
      for (const f of tr.querySelectorAll("[data-part]")) f.name = `${list}[${i}].${f.dataset.part}`;
    });
  }
}

// stale: what the form says is no longer what was previewed.
function stale() {
  const same = page.previewed !== null && JSON.stringify(readBody()) === page.previewed;
  $("#agenda-save").disabled = !same;
  $("#agenda-preview-out").dataset.stale = same ? "false" : "true";
}

function fillForm(a) {
  const form = $("#agenda-form");
  clearErrors(form);
  form.elements.agenda_id.value = a && a.id ? a.id : "";
  form.elements.name.value = (a && a.name) || "";
  form.elements.valid_from.value = (a && a.valid_from) || ymd(new Date());
  form.elements.valid_to.value = (a && a.valid_to) || "";
  form.elements.open_on_holidays.checked = !!(a && a.open_on_holidays);
  const ranges = a && a.ranges && a.ranges.length ? a.ranges : [undefined];
  $("#ranges-table tbody").replaceChildren(...ranges.map((r) => rangeRow(r)));
  $("#exceptions-table tbody").replaceChildren(...((a && a.exceptions) || []).map((x) => exceptionRow(x)));
  $("#agenda-form-title").textContent = a && a.id ? t("agendas.edit", { name: a.name }) : t("agendas.new");
  page.previewed = null;
  $("#agenda-preview-out").hidden = true;
  $("#agenda-result").textContent = "";
  renumber();
  stale();
}

function renderAgendas() {
  const ranges = (a) => (a.ranges || []).map((r) => `${t("weekday_short." + isoDay(r.weekday))} ${r.start}–${r.end}`).join(", ");
  $("#agenda-table tbody").replaceChildren(
    ...page.agendas.map((a) =>
      el(
        "tr",
        { dataset: { id: a.id } },
        el("th", { scope: "row", text: a.name }),
        el("td", { text: a.valid_from ? day(a.valid_from) : "" }),
        el("td", { text: a.valid_to ? day(a.valid_to) : "—" }),
        el("td", { text: ranges(a) }),
        el("td", {}, el("button", { type: "button", class: "link", "aria-label": t("edit_named", { name: a.name }), onclick: () => { fillForm(a); $("#ag-name").focus(); } }, t("edit"))),
      ),
    ),
  );
}

async function loadAgendas() {
  if (!page.serviceID) return;
  const res = await api("GET", `/services/${page.serviceID}/agendas`);
  page.agendas = res.agendas || [];
  renderAgendas();
}

function checkForm() {
  const form = $("#agenda-form");
  clearErrors(form);
  renumber();
  const body = readBody();
  const texts = Object.fromEntries(Object.entries(validateAgenda(body)).map(([k, [key, p]]) => [k, t(key, p)]));
  if (texts.ranges) {
    texts["ranges[0].start"] = texts.ranges;
    delete texts.ranges;
  }
  if (showErrors(form, texts)) return null;
  return body;
}

// refused shows the appliance's refusal next to its field: the agenda's
// rules name the row in the message ("ranges[1].end: must be after start").
function refused(form, err) {
  const at = err && err.field === "agenda" ? fieldOfMessage(err) : null;
  // "ranges[1]: overlaps …" is about the row: shown at its start.
  if (at && showErrors(form, { [/\]$/.test(at.field) ? at.field + ".start" : at.field]: at.text })) return;
  showError(form, err);
}

function renderPreview(res) {
  const out = $("#agenda-preview-out");
  out.hidden = false;
  const affected = res.affected_tickets || [];
  $("#affected").hidden = affected.length === 0;
  $("#no-affected").hidden = affected.length > 0;
  $("#affected-table tbody").replaceChildren(
    ...affected.map((x) => el("tr", {}, el("th", { scope: "row", text: x.code }), el("td", { text: `${day(String(x.start).slice(0, 10))} ${time(x.start)}` }), el("td", { text: t("status." + x.status) }))),
  );
  $("#preview-table tbody").replaceChildren(
    ...(res.days || []).map((d) => {
      const s = previewDay(d);
      return el(
        "tr",
        { dataset: { date: d.date, slots: s.slots } },
        el("th", { scope: "row", text: day(d.date) }),
        el("td", { class: "num", text: s.slots }),
        el("td", { class: "num", text: s.places }),
        el(
          "td",
          {},
          s.slots
            ? el("details", {}, el("summary", { text: `${time(s.first)}–${time(s.last)}` }), el("p", { class: "slots", text: d.slots.map((x) => `${time(x.start)} (${x.capacity})`).join(" · ") }))
            : t("agendas.closed_day"),
        ),
      );
    }),
  );
}

async function preview() {
  const body = checkForm();
  if (!body) return;
  const form = $("#agenda-form");
  const id = Number(form.elements.agenda_id.value) || 0;
  await busy($("#agenda-preview"), async () => {
    try {
      const res = await api("POST", `/services/${page.serviceID}/agendas/preview`, id ? { ...body, agenda_id: id } : body);
      page.preview = res;
      page.previewed = JSON.stringify(body);
      renderPreview(res);
      stale();
      $("#agenda-save").focus();
    } catch (err) {
      refused(form, err);
    }
  });
}

async function save(e) {
  e.preventDefault();
  const body = checkForm();
  if (!body) return;
  if (JSON.stringify(body) !== page.previewed) {
    stale();
    return;
  }
  const form = $("#agenda-form");
  const id = Number(form.elements.agenda_id.value) || 0;
  await busy($("#agenda-save"), async () => {
    try {
      const res = id ? await api("PUT", `/services/${page.serviceID}/agendas/${id}`, body) : await api("POST", `/services/${page.serviceID}/agendas`, body);
      const n = (k) => {
        const v = res && res.slots ? res.slots[k] : res && res[k];
        return Array.isArray(v) ? v.length : Number(v) || 0;
      };
      const affected = (res && res.affected_tickets) || [];
      const text = t("agendas.saved", { added: n("added"), removed: n("removed"), closed: n("closed"), affected: affected.length });
      $("#agenda-result").textContent = text;
      notice(text);
      await loadAgendas();
      fillForm(res && res.agenda ? res.agenda : { ...body, id });
      $("#agenda-result").textContent = text;
    } catch (err) {
      refused(form, err);
    }
  });
}

boot(async () => {
  const res = await api("GET", "/services");
  page.services = (res.services || []).slice().sort((a, b) => a.prefix.localeCompare(b.prefix));
  const sel = $("#agenda-service");
  options(sel, page.services.map((s) => ({ value: s.id, label: `${s.prefix} · ${s.name}` })));
  const want = new URLSearchParams(location.search).get("service");
  if (want && page.services.some((s) => String(s.id) === want)) sel.value = want;
  page.serviceID = Number(sel.value) || 0;
  sel.addEventListener("change", async () => {
    page.serviceID = Number(sel.value) || 0;
    fillForm(null);
    await loadAgendas();
  });
  const form = $("#agenda-form");
  form.addEventListener("input", stale);
  form.addEventListener("change", () => {
    renumber();
    stale();
  });
  form.addEventListener("submit", save);
  $("#agenda-preview").addEventListener("click", preview);
  $("#range-add").addEventListener("click", () => {
    const ranges = readBody().ranges;
    const last = ranges[ranges.length - 1];
    // The next row starts as the day after the last one, same hours.
    const tr = rangeRow(last ? { ...last, weekday: WEEK[(WEEK.indexOf(last.weekday) + 1) % 7] } : undefined);
    $("#ranges-table tbody").append(tr);
    renumber();
    stale();
    tr.querySelector("select").focus();
  });
  $("#exception-add").addEventListener("click", () => {
    const tr = exceptionRow();
    $("#exceptions-table tbody").append(tr);
    renumber();
    stale();
    tr.querySelector("input").focus();
  });
  $("#agenda-new").addEventListener("click", () => {
    fillForm(null);
    $("#ag-name").focus();
  });
  fillForm(null);
  await loadAgendas();
});
