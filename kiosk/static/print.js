// The ticket on 80 mm thermal paper: owner, address, service, date, time,
// code (large), QR code, the totem's text, in that order (docs/kiosk.md).
// The totem page loads it in a hidden frame; it prints itself once the QR
// image is in (Chromium started with --kiosk-printing prints silently) and
// tells the totem how it went. Opened on its own it prints too, unless
// ?print=0 (a preview).

import { api } from "./api.js";

const $ = (id) => document.getElementById(id);
const token = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
const query = new URLSearchParams(location.search);
const wantPrint = query.get("print") !== "0";

// The totem's token (kept by the totem page, or on the URL) makes the
// appliance add the totem's own ticket text; anyone else gets the ticket
// without it.
function kioskToken() {
  try {
    return query.get("token") || localStorage.getItem("avanti.kiosk.token") || "";
  } catch {
    return query.get("token") || "";
  }
}

function tell(ok, code) {
  document.body.dataset.state = ok ? "printed" : "error";
  if (window.parent !== window) {
    window.parent.postMessage({ type: "avanti.print", token, ok, code: code || "" }, location.origin);
  }
}

async function main() {
  const r = await api("GET", "/api/v1/tickets/" + encodeURIComponent(token) + "/print", { auth: kioskToken() });
  if (r.error) {
    tell(false, r.error.code === "network" ? "network" : "printer_error");
    return;
  }
  const p = r.data || {};
  $("owner").textContent = p.owner || "";
  $("address").textContent = p.address || "";
  $("service").textContent = p.service || "";
  $("date").textContent = p.date || "";
  $("time").textContent = p.time_text || p.time || "";
  $("code").textContent = p.code || "";
  $("text").textContent = p.text || "";
  $("text").hidden = !p.text;
  const qr = $("qr");
  qr.alt = "QR " + (p.code || "");
  const loaded = new Promise((res) => {
    qr.onload = () => res(true);
    qr.onerror = () => res(false);
  });
  qr.src = p.qr_png || "/api/v1/tickets/" + encodeURIComponent(token) + "/qr.png";
  const ok = await loaded;
  try {
    await document.fonts.ready;
  } catch {
    // no font loading API: print with what is there
  }
  if (!ok) {
    // A ticket without its QR cannot be checked in: say so, print nothing.
    tell(false, "printer_error");
    return;
  }
  fitPage();
  document.body.dataset.state = "ready";
  if (wantPrint) window.print();
  tell(true);
}

// fitPage sets the page to the paper's width and the ticket's length.
function fitPage() {
  const mm = Math.ceil(document.documentElement.getBoundingClientRect().height * 25.4 / 96) + 2;
  const sheet = [...document.styleSheets].find((x) => x.href && x.href.endsWith("/print.css"));
  try {
    sheet.insertRule(`@page { size: 80mm ${mm}mm; margin: 0; }`, sheet.cssRules.length);
  } catch {
    // no stylesheet to add to: the printer's paper size stands
  }
}

main();
