// The work plan of a service for a day: who is booked, with status, times
// and contact data; the day's slots, which can be closed, opened or given
// more or fewer places; booking on behalf of a citizen on the phone;
// printing (the page's print CSS) and CSV/XLSX downloads with the same
// columns as the table.

import { api } from "./api.js";
import { boot } from "./shell.js";
import { $, el, options, clearErrors, showError, showErrors, fieldError, notice, busy, message } from "./forms.js";
import { t, day, time } from "./i18n.js";
import { ymd, freePlaces } from "./logic.js";

const page = { services: [], plan: null, serviceID: 0, date: "" };
window.avantiWorkplan = page;

function deskName(d) {
  if (!d) return "";
  if (typeof d === "string") return d;
  return d.name || (d.number ? `#${d.number}` : "");
}

function renderTickets(plan) {
  const tickets = plan.tickets || [];
  $("#wp-no-tickets").hidden = tickets.length > 0;
  $("#wp-tickets tbody").replaceChildren(
    ...tickets.map((tk) => {
      const c = tk.citizen || {};
      return el(
        "tr",
        { dataset: { status: tk.status, code: tk.code } },
        el("th", { scope: "row", class: "code", text: tk.code }),
        el("td", { text: tk.walk_in ? t("desk.walk_in_short") + " " + time(tk.start) : time(tk.start) }),
        el("td", {}, el("span", { class: "badge", dataset: { status: tk.status }, text: t("status." + tk.status) })),
        el("td", { text: t("channel." + (tk.channel || "kiosk")) }),
        el("td", { text: time(tk.checked_in_at) }),
        el("td", { text: time(tk.called_at) }),
        el("td", { text: time(tk.finished_at) }),
        el("td", { text: deskName(tk.desk) }),
        el("td", { text: c.last_name || "" }),
        el("td", { text: c.first_name || "" }),
        el("td", { text: c.fiscal_code || "" }),
        el("td", { text: c.phone || "" }),
        el("td", { text: c.email || "" }),
        el("td", { text: tk.note || "" }),
      );
    }),
  );
}

function slotRow(s) {
  const id = `slot-${s.id}-capacity`;
  const form = el(
    "form",
    { class: "inline slot-capacity", novalidate: true },
    el("label", { for: id, class: "sr-only", text: t("workplan.places_at", { time: time(s.start) }) }),
    el("input", { id, name: "capacity", type: "number", min: 0, max: 1000, value: s.capacity, class: "short" }),
    el("button", { type: "submit", text: t("workplan.change_places") }),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const capacity = Number(form.elements.capacity.value);
    if (showErrors(form, Number.isInteger(capacity) && capacity >= 0 ? {} : { capacity: t("invalid.range", { min: 0, max: 1000 }) })) return;
    await patchSlot(s, { capacity }, form);
  });
  const toggle = el("button", { type: "button", text: s.open ? t("workplan.close_slot") : t("workplan.open_slot"), "aria-label": t(s.open ? "workplan.close_slot_at" : "workplan.open_slot_at", { time: time(s.start) }) });
  toggle.addEventListener("click", () => patchSlot(s, { open: !s.open }, null, toggle));
  return el(
    "tr",
    { dataset: { id: s.id, open: s.open ? "true" : "false" } },
    el("th", { scope: "row", text: `${time(s.start)}–${time(s.end)}` }),
    el("td", {}, form),
    el("td", { class: "num", text: s.booked + (s.reserved ? ` (+${s.reserved} ${t("workplan.reserved")})` : "") }),
    el("td", {}, el("span", { class: "badge", dataset: { state: s.open ? "open" : "closed" }, text: s.open ? t("workplan.slot_open") : t("workplan.slot_closed") })),
    el("td", { class: "no-print" }, toggle),
  );
}

async function patchSlot(s, change, form, button) {
  await busy(button || (form && form.querySelector("button")), async () => {
    try {
      await api("PATCH", `/slots/${s.id}`, change);
      notice(t("workplan.slot_saved", { time: time(s.start) }));
      await load();
    } catch (err) {
      // A refusal of the places is about the places, whatever field it names.
      if (form) {
        fieldError(form, "capacity", message(err));
        form.elements.capacity.focus();
      } else notice(message(err), "error");
    }
  });
}

