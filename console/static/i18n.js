// The page's language and its texts: the page carries its language's part
// of static/i18n.json (the one catalogue the templates use too), so t() is
// synchronous. Without it (a module loaded alone, in a test) t() returns
// the key.

let words = {};
try {
  const el = typeof document !== "undefined" && document.getElementById("i18n");
  if (el) words = JSON.parse(el.textContent);
} catch {
  words = {};
}

export const lang = (typeof document !== "undefined" && document.documentElement.lang) || "it";
const locale = lang === "en" ? "en-GB" : "it-IT";

// t is the text for key with {name} placeholders filled from params.
export function t(key, params) {
  let s = Object.prototype.hasOwnProperty.call(words, key) ? words[key] : key;
  if (params) {
    s = s.replace(/\{(\w+)\}/g, (m, name) => (params[name] === undefined || params[name] === null ? m : String(params[name])));
  }
  return s;
}

// has reports whether the catalogue has key (for codes the server may add).
export function has(key) {
  return Object.prototype.hasOwnProperty.call(words, key);
}

// setLanguage keeps the choice in a cookie the appliance reads to render the
// pages, then reloads.
export function setLanguage(l) {
  document.cookie = `avanti_lang=${l}; path=/; max-age=31536000; SameSite=Strict`;
  location.reload();
}

// Dates and times are shown in the browser's zone: the municipality's PCs
// are in the site's zone.
export function time(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return "";
  return d.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
}

export function dateTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return "";
  return d.toLocaleString(locale, { day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

// day is a YYYY-MM-DD date written out ("lun 23/11").
export function day(ymd) {
  const [y, m, d] = String(ymd).split("-").map(Number);
  if (!y) return ymd;
  return new Date(y, m - 1, d).toLocaleDateString(locale, { weekday: "short", day: "2-digit", month: "2-digit", year: "numeric" });
}

export function number(n, digits = 0) {
  if (n === null || n === undefined || n === "") return "";
  return Number(n).toLocaleString(locale, { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
