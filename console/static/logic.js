// The console's rules that need no page: who may see what, which desk and
// services an operator starts with, how desks group by room, how agendas
// and forms become API bodies and what is wrong with them. Pure functions,
// tested in logic_test.go.

// allowed reports whether a page for roles (a space-separated list, or an
// array; empty: anyone) is for role.
export function allowed(roles, role) {
  const list = Array.isArray(roles) ? roles : String(roles || "").split(/\s+/).filter(Boolean);
  return list.length === 0 || list.includes(role);
}

// safeNext is where to go after signing in: a console page of this
// appliance, never another site.
export function safeNext(next, fallback = "/console/") {
  if (typeof next !== "string" || !next.startsWith("/console/") || next.startsWith("//") || next.includes("\\") || next.startsWith("/console/login")) {
    return fallback;
  }
  return next;
}

// defaultServices are the services a desk opens with: the operator's
// assigned ones, else the last choice kept in this browser; only services
// that still exist.
export function defaultServices(assigned, stored, available) {
  const ok = new Set((available || []).map(Number));
  const pick = (list) => (Array.isArray(list) ? list.map(Number).filter((id) => ok.has(id)) : []);
  const a = pick(assigned);
  if (a.length) return a;
  return pick(stored);
}

// myDesk is the desk to show: the one this operator has open or paused
// (the desk's state lives on the appliance, so a reload or a second tab
// finds it), else the one last used in this browser if it is free.
export function myDesk(desks, userID, storedID) {
  const mine = (desks || []).find((d) => d.operator_id === userID && d.state !== "closed");
  if (mine) return { desk: mine, open: true };
  const last = (desks || []).find((d) => d.id === Number(storedID));
  return { desk: last || null, open: false };
}

// groupByRoom groups desks by room (rooms and desks in name/number order).
export function groupByRoom(desks) {
  const rooms = new Map();
  for (const d of desks || []) {
    const key = d.room_id;
    if (!rooms.has(key)) rooms.set(key, { room_id: key, room_name: d.room_name || String(key), desks: [] });
    rooms.get(key).desks.push(d);
  }
  const byNumber = (a, b) => String(a.number).localeCompare(String(b.number), undefined, { numeric: true }) || a.id - b.id;
  const out = [...rooms.values()];
  for (const r of out) r.desks.sort(byNumber);
  out.sort((a, b) => a.room_name.localeCompare(b.room_name) || a.room_id - b.room_id);
  return out;
}

// mergeDesk replaces (or adds) one desk in a list.
export function mergeDesk(desks, desk) {
  const out = (desks || []).filter((d) => d.id !== desk.id);
  out.push(desk);
  out.sort((a, b) => a.id - b.id);
  return out;
}