function renderSlots(plan) {
  const slots = plan.slots || [];
  $("#wp-slots tbody").replaceChildren(...slots.map(slotRow));
  const bookable = slots.filter((s) => s.open && freePlaces(s) > 0);
  options(
    $("#book-start"),
    bookable.map((s) => ({ value: s.start, label: `${time(s.start)}–${time(s.end)} · ${t("workplan.free", { n: freePlaces(s) })}` })),
    { empty: bookable.length ? t("choose") : t("workplan.no_free") },
  );
}

function links() {
  const q = `?date=${encodeURIComponent(page.date)}`;
  $("#wp-csv").href = `/api/v1/services/${page.serviceID}/workplan.csv${q}`;
  $("#wp-xlsx").href = `/api/v1/services/${page.serviceID}/workplan.xlsx${q}`;
}

async function load() {
  if (!page.serviceID || !page.date) return;
  links();
  const svc = page.services.find((s) => s.id === page.serviceID);
  $("#wp-heading").textContent = `${svc ? svc.name : ""} — ${day(page.date)}`;
  const plan = await api("GET", `/services/${page.serviceID}/workplan?date=${encodeURIComponent(page.date)}`);
  page.plan = plan;
  renderTickets(plan);
  renderSlots(plan);
}

async function book(e) {
  e.preventDefault();
  const form = $("#wp-book");
  clearErrors(form);
  const v = (n) => form.elements[n].value.trim();
  const citizen = {};
  for (const k of ["first_name", "last_name", "phone", "email", "fiscal_code"]) {
    const x = v("citizen." + k);
    if (x) citizen[k] = k === "fiscal_code" ? x.toUpperCase() : x;
  }
  const errs = {};
  if (!v("start")) errs.start = t("invalid.required");
  if (!citizen.first_name) errs["citizen.first_name"] = t("invalid.required");
  if (!citizen.last_name) errs["citizen.last_name"] = t("invalid.required");
  if (!citizen.phone) errs["citizen.phone"] = t("invalid.required");
  else if (!/^\+?[0-9 ]{6,20}$/.test(citizen.phone)) errs["citizen.phone"] = t("invalid.phone");
  if (citizen.fiscal_code && !/^[A-Z0-9]{16}$/.test(citizen.fiscal_code)) errs["citizen.fiscal_code"] = t("invalid.fiscal_code");
  if (showErrors(form, errs)) return;
  await busy(form.querySelector("button[type=submit]"), async () => {
    try {
      const tk = await api("POST", "/tickets", { service_id: page.serviceID, start: v("start"), channel: "phone", citizen });
      const text = t("workplan.booked_done", { code: tk.code, time: time(tk.start) });
      $("#wp-booked").textContent = text;
      form.reset();
      await load();
    } catch (err) {
      showError(form, err);
    }
  });
}

boot(async () => {
  const res = await api("GET", "/services");
  page.services = (res.services || []).slice().sort((a, b) => a.prefix.localeCompare(b.prefix));
  const q = new URLSearchParams(location.search);
  const sel = $("#wp-service");
  options(sel, page.services.map((s) => ({ value: s.id, label: `${s.prefix} · ${s.name}` })));
  if (q.get("service") && page.services.some((s) => String(s.id) === q.get("service"))) sel.value = q.get("service");
  $("#wp-date").value = /^\d{4}-\d{2}-\d{2}$/.test(q.get("date") || "") ? q.get("date") : ymd(new Date());
  const form = $("#wp-form");
  const show = async () => {
    clearErrors(form);
    page.serviceID = Number(sel.value) || 0;
    page.date = $("#wp-date").value;
    if (showErrors(form, page.date ? {} : { date: t("invalid.required") })) return;
    history.replaceState(null, "", `?service=${page.serviceID}&date=${page.date}`);
    try {
      await load();
    } catch (err) {
      showError(form, err);
    }
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    show();
  });
  $("#wp-book").addEventListener("submit", book);
  $("#wp-print").addEventListener("click", () => window.print());
  await show();
});
