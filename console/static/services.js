// Services and every rule they have (docs/console.md "Services"): a list,
// and one form for a new service or the chosen one. Errors show next to
// their field and nothing typed is lost on a refusal.

import { api } from "./api.js";
import { boot } from "./shell.js";
import { $, el, options, clearErrors, showError, showErrors, setValue, value, notice, busy } from "./forms.js";
import { t } from "./i18n.js";
import { validateService, serviceNumbers, serviceFlags } from "./logic.js";

// What a new municipal service starts from (the appliance's defaults).
const DEFAULTS = {
  name: "", description: "", notes: "", prefix: "", site_id: "", target_wait_min: 15, allowed_lateness_min: 10,
  checkin_early_min: 30, checkin_required: true, second_checkin: false, online_bookable: true, overbooking_pct: 0,
  auto_regulation: false, min_notice_min: 0, max_days_ahead: 60, avg_service_min: 10, id_required_future: true,
  walkin_quota_per_hour: 0, one_active_booking: false, priority_weight: 2, early_calls: true, active: true,
};
const TEXTS = ["name", "description", "notes", "prefix"];

const page = { services: [], sites: [] };
window.avantiServices = page;

function fill(form, s) {
  clearErrors(form);
  setValue(form, "id", s.id || "");
  for (const k of Object.keys(DEFAULTS)) setValue(form, k, s[k] === undefined ? DEFAULTS[k] : s[k]);
  $("#svc-form-title").textContent = s.id ? t("services.edit", { name: s.name }) : t("services.new");
}

function read(form) {
  const s = {};
  for (const k of TEXTS) s[k] = value(form, k).trim();
  s.prefix = s.prefix.toUpperCase();
  s.site_id = Number(value(form, "site_id")) || 0;
  for (const k of Object.keys(serviceNumbers)) s[k] = value(form, k);
  for (const k of serviceFlags) s[k] = value(form, k);
  return s;
}

function renderList() {
  $("#service-table tbody").replaceChildren(
    ...page.services.map((s) =>
      el(
        "tr",
        { dataset: { id: s.id } },
        el("td", { text: s.prefix }),
        el("th", { scope: "row", text: s.name }),
        el("td", { text: s.active === false ? t("no") : t("yes") }),
        el("td", {}, el("button", { type: "button", class: "link", "aria-label": t("edit_named", { name: s.name }), onclick: () => edit(s.id) }, t("edit"))),
      ),
    ),
  );
}

async function load() {
  const res = await api("GET", "/services?all=true");
  page.services = res.services || [];
  renderList();
}

async function edit(id) {
  let s = page.services.find((x) => x.id === id);
  if (!s || s.avg_service_min === undefined) s = await api("GET", `/services/${id}`);
  fill($("#service-form"), s);
  $("#svc-name").focus();
}

async function loadSites() {
  try {
    const org = await api("GET", "/org");
    page.sites = org.sites || [];
  } catch {
    page.sites = [];
  }
  options($("#svc-site"), page.sites.map((s) => ({ value: s.id, label: s.name })), { empty: t("choose") });
  if (page.sites.length === 1) $("#svc-site").value = String(page.sites[0].id);
}

boot(async () => {
  const form = $("#service-form");
  await Promise.all([load(), loadSites()]);
  fill(form, { ...DEFAULTS, site_id: page.sites.length === 1 ? page.sites[0].id : "" });
  $("#service-new").addEventListener("click", () => {
    fill(form, { ...DEFAULTS, site_id: page.sites.length === 1 ? page.sites[0].id : "" });
    $("#svc-name").focus();
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const s = read(form);
    const errs = validateService(s);
    if (showErrors(form, Object.fromEntries(Object.entries(errs).map(([k, [key, p]]) => [k, t(key, p)])))) return;
    const id = Number(value(form, "id")) || 0;
    await busy(form.querySelector("button[type=submit]"), async () => {
      try {
        const saved = id ? await api("PUT", `/services/${id}`, s) : await api("POST", "/services", s);
        notice(t("services.saved", { name: saved.name || s.name }));
        await load();
        fill(form, saved && saved.id ? saved : { ...s, id });
      } catch (err) {
        showError(form, err);
      }
    });
  });
});
