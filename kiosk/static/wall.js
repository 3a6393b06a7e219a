// Times as the site's clock reads them. The API writes instants in RFC 3339
// with the site's own offset ("2026-11-23T09:05:00+01:00"): the wall time is
// the one written there, whatever zone the totem's browser is set to. An
// instant in UTC ("…Z") is turned into the site's zone with Intl.

export const DEFAULT_ZONE = "Europe/Rome";

const LITERAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?([+-]\d{2}:?\d{2})$/;

// wall is {date: "YYYY-MM-DD", time: "HH:MM"} of an RFC 3339 instant, or
// null when it is not one.
export function wall(iso, zone = DEFAULT_ZONE) {
  if (typeof iso !== "string") return null;
  const m = LITERAL.exec(iso);
  if (m) return { date: `${m[1]}-${m[2]}-${m[3]}`, time: `${m[4]}:${m[5]}` };
  const ms = Date.parse(iso);
  return isNaN(ms) ? null : wallAt(ms, zone);
}

// wallAt is the wall date and time of an instant (ms) in zone.
export function wallAt(ms, zone = DEFAULT_ZONE) {
  const p = {};
  let parts;
  try {
    parts = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit",
    }).formatToParts(new Date(ms));
  } catch {
    parts = new Intl.DateTimeFormat("en-GB", {
      hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    }).formatToParts(new Date(ms)); // an unknown zone: the browser's own
  }
  for (const x of parts) p[x.type] = x.value;
  return { date: `${p.year}-${p.month}-${p.day}`, time: `${p.hour}:${p.minute}` };
}

// addDays moves a "YYYY-MM-DD" date by n days.
export function addDays(date, n) {
  const [y, m, d] = date.split("-").map(Number);
  const t = new Date(Date.UTC(y, m - 1, d + n));
  return t.toISOString().slice(0, 10);
}

const LOCALES = { it: "it-IT", en: "en-GB" };

// dayLabel names a date for a citizen: "oggi", "domani", or
// "martedì 24 novembre" ("Tuesday 24 November").
export function dayLabel(date, lang, today) {
  if (today && date === today) return lang === "en" ? "today" : "oggi";
  if (today && date === addDays(today, 1)) return lang === "en" ? "tomorrow" : "domani";
  return longDate(date, lang);
}

export function longDate(date, lang, withYear = false) {
  const [y, m, d] = date.split("-").map(Number);
  const opts = { weekday: "long", day: "numeric", month: "long", timeZone: "UTC" };
  if (withYear) opts.year = "numeric";
  return new Intl.DateTimeFormat(LOCALES[lang] || LOCALES.it, opts).format(new Date(Date.UTC(y, m - 1, d)));
}

// dayParts are the pieces of a calendar button: weekday, day, month.
export function dayParts(date, lang) {
  const [y, m, d] = date.split("-").map(Number);
  const at = new Date(Date.UTC(y, m - 1, d));
  const f = (o) => new Intl.DateTimeFormat(LOCALES[lang] || LOCALES.it, { ...o, timeZone: "UTC" }).format(at);
  return { weekday: f({ weekday: "long" }), day: String(d), month: f({ month: "long" }) };
}

// whenLabel is "oggi alle 14:00", "domani alle 09:00" or
// "martedì 24 novembre alle 09:00".
export function whenLabel(iso, lang, today, zone = DEFAULT_ZONE) {
  const w = wall(iso, zone);
  if (!w) return "";
  return dayLabel(w.date, lang, today) + (lang === "en" ? " at " : " alle ") + w.time;
}
