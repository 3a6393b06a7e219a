// The signed-in person's account: who they are and, for local accounts,
// a new password.

import { api } from "./api.js";
import { boot } from "./shell.js";
import { $, clearErrors, showError, showErrors, notice } from "./forms.js";
import { t } from "./i18n.js";

boot(async (user) => {
  $("#account-username").textContent = user.username;
  $("#account-role").textContent = t("role." + user.role);
  $("#account-source").textContent = t("source." + (user.source || "local"));
  // An admin sets it on the users page; an admin's address receives the alerts.
  $("#account-email").textContent = user.email || t("account.no_email");
  const form = $("#password-form");
  if (user.source === "directory") {
    $("#password-directory").hidden = false;
    form.hidden = true;
    return;
  }
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const current = form.elements.current.value;
    const next = form.elements.new.value;
    const errs = {};
    if (!current) errs.current = t("invalid.required");
    if (next.length < 10) errs.new = t("invalid.password_short");
    if (showErrors(form, errs)) return;
    try {
      await api("POST", "/auth/password", { current, new: next });
      form.reset();
      notice(t("account.changed"));
    } catch (err) {
      showError(form, err);
    }
  });
});
