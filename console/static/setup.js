// First-boot setup: a new appliance has no account, so this page is open
// to anyone who has the one-time code the appliance shows on its VM
// console screen. It creates the organisation, the first site and the
// administrator and hands time servers and network to the system; then
// the administrator signs in. Once done, the page says so.

import { api } from "./api.js";
import { boot } from "./shell.js";
import { $, clearErrors, fieldError, formError, showError, showErrors, message } from "./forms.js";
import { t } from "./i18n.js";

// list reads "a, b c" as ["a", "b", "c"].
export function list(s) {
  return String(s || "")
    .split(/[\s,;]+/)
    .map((x) => x.trim())
    .filter(Boolean);
}

// fieldName is the form's field for an API field path: every item of a
// list ("ntp_servers[1]", "network.dns[0]") is the list's one input.
export function fieldName(path) {
  return String(path || "").replace(/\[\d+\]$/, "");
}

function zones(select) {
  let all = [];
  try {
    all = Intl.supportedValuesOf("timeZone");
  } catch {
    return; // an old browser: Europe/Rome only, which is what Italy needs
  }
  const keep = select.value || "Europe/Rome";
  select.replaceChildren(...all.map((z) => new Option(z, z)));
  if (!all.includes(keep)) select.prepend(new Option(keep, keep));
  select.value = keep;
}

function showDone() {
  $("#setup-form").hidden = true;
  $("#setup-done").hidden = false;
  document.body.dataset.setup = "done";
}

function body(form) {
  const e = form.elements;
  const b = {
    code: e.code.value.trim(),
    owner_name: e.owner_name.value.trim(),
    site_name: e.site_name.value.trim(),
    address: e.address.value.trim(),
    timezone: e.timezone.value,
    admin_username: e.admin_username.value.trim(),
    admin_name: e.admin_name.value.trim(),
    admin_email: e.admin_email.value.trim(),
    admin_password: e.admin_password.value,
    ntp_servers: list(e.ntp_servers.value),
    network: { mode: form.querySelector('[name="network.mode"]:checked').value },
  };
  if (b.network.mode === "static") {
    b.network.address = e["network.address"].value.trim();
    b.network.gateway = e["network.gateway"].value.trim();
    b.network.dns = list(e["network.dns"].value);
  }
  return b;
}

function check(form, b) {
  const missing = {};
  for (const k of ["code", "owner_name", "site_name", "admin_username", "admin_password"]) if (!b[k]) missing[k] = t("invalid.required");
  if (b.admin_password && b.admin_password !== form.elements.admin_password2.value) missing.admin_password2 = t("setup.passwords_differ");
  if (b.network.mode === "static") {
    if (!b.network.address) missing["network.address"] = t("invalid.required");
    if (!b.network.gateway) missing["network.gateway"] = t("invalid.required");
  }
  return missing;
}

boot(
  async () => {
    const form = $("#setup-form");
    const state = await api("GET", "/setup", null, { auth: false });
    if (!state.pending) {
      showDone();
      return;
    }
    document.body.dataset.setup = "pending";
    form.hidden = false;
    zones(form.elements.timezone);
    const staticFields = $("#setup-static-fields");
    for (const r of form.querySelectorAll('[name="network.mode"]')) {
      r.addEventListener("change", () => {
        staticFields.hidden = form.querySelector('[name="network.mode"]:checked').value !== "static";
      });
    }
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearErrors(form);
      const b = body(form);
      if (showErrors(form, check(form, b))) return;
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        // Nobody is signed in: no session, so no CSRF token either (as
        // for signing in); the JSON body keeps other sites' forms out.
        const answer = await api("POST", "/setup", b, { auth: false });
        location.replace("login?username=" + encodeURIComponent(answer.admin || b.admin_username));
      } catch (err) {
        button.disabled = false;
        if (err.code === "setup_done") {
          showDone();
          return;
        }
        if (err.field) {
          err.field = fieldName(err.field);
          // The catalogue's invalid_address is a postal address's.
          if (err.field === "network.address") {
            fieldError(form, err.field, t("setup.net_address_hint"));
            form.elements["network.address"].focus();
            return;
          }
        }
        if (err.code === "setup_code_renewed") {
          form.elements.code.value = "";
          fieldError(form, "code", message(err));
          form.elements.code.focus();
          return;
        }
        showError(form, err);
        if (!err.field) formError(form, message(err));
      }
    });
    form.elements.code.focus();
  },
  { open: true },
);
