// The organisation: the owner's name, its sites (address, time zone, local
// holidays), waiting rooms and desks.

import { api } from "./api.js";
import { boot } from "./shell.js";
import { $, $$, el, options, clearErrors, showError, showErrors, setValue, value, notice, busy } from "./forms.js";
import { t, day } from "./i18n.js";

const page = { org: null };
window.avantiOrg = page;

function editButton(name, onclick) {
  return el("button", { type: "button", class: "link", "aria-label": t("edit_named", { name }), onclick }, t("edit"));
}

// holidayDate writes a holiday's date: "MM-DD" is every year.
function holidayDate(d) {
  const m = /^(\d{2})-(\d{2})$/.exec(d || "");
  return m ? t("org.every_year", { day: `${m[2]}/${m[1]}` }) : day(d);
}

function holidayRow(h = { date: "", name: "" }) {
  const tr = el(
    "tr",
    {},
    el("td", {}, el("input", { value: h.date, class: "mid", placeholder: t("org.holiday_date_placeholder"), "aria-label": t("org.holiday_date"), "data-part": "date" })),
    el("td", {}, el("input", { value: h.name, "aria-label": t("org.holiday_name"), "data-part": "name" })),
    el("td", {}, el("button", { type: "button", class: "link", onclick: () => { tr.remove(); renumberHolidays(); } }, t("remove"))),
  );
  return tr;
}

function renumberHolidays() {
  $$("#holidays-table tbody tr").forEach((tr, i) => {
    for (const f of tr.querySelectorAll("[data-part]")) f.name = `holidays[${i}].${f.dataset.part}`;
  });
}

function fillSite(s) {
  const form = $("#site-form");
  clearErrors(form);
  setValue(form, "id", s ? s.id : "");
  setValue(form, "name", s ? s.name : "");
  setValue(form, "address", s ? s.address : "");
  setValue(form, "timezone", s ? s.timezone : "Europe/Rome");
  $("#holidays-table tbody").replaceChildren(...((s && s.holidays) || []).map((h) => holidayRow(h)));
  renumberHolidays();
  $("#site-form-title").textContent = s ? t("org.edit_site", { name: s.name }) : t("org.new_site");
}

function fillRoom(r) {
  const form = $("#room-form");
  clearErrors(form);
  setValue(form, "id", r ? r.id : "");
  setValue(form, "site_id", r ? r.site_id : (page.org.sites[0] || {}).id);
  setValue(form, "name", r ? r.name : "");
  $("#room-form-title").textContent = r ? t("org.edit_room", { name: r.name }) : t("org.new_room");
}

function fillDesk(d) {
  const form = $("#desk-form");
  clearErrors(form);
  setValue(form, "id", d ? d.id : "");
  setValue(form, "room_id", d ? d.room_id : (page.org.rooms[0] || {}).id);
  setValue(form, "name", d ? d.name : "");
  setValue(form, "number", d ? d.number : "");
  $("#desk-form-title").textContent = d ? t("org.edit_desk", { name: d.name }) : t("org.new_desk");
}

function render() {
  const o = page.org;
  $("#owner-name").value = (o.owner && o.owner.name) || "";
  const siteName = (id) => (o.sites.find((s) => s.id === id) || { name: "#" + id }).name;
  const roomName = (id) => (o.rooms.find((r) => r.id === id) || { name: "#" + id }).name;
  $("#sites-table tbody").replaceChildren(
    ...o.sites.map((s) =>
      el("tr", {}, el("th", { scope: "row", text: s.name }), el("td", { text: s.address }), el("td", { text: (s.holidays || []).map((h) => `${holidayDate(h.date)} ${h.name}`).join(", ") }), el("td", {}, editButton(s.name, () => { fillSite(s); $("#site-name").focus(); }))),
    ),
  );
  $("#rooms-table tbody").replaceChildren(
    ...o.rooms.map((r) => el("tr", {}, el("th", { scope: "row", text: r.name }), el("td", { text: siteName(r.site_id) }), el("td", {}, editButton(r.name, () => { fillRoom(r); $("#room-name").focus(); })))),
  );
  $("#desks-table tbody").replaceChildren(
    ...o.desks.map((d) => el("tr", {}, el("td", { text: d.number }), el("th", { scope: "row", text: d.name }), el("td", { text: roomName(d.room_id) }), el("td", {}, editButton(d.name, () => { fillDesk(d); $("#desk-name").focus(); })))),
  );
  options($("#room-site"), o.sites.map((s) => ({ value: s.id, label: s.name })));
  options($("#desk-room"), o.rooms.map((r) => ({ value: r.id, label: r.name })));
}