// elapsed is the time since iso as "m:ss", or "h:mm:ss" past an hour.
export function elapsed(iso, now) {
  const since = Date.parse(iso);
  if (isNaN(since)) return "";
  let s = Math.max(0, Math.floor((now - since) / 1000));
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

// minutes writes seconds as whole minutes, rounded toward zero.
function minutes(sec) {
  return Math.trunc((Number(sec) || 0) / 60);
}

// reasonText says why a ticket was called, from the reason the call stored
// ({rule, urgency, wait_seconds, target_seconds, priority, position,
// waiting}), in the page's language through t.
export function reasonText(reason, t) {
  if (!reason || !reason.rule) return "";
  const p = {
    wait: minutes(reason.wait_seconds),
    early: minutes(-(reason.wait_seconds || 0)),
    target: minutes(reason.target_seconds),
    urgency: (Number(reason.urgency) || 0).toFixed(2),
    waiting: reason.waiting || 0,
    weight: reason.priority_weight || "",
  };
  const parts = [];
  const key = "why." + reason.rule;
  const text = t(key, p);
  parts.push(text === key ? t("why.other", { rule: reason.rule }) : text);
  if (reason.priority) parts.push(t("why.priority", p));
  if (p.waiting > 1) parts.push(t("why.waiting", p));
  return parts.join(" ");
}

// punctuality is a service's punctuality in the page's language: the
// appliance's Italian label, or its state and delay through t.
export function punctuality(p, t, lang) {
  if (!p) return "";
  if (lang === "it" && p.label) return p.label;
  if (p.state === "late") return t("punct.late", { n: p.delay_min || 0 });
  if (p.state === "closed") return t("punct.closed");
  if (p.state === "on_time") return t("punct.on_time");
  return p.label || "";
}

// Service rules: the API's field names, their lower and upper bounds.
export const serviceNumbers = {
  target_wait_min: [1, 600],
  avg_service_min: [1, 600],
  allowed_lateness_min: [0, 600],
  checkin_early_min: [0, 600],
  min_notice_min: [0, 100000],
  max_days_ahead: [0, 730],
  walkin_quota_per_hour: [0, 1000],
  overbooking_pct: [-100, 100],
  priority_weight: [1, 10],
};

export const serviceFlags = [
  "checkin_required",
  "second_checkin",
  "online_bookable",
  "auto_regulation",
  "id_required_future",
  "one_active_booking",
  "early_calls",
  "active",
];

// validateService checks a service body before it is sent; the answer maps
// field names to [catalogue key, params]. The appliance checks again.
export function validateService(s) {
  const e = {};
  if (!String(s.name || "").trim()) e.name = ["invalid.required"];
  if (!/^[A-Z]{1,3}$/.test(String(s.prefix || ""))) e.prefix = ["invalid.prefix"];
  if (!s.site_id) e.site_id = ["invalid.required"];
  for (const [k, [min, max]] of Object.entries(serviceNumbers)) {
    const v = s[k];
    if (v === null || v === undefined || v === "" || Number.isNaN(Number(v))) e[k] = ["invalid.required"];
    else if (Number(v) < min || Number(v) > max) e[k] = ["invalid.range", { min, max }];
    else if (k !== "priority_weight" && !Number.isInteger(Number(v))) e[k] = ["invalid.integer"];
  }
  return e;
}

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$|^24:00$/;

function toMinutes(s) {
  const [h, m] = String(s).split(":").map(Number);
  return h * 60 + m;
}

// isoDay is the catalogue's day number (1 = Monday … 7 = Sunday) of an API
// weekday (0 = Sunday … 6 = Saturday).
export function isoDay(weekday) {
  return Number(weekday) === 0 ? 7 : Number(weekday);
}

// WEEK are the API's weekdays in the order of an Italian week.
export const WEEK = [1, 2, 3, 4, 5, 6, 0];

// agendaBody turns the editor's rows into the API's agenda body
// (docs/console.md): weekly rows {weekday 0-6, start, end, slot_minutes,
// places}; exception rows {day, kind: "closed"|"open", start, end,
// slot_minutes, places}, where a closed day has no window (or the hours
// it is closed) and an open one has its own slots.
export function agendaBody(meta, ranges, exceptions) {
  const body = {
    name: String(meta.name || "").trim(),
    valid_from: meta.valid_from || "",
    open_on_holidays: !!meta.open_on_holidays,
    ranges: (ranges || []).map((r) => ({
      weekday: Number(r.weekday),
      start: r.start,
      end: r.end,
      slot_minutes: Number(r.slot_minutes),
      places: Number(r.places),
    })),
    exceptions: (exceptions || []).map((x) => {
      const e = { day: x.day, kind: x.kind };
      if (x.kind === "open") Object.assign(e, { start: x.start, end: x.end, slot_minutes: Number(x.slot_minutes), places: Number(x.places) });
      else if (x.start || x.end) Object.assign(e, { start: x.start, end: x.end });
      return e;
    }),
  };
  if (meta.valid_to) body.valid_to = meta.valid_to;
  return body;
}

function checkWindow(r, at, e) {
  if (!HHMM.test(r.start || "")) e[at + ".start"] = ["invalid.time"];
  if (!HHMM.test(r.end || "")) e[at + ".end"] = ["invalid.time"];
  if (!e[at + ".start"] && !e[at + ".end"] && toMinutes(r.end) <= toMinutes(r.start)) e[at + ".end"] = ["invalid.end_after_start"];
}

function checkSlots(r, at, e) {
  if (!(r.slot_minutes >= 1 && r.slot_minutes <= 1440 && Number.isInteger(r.slot_minutes))) e[at + ".slot_minutes"] = ["invalid.range", { min: 1, max: 1440 }];
  else if (!e[at + ".start"] && !e[at + ".end"] && r.slot_minutes > toMinutes(r.end) - toMinutes(r.start)) e[at + ".slot_minutes"] = ["invalid.slot_too_long"];
}

// validateAgenda checks an agenda body; errors are keyed by the API's field
// paths (ranges[2].start), as the appliance names them.
export function validateAgenda(b) {
  const e = {};
  if (!b.name) e.name = ["invalid.required"];
  if (!/^\d{4}-\d{2}-\d{2}$/.test(b.valid_from || "")) e.valid_from = ["invalid.required"];
  if (b.valid_to && b.valid_from && b.valid_to < b.valid_from) e.valid_to = ["invalid.to_before_from"];
  if (!b.ranges.length) e.ranges = ["invalid.no_ranges"];
  b.ranges.forEach((r, i) => {
    const at = `ranges[${i}]`;
    if (!(r.weekday >= 0 && r.weekday <= 6)) e[at + ".weekday"] = ["invalid.required"];
    checkWindow(r, at, e);
    checkSlots(r, at, e);
    if (!(r.places >= 0 && r.places <= 1000 && Number.isInteger(r.places))) e[at + ".places"] = ["invalid.range", { min: 0, max: 1000 }];
  });
  // Ranges of one weekday must not overlap.
  const byDay = new Map();
  b.ranges.forEach((r, i) => {
    if (e[`ranges[${i}].start`] || e[`ranges[${i}].end`]) return;
    for (const j of byDay.get(r.weekday) || []) {
      const o = b.ranges[j];
      if (toMinutes(r.start) < toMinutes(o.end) && toMinutes(o.start) < toMinutes(r.end)) e[`ranges[${i}].start`] = ["invalid.overlap"];
    }
    byDay.set(r.weekday, [...(byDay.get(r.weekday) || []), i]);
  });
  b.exceptions.forEach((x, i) => {
    const at = `exceptions[${i}]`;
    if (!/^\d{4}-\d{2}-\d{2}$/.test(x.day || "")) e[at + ".day"] = ["invalid.required"];
    else if (x.day < b.valid_from || (b.valid_to && x.day > b.valid_to)) e[at + ".day"] = ["invalid.outside_validity"];
    if (x.kind === "open") {
      checkWindow(x, at, e);
      checkSlots(x, at, e);
      if (!(x.places >= 1 && x.places <= 1000 && Number.isInteger(x.places))) e[at + ".places"] = ["invalid.range", { min: 1, max: 1000 }];
    } else if (x.start || x.end) {
      checkWindow(x, at, e);
    }
  });
  return e;
}

// fieldOfMessage reads the field path an agenda refusal names at the start
// of its message ("ranges[1].end: must be after start"), for an error the
// appliance reports against the whole agenda.
export function fieldOfMessage(err) {
  const m = /^((?:ranges|exceptions)\[\d+\](?:\.\w+)?|name|valid_from|valid_to): (.+)$/.exec((err && err.message) || "");
  return m ? { field: m[1], text: m[2] } : null;
}

// previewDay sums up one day of a slot preview.
export function previewDay(day) {
  const slots = day.slots || [];
  return {
    slots: slots.length,
    places: slots.reduce((n, s) => n + (s.capacity || 0), 0),
    first: slots.length ? slots[0].start : null,
    last: slots.length ? slots[slots.length - 1].end : null,
  };
}

// quietHours reads "12:30-14:00, 18:00-19:00"; null when it is not that.
export function quietHours(text) {
  const out = [];
  for (const part of String(text || "").split(/[,;]/)) {
    const p = part.trim();
    if (!p) continue;
    const m = p.match(/^(\d{2}:\d{2})\s*[-–]\s*(\d{2}:\d{2})$/);
    if (!m || !HHMM.test(m[1]) || !HHMM.test(m[2])) return null;
    out.push({ from: m[1], to: m[2] });
  }
  return out;
}

export function quietHoursText(list) {
  return (list || []).map((q) => `${q.from}-${q.to}`).join(", ");
}

// health is what the console shows of a device: never seen, silent (no
// contact for more than 30 s: red) or in touch.
export function health(dev) {
  if (!dev.last_seen) return "never";
  return dev.silent ? "silent" : "ok";
}

// move returns list with the item at i moved by delta (±1), unchanged at
// the ends.
export function move(list, i, delta) {
  const j = i + delta;
  if (j < 0 || j >= list.length) return list.slice();
  const out = list.slice();
  [out[i], out[j]] = [out[j], out[i]];
  return out;
}

// today is the local date as YYYY-MM-DD.
export function ymd(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

// freePlaces is how many more tickets a work-plan slot takes.
export function freePlaces(slot) {
  return Math.max(0, (slot.capacity || 0) - (slot.booked || 0) - (slot.reserved || 0));
}
