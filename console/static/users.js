// Users and roles, with the services each operator is assigned to (the
// services their desk opens with). A local user created without a password
// gets a generated one, shown here once.

import { api } from "./api.js";
import { boot } from "./shell.js";
import { $, el, checks, clearErrors, showError, showErrors, setValue, value, notice, busy } from "./forms.js";
import { t } from "./i18n.js";

const page = { users: [], services: [], readServices: () => [] };
window.avantiUsers = page;

// emailLike is a first check of one bare address; the appliance has the
// last word.
function emailLike(s) {
  return /^[^\s@<>,;"]+@[^\s@<>,;"]+$/.test(s);
}

function serviceNames(ids) {
  return (ids || []).map((id) => (page.services.find((s) => s.id === id) || { prefix: "#" + id }).prefix).join(", ");
}

function render() {
  $("#users-table tbody").replaceChildren(
    ...page.users.map((u) =>
      el(
        "tr",
        { dataset: { id: u.id } },
        el("th", { scope: "row", text: u.username }),
        el("td", { text: u.display_name }),
        el("td", { text: u.email || "" }),
        el("td", { text: t("role." + u.role) }),
        el("td", { text: serviceNames(u.service_ids) }),
        el("td", { text: u.active === false ? t("no") : t("yes") }),
        el("td", {}, el("button", { type: "button", class: "link", "aria-label": t("edit_named", { name: u.username }), onclick: () => fill(u) }, t("edit"))),
      ),
    ),
  );
}

function fill(u) {
  const form = $("#user-form");
  clearErrors(form);
  setValue(form, "id", u ? u.id : "");
  setValue(form, "username", u ? u.username : "");
  setValue(form, "display_name", u ? u.display_name : "");
  setValue(form, "email", u ? u.email || "" : "");
  setValue(form, "role", u ? u.role : "operator");
  setValue(form, "source", u ? u.source || "local" : "local");
  setValue(form, "password", "");
  setValue(form, "active", u ? u.active !== false : true);
  form.elements.username.readOnly = !!u;
  page.readServices = checks($("#user-services"), page.services.map((s) => ({ value: s.id, label: `${s.prefix} · ${s.name}` })), u ? u.service_ids : []);
  $("#user-form-title").textContent = u ? t("users.edit", { name: u.username }) : t("users.new");
  $("#user-password-once").hidden = true;
  form.elements[u ? "display_name" : "username"].focus();
}

async function load() {
  const res = await api("GET", "/users");
  page.users = res.users || [];
  render();
}

boot(async () => {
  const [svc] = await Promise.all([api("GET", "/services?all=true"), load()]);
  page.services = (svc.services || []).slice().sort((a, b) => a.prefix.localeCompare(b.prefix));
  render();
  fill(null);
  $("#user-new").addEventListener("click", () => fill(null));
  const form = $("#user-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const id = Number(value(form, "id")) || 0;
    const body = {
      username: value(form, "username").trim(),
      display_name: value(form, "display_name").trim(),
      email: value(form, "email").trim(),
      role: value(form, "role"),
      source: value(form, "source"),
      service_ids: page.readServices(),
    };
    const pw = value(form, "password");
    if (pw) body.password = pw;
    if (id) body.active = value(form, "active");
    const errs = {};
    if (!body.username) errs.username = t("invalid.required");
    if (!body.display_name) errs.display_name = t("invalid.required");
    if (body.email && !emailLike(body.email)) errs.email = t("invalid.email");
    if (pw && pw.length < 10) errs.password = t("invalid.password_short");
    if (showErrors(form, errs)) return;
    await busy(form.querySelector("button[type=submit]"), async () => {
      try {
        const res = id ? await api("PUT", `/users/${id}`, body) : await api("POST", "/users", body);
        const user = (res && res.user) || res;
        await load();
        notice(t("users.saved", { name: body.username }));
        fill(page.users.find((u) => u.id === (user && user.id)) || null);
        if (res && res.password) {
          $("#user-password-value").textContent = res.password;
          $("#user-password-once").hidden = false;
        }
      } catch (err) {
        showError(form, err);
      }
    });
  });
});