async function load() {
  const o = await api("GET", "/org");
  page.org = { owner: o.owner || {}, sites: o.sites || [], rooms: o.rooms || [], desks: o.desks || [] };
  render();
}

// save sends a form's body to POST path (new) or PUT path/id (existing).
function saving(form, path, read, after) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const { body, errs } = read();
    if (showErrors(form, errs)) return;
    const id = Number(value(form, "id")) || 0;
    await busy(form.querySelector("button[type=submit]"), async () => {
      try {
        if (path === "/owner") await api("PUT", path, body);
        else if (id) await api("PUT", `${path}/${id}`, body);
        else await api("POST", path, body);
        notice(t("saved"));
        await load();
        if (after) after();
      } catch (err) {
        showError(form, err);
      }
    });
  });
}

const required = (body, names) => Object.fromEntries(names.filter((n) => !String(body[n] || "").trim()).map((n) => [n, t("invalid.required")]));

boot(async () => {
  await load();
  fillSite(null);
  fillRoom(null);
  fillDesk(null);
  saving($("#owner-form"), "/owner", () => {
    const body = { name: value($("#owner-form"), "name").trim() };
    return { body, errs: required(body, ["name"]) };
  });
  saving(
    $("#site-form"),
    "/sites",
    () => {
      const f = $("#site-form");
      const body = { name: value(f, "name").trim(), address: value(f, "address").trim(), timezone: value(f, "timezone").trim(), holidays: [] };
      const errs = required(body, ["name", "address", "timezone"]);
      $$("#holidays-table tbody tr").forEach((tr, i) => {
        const date = tr.querySelector('[data-part="date"]').value;
        const name = tr.querySelector('[data-part="name"]').value.trim();
        if (!date) errs[`holidays[${i}].date`] = t("invalid.required");
        else if (!/^(\d{4}-)?\d{2}-\d{2}$/.test(date)) errs[`holidays[${i}].date`] = t("invalid.holiday_date");
        if (!name) errs[`holidays[${i}].name`] = t("invalid.required");
        body.holidays.push({ date, name });
      });
      return { body, errs };
    },
    () => fillSite(null),
  );
  saving(
    $("#room-form"),
    "/rooms",
    () => {
      const f = $("#room-form");
      const body = { site_id: Number(value(f, "site_id")) || 0, name: value(f, "name").trim() };
      return { body, errs: required(body, ["site_id", "name"]) };
    },
    () => fillRoom(null),
  );
  saving(
    $("#desk-form"),
    "/desks",
    () => {
      const f = $("#desk-form");
      const body = { room_id: Number(value(f, "room_id")) || 0, name: value(f, "name").trim(), number: value(f, "number").trim() };
      return { body, errs: required(body, ["room_id", "name", "number"]) };
    },
    () => fillDesk(null),
  );
  $("#site-new").addEventListener("click", () => { fillSite(null); $("#site-name").focus(); });
  $("#holiday-add").addEventListener("click", () => {
    const tr = holidayRow();
    $("#holidays-table tbody").append(tr);
    renumberHolidays();
    tr.querySelector("input").focus();
  });
  $("#room-form [data-reset]").addEventListener("click", () => { fillRoom(null); $("#room-name").focus(); });
  $("#desk-form [data-reset]").addEventListener("click", () => { fillDesk(null); $("#desk-name").focus(); });
});
