// Backups: the last backup, the last verified one and how its verification
// went, the off-site copy, the size trend (an inline SVG bar chart) and
// the list. Backups run from the system's timer or `avanti backup run`:
// the console only reads their status.

import { api } from "./api.js";
import { boot } from "./shell.js";
import { $, el } from "./forms.js";
import { t, dateTime, number } from "./i18n.js";

// bytes is a size for people: 1,5 MB.
export function bytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  let v = Number(n);
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${number(v, i === 0 || v >= 100 ? 0 : 1)} ${units[i]}`;
}

// The SVG namespace, as the HTML parser gives it (the console's files name
// no outside address, not even a namespace's).
const SVG = new DOMParser().parseFromString("<svg></svg>", "text/html").body.firstChild.namespaceURI;

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

// trend draws the recent backups' sizes as bars, oldest on the left; the
// figure's caption says the same in words for screen readers.
function trend(fig, sizes) {
  const recent = (sizes || []).slice(-30);
  fig.replaceChildren();
  if (recent.length === 0) {
    fig.append(el("p", { class: "muted", text: t("backups.none") }));
    return;
  }
  const w = 720;
  const h = 160;
  const pad = 4;
  const max = Math.max(...recent.map((s) => s.bytes), 1);
  const bw = Math.min(48, (w - pad * 2) / recent.length);
  const chart = svg("svg", { viewBox: `0 0 ${w} ${h + 20}`, width: "100%", height: String(h + 20), role: "img", "aria-labelledby": "bk-trend-caption", class: "bars" });
  recent.forEach((s, i) => {
    const bh = Math.max(2, Math.round((s.bytes / max) * (h - 10)));
    const title = svg("title");
    title.textContent = `${dateTime(s.at)}: ${bytes(s.bytes)}`;
    chart.append(svg("rect", { x: String(pad + i * bw + 2), y: String(h - bh), width: String(Math.max(1, bw - 4)), height: String(bh), class: "bar" }, title));
  });
  chart.append(svg("line", { x1: "0", y1: String(h), x2: String(w), y2: String(h), class: "axis" }));
  const first = recent[0];
  const last = recent[recent.length - 1];
  fig.append(
    chart,
    el("figcaption", {
      id: "bk-trend-caption",
      text: t("backups.trend_caption", { n: recent.length, from: dateTime(first.at), to: dateTime(last.at), first: bytes(first.bytes), last: bytes(last.bytes), max: bytes(max) }),
    }),
  );
}

function offsite(o) {
  if (!o) return t("backups.offsite_none");
  if (!o.configured && !o.at && !o.error) return t("backups.offsite_unconfigured");
  if (o.error) return t("backups.offsite_error", { error: o.error, when: dateTime(o.error_at) });
  if (o.at) return t("backups.offsite_ok", { when: dateTime(o.at), name: o.name || "" });
  return t("backups.offsite_none");
}

function binlogs(b, stale) {
  if (!b) return t("backups.binlogs_none");
  if (stale) return t("backups.binlogs_stale", { when: dateTime(b.updated_at), error: b.error || (b.offsite && b.offsite.error) || "" });
  return t("backups.binlogs_ok", { when: dateTime(b.updated_at), files: b.files });
}

function render(res) {
  const s = res.status || {};
  $("#bk-body").hidden = false;
  const stale = $("#bk-stale");
  stale.hidden = !res.stale;
  stale.textContent = s.last_verified ? t("backups.stale_since", { when: dateTime(s.last_verified.created_at) }) : t("backups.stale_none");
  $("#bk-last").textContent = s.last_backup ? t("backups.info", { when: dateTime(s.last_backup.created_at), size: bytes(s.last_backup.size) }) : t("backups.none");
  $("#bk-verified").textContent = s.last_verified
    ? t("backups.verified_info", { when: dateTime(s.last_verified.created_at), size: bytes(s.last_verified.size), verified: dateTime(s.last_verified.verified_at) })
    : t("backups.none_verified");
  const v = s.last_verification;
  const ver = $("#bk-verification");
  ver.replaceChildren();
  if (v) {
    ver.append(
      el("span", { class: "badge", dataset: { result: v.ok ? "ok" : "failed" }, text: v.ok ? t("backups.verification_ok") : t("backups.verification_failed") }),
      " ",
      t("backups.verification_info", { name: v.name, when: dateTime(v.verified_at), tables: (v.tables || []).length }),
      v.error ? el("span", { class: "error-text", text: " " + v.error }) : "",
    );
  } else {
    ver.textContent = t("backups.never_verified");
  }
  $("#bk-offsite").textContent = offsite(s.offsite);
  $("#bk-binlogs").textContent = binlogs(s.binlogs, res.binlogs_stale);
  $("#bk-total").textContent = t("backups.total_info", { n: s.backups || 0, size: bytes(s.total_bytes || 0) });
  trend($("#bk-trend"), s.sizes);
  const verifiedName = s.last_verified && s.last_verified.name;
  const list = res.list || [];
  $("#bk-table tbody").replaceChildren(
    ...(list.length
      ? list.map((b) => {
          let state = "";
          if (b.name === verifiedName) state = t("backups.verified_at", { when: dateTime(s.last_verified.verified_at) });
          else if (v && v.name === b.name && !v.ok) state = t("backups.verification_failed");
          return el(
            "tr",
            { dataset: { name: b.name } },
            el("td", { text: dateTime(b.created_at) }),
            el("td", {}, el("code", { text: b.name })),
            el("td", { class: "num", text: bytes(b.size) }),
            el("td", { text: b.encrypted ? t("yes") : t("no") }),
            el("td", { text: state }),
          );
        })
      : [el("tr", {}, el("td", { colspan: 5, class: "muted", text: t("backups.none") }))]),
  );
}

boot(async () => {
  const res = await api("GET", "/backups");
  if (!res.configured) {
    $("#bk-unconfigured").hidden = false;
    return;
  }
  render(res);
});
