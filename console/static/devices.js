// Totems and displays: their health (last contact, version, what they
// show; silent for more than 30 s in red), pairing by the code a new
// device shows, and the settings of each (DisplaySettings,
// docs/realtime.md; KioskSettings, docs/kiosk.md).

import { api } from "./api.js";
import { boot } from "./shell.js";
import { $, $$, el, options, checks, clearErrors, showError, showErrors, setValue, value, notice, busy } from "./forms.js";
import { t, dateTime } from "./i18n.js";
import { health, quietHours, quietHoursText, move } from "./logic.js";

const REFRESH_MS = 10000;
const page = { devices: [], rooms: [], services: [], playlists: [], editing: null, readRooms: () => [], readServices: () => [], kioskOrder: [] };
window.avantiDevices = page;

function render() {
  $("#devices-table tbody").replaceChildren(
    ...page.devices.map((d) => {
      const h = health(d);
      return el(
        "tr",
        { dataset: { id: d.id, health: h } },
        el("th", { scope: "row", text: d.name }),
        el("td", { text: t("kind." + d.kind) }),
        el("td", { text: d.room ? d.room.name : "" }),
        el("td", {}, el("span", { class: "health", dataset: { health: h }, text: t("health." + h) })),
        el("td", { text: d.last_seen ? dateTime(d.last_seen) : "—" }),
        el("td", { text: d.version || "—" }),
        el("td", { text: [d.showing ? t("showing." + d.showing) : "", d.printer && d.kind === "kiosk" ? t("devices.printer", { state: d.printer }) : ""].filter(Boolean).join(" · ") || "—" }),
        el("td", {}, el("button", { type: "button", class: "link", "aria-label": t("edit_named", { name: d.name }), onclick: () => edit(d.id) }, t("edit"))),
      );
    }),
  );
}

async function loadDevices() {
  const res = await api("GET", "/devices");
  page.devices = res.devices || [];
  render();
}

function edit(id) {
  const d = page.devices.find((x) => x.id === id);
  if (!d) return;
  page.editing = d;
  $("#device-edit").hidden = false;
  $("#device-edit-name").textContent = d.name;
  const form = $("#device-form");
  clearErrors(form);
  setValue(form, "id", d.id);
  setValue(form, "name", d.name);
  setValue(form, "room_id", d.room ? d.room.id : "");
  setValue(form, "active", d.active !== false);
  $("#display-settings").hidden = d.kind !== "display";
  $("#kiosk-settings").hidden = d.kind !== "kiosk";
  if (d.kind === "display") fillDisplay(d.settings || {});
  else fillKiosk(d.kiosk_settings || {});
  $("#dev-name").focus();
}

function fillDisplay(s) {
  const form = $("#display-settings");
  clearErrors(form);
  setValue(form, "mode", s.mode || "calls");
  page.readRooms = checks($("#ds-rooms"), page.rooms.map((r) => ({ value: r.id, label: r.name })), s.rooms || []);
  page.readServices = checks($("#ds-services"), page.services.map((x) => ({ value: x.id, label: `${x.prefix} · ${x.name}` })), s.services || []);
  setValue(form, "history", s.history ?? 6);
  setValue(form, "alternate_sec", s.alternate_sec ?? 20);
  const v = s.voice || { enabled: true, volume: 80, quiet_hours: [] };
  setValue(form, "voice.enabled", v.enabled);
  setValue(form, "voice.volume", v.volume);
  setValue(form, "voice.quiet_hours", quietHoursText(v.quiet_hours));
  options($("#ds-playlist"), page.playlists.map((p) => ({ value: p.id, label: p.name })), { empty: t("ds.no_playlist") });
  setValue(form, "playlist_id", s.playlist_id || "");
}

function renderKioskOrder() {
  const box = $("#ks-services");
  const n = page.kioskOrder.length;
  box.replaceChildren(
    ...page.kioskOrder.map((o, i) => {
      const svc = page.services.find((x) => x.id === o.id) || { prefix: "#", name: String(o.id) };
      const id = `ks-svc-${o.id}`;
      const label = `${svc.prefix} · ${svc.name}`;
      const cb = el("input", { type: "checkbox", id, checked: o.on });
      cb.addEventListener("change", () => (o.on = cb.checked));
      const shift = (delta, text) => {
        const b = el("button", { type: "button", class: "link", "aria-label": t(text, { name: label }), disabled: (delta < 0 && i === 0) || (delta > 0 && i === n - 1) }, t(delta < 0 ? "up" : "down"));
        b.addEventListener("click", () => {
          page.kioskOrder = move(page.kioskOrder, i, delta);
          renderKioskOrder();
          const again = $(`#ks-services li:nth-child(${i + delta + 1}) button:${delta < 0 ? "first-of-type" : "last-of-type"}`);
          (again && !again.disabled ? again : $(`#ks-svc-${o.id}`)).focus();
        });
        return b;
      };
      return el("li", { dataset: { id: o.id } }, el("label", { for: id, class: "check" }, cb, " ", label), " ", shift(-1, "ks.move_up"), " ", shift(1, "ks.move_down"));
    }),
  );
}

function fillKiosk(s) {
  const form = $("#kiosk-settings");
  clearErrors(form);
  const chosen = s.services || [];
  // The chosen services first, in their order; the others after, unticked.
  page.kioskOrder = [
    ...chosen.filter((id) => page.services.some((x) => x.id === id)).map((id) => ({ id, on: true })),
    ...page.services.filter((x) => !chosen.includes(x.id)).map((x) => ({ id: x.id, on: chosen.length === 0 })),
  ];
  renderKioskOrder();
  setValue(form, "identification", s.identification || "any");
  setValue(form, "idle_sec", s.idle_sec ?? 45);
  setValue(form, "info_text", s.info_text || "");
  setValue(form, "ticket_text", s.ticket_text || "");
  const p = s.printer || { mode: "browser", address: "" };
  setValue(form, "printer.mode", p.mode);
  setValue(form, "printer.address", p.address);
  const langs = s.languages || ["it", "en"];
  for (const cb of form.querySelectorAll('input[name="lang"]')) cb.checked = langs.includes(cb.value);
}

async function saveSettings(form, body, errs) {
  clearErrors(form);
  if (showErrors(form, errs)) return;
  const d = page.editing;
  await busy(form.querySelector("button[type=submit]"), async () => {
    try {
      await api("PUT", `/devices/${d.id}/settings`, body);
      notice(t("devices.settings_saved", { name: d.name }));
      await loadDevices();
      page.editing = page.devices.find((x) => x.id === d.id) || d;
    } catch (err) {
      showError(form, err);
    }
  });
}

function wire() {
  $("#pair-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = $("#pair-form");
    clearErrors(form);
    const body = { code: value(form, "code").trim(), kind: value(form, "kind"), name: value(form, "name").trim(), room_id: Number(value(form, "room_id")) || 0 };
    const errs = {};
    if (!/^\d{6}$/.test(body.code)) errs.code = t("invalid.pair_code");
    if (!body.name) errs.name = t("invalid.required");
    if (!body.room_id) errs.room_id = t("invalid.required");
    if (showErrors(form, errs)) return;
    await busy(form.querySelector("button[type=submit]"), async () => {
      try {
        const res = await api("POST", "/devices/pair", body);
        form.reset();
        notice(t("devices.paired", { name: body.name }));
        await loadDevices();
        if (res && res.device) edit(res.device.id);
      } catch (err) {
        showError(form, err);
      }
    });
  });
  $("#device-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = $("#device-form");
    clearErrors(form);
    const d = page.editing;
    const body = { name: value(form, "name").trim(), room_id: Number(value(form, "room_id")) || 0, active: value(form, "active") };
    if (showErrors(form, body.name ? {} : { name: t("invalid.required") })) return;
    await busy(form.querySelector("button[type=submit]"), async () => {
      try {
        await api("PUT", `/devices/${d.id}`, body);
        notice(t("devices.saved", { name: body.name }));
        await loadDevices();
        if (!body.active) $("#device-edit").hidden = true;
      } catch (err) {
        showError(form, err);
      }
    });
  });
  $("#display-settings").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = $("#display-settings");
    const quiet = quietHours(value(form, "voice.quiet_hours"));
    const errs = {};
    if (quiet === null) errs["voice.quiet_hours"] = t("invalid.quiet_hours");
    const num = (n, min, max) => {
      const v = value(form, n);
      if (v === null || v < min || v > max || !Number.isInteger(v)) errs[n] = t("invalid.range", { min, max });
      return v;
    };
    const body = {
      mode: value(form, "mode"),
      rooms: page.readRooms(),
      services: page.readServices(),
      history: num("history", 0, 20),
      alternate_sec: num("alternate_sec", 5, 600),
      voice: { enabled: value(form, "voice.enabled"), volume: num("voice.volume", 0, 100), quiet_hours: quiet || [] },
      playlist_id: Number(value(form, "playlist_id")) || null,
    };
    saveSettings(form, body, errs);
  });
  $("#kiosk-settings").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = $("#kiosk-settings");
    const errs = {};
    const idle = value(form, "idle_sec");
    if (idle === null || idle < 10 || idle > 600) errs.idle_sec = t("invalid.range", { min: 10, max: 600 });
    const printer = { mode: value(form, "printer.mode"), address: value(form, "printer.address").trim() };
    if (printer.mode === "network" && !/^[\w.-]+:\d{1,5}$/.test(printer.address)) errs["printer.address"] = t("invalid.printer_address");
    const languages = [...form.querySelectorAll('input[name="lang"]:checked')].map((c) => c.value);
    if (!languages.length) errs.languages = t("invalid.languages");
    const on = page.kioskOrder.filter((o) => o.on).map((o) => o.id);
    const body = {
      services: on.length === page.kioskOrder.length && page.kioskOrder.every((o, i) => o.id === page.services[i].id) ? [] : on,
      identification: value(form, "identification"),
      idle_sec: idle,
      info_text: value(form, "info_text").trim(),
      ticket_text: value(form, "ticket_text").trim(),
      printer,
      languages,
    };
    saveSettings(form, body, errs);
  });
}

boot(async () => {
  const [org, svc, pls] = await Promise.all([api("GET", "/org").catch(() => ({})), api("GET", "/services?all=true"), api("GET", "/playlists").catch(() => ({})), loadDevices()]);
  page.rooms = org.rooms || [];
  if (!page.rooms.length) {
    // Without the organisation (an older appliance): the rooms the devices are in.
    const seen = new Map(page.devices.filter((d) => d.room).map((d) => [d.room.id, d.room]));
    page.rooms = [...seen.values()];
  }
  page.services = (svc.services || []).slice().sort((a, b) => a.prefix.localeCompare(b.prefix));
  page.playlists = pls.playlists || [];
  const rooms = page.rooms.map((r) => ({ value: r.id, label: r.name }));
  options($("#pair-room"), rooms);
  options($("#dev-room"), rooms);
  wire();
  setInterval(() => loadDevices().catch(() => {}), REFRESH_MS);
});
