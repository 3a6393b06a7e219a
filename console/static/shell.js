// What every console page does first: ask the appliance who is signed in
// (anonymous → the sign-in page, coming back here afterwards), show the
// menu of that role, refuse a page that is not for it ("non autorizzato"),
// then hand over to the page's own module. Also the language switch, the
// logout button and the sign-in dialog shown when the session expires.

import { api, setCSRF, setReauth } from "./api.js";
import { t, setLanguage, time, dateTime } from "./i18n.js";
import { allowed } from "./logic.js";
import { $, $$, clearErrors, fieldError, formError, message, notice, showErrors } from "./forms.js";

const body = document.body;

// session is who is signed in: {user, csrf_token}.
export const session = { user: null, csrf: "" };

// userOf reads the answer of /auth/login and /auth/me: Me, the User's
// fields and csrf_token in one object (docs/console.md); a {"user": User}
// wrapper is read too.
export function userOf(answer) {
  if (!answer) return null;
  if (answer.user) return answer.user;
  return answer.id ? answer : null;
}

function remember(answer) {
  session.user = userOf(answer);
  session.csrf = (answer && answer.csrf_token) || "";
  setCSRF(session.csrf);
}

function wireHeader() {
  const sw = $("#lang-switch");
  if (sw) sw.addEventListener("click", () => setLanguage(sw.dataset.lang));
  const out = $("#logout");
  if (out) {
    out.addEventListener("click", async () => {
      try {
        await api("POST", "/auth/logout", null, { auth: false });
      } catch {
        // signed out anyway: the session is gone or will expire
      }
      location.href = "login";
    });
  }
}

// loginError is the wording of a refused sign-in.
export function loginError(err) {
  if (err.code === "account_locked") {
    const until = err.details && err.details.until;
    return until ? t("error.account_locked_until", { until: time(until) }) : t("error.account_locked");
  }
  return message(err);
}

// signIn posts a sign-in form; it shows what went wrong and returns the
// answer, or null.
export async function signIn(form) {
  clearErrors(form);
  const username = form.elements.username.value.trim();
  const password = form.elements.password.value;
  const missing = {};
  if (!username) missing.username = t("invalid.required");
  if (!password) missing.password = t("invalid.required");
  if (showErrors(form, missing)) return null;
  try {
    const answer = await api("POST", "/auth/login", { username, password }, { auth: false });
    remember(answer);
    return answer;
  } catch (err) {
    if (err.field && fieldError(form, err.field, loginError(err))) {
      form.elements[err.field].focus();
    } else {
      formError(form, loginError(err));
      form.elements.password.select();
      form.elements.password.focus();
    }
    body.dataset.signinError = err.code;
    return null;
  }
}

// signInAgain shows the sign-in dialog over the page (whatever was typed on
// the page stays where it is) and resolves once signed in again.
function signInAgain() {
  const dlg = $("#signin-dialog");
  const form = $("#signin-dialog-form");
  const before = session.user;
  clearErrors(form);
  form.elements.username.value = before ? before.username : "";
  form.elements.password.value = "";
  body.dataset.session = "expired";
  return new Promise((resolve) => {
    const cancel = (e) => e.preventDefault(); // Escape does not leave it: signing in is the way on
    const submit = async (e) => {
      e.preventDefault();
      const answer = await signIn(form);
      if (!answer) return;
      form.removeEventListener("submit", submit);
      dlg.removeEventListener("cancel", cancel);
      dlg.close();
      body.dataset.session = "active";
      const user = userOf(answer);
      if (before && user && user.id !== before.id) {
        // Someone else signed in: this page was another person's.
        location.reload();
        return;
      }
      resolve();
    };
    form.addEventListener("submit", submit);
    dlg.addEventListener("cancel", cancel);
    if (!dlg.open) dlg.showModal();
    (form.elements.username.value ? form.elements.password : form.elements.username).focus();
  });
}

function showMenu(role) {
  for (const li of $$("#nav li[data-roles]")) li.hidden = !allowed(li.dataset.roles, role);
  const who = $("#who");
  if (who) {
    who.textContent = `${session.user.display_name || session.user.username} · ${t("role." + role)}`;
    who.hidden = false;
  }
  $("#logout").hidden = false;
}

// backupBanner warns an admin, on every page, that no backup verified in
// the last 26 hours exists (the API's stale flag). Other roles never ask:
// the endpoint is the admins'. A failure to ask shows nothing.
export async function backupBanner() {
  let res;
  try {
    res = await api("GET", "/backups", null, { auth: false });
  } catch {
    return;
  }
  const banner = $("#backup-banner");
  if (!banner) return;
  const stale = !!(res && res.configured && res.stale);
  banner.hidden = !stale;
  body.dataset.backupStale = String(stale);
  if (!stale) return;
  const last = res.status && res.status.last_verified;
  $("#backup-banner-text").textContent = last ? t("backup_banner.since", { when: dateTime(last.created_at) }) : t("backup_banner.none");
}

function reveal(id) {
  $("#loading").hidden = true;
  $(id).hidden = false;
}

// boot runs the page: init(user) once the visitor may see it. A public page
// (sign-in) runs init(null) at once.
export async function boot(init, { open = false } = {}) {
  wireHeader();
  if (open) {
    reveal("#content");
    await init(null);
    body.dataset.state = "ready";
    return;
  }
  let answer;
  try {
    answer = await api("GET", "/auth/me", null, { auth: false });
  } catch (err) {
    if (err.status === 401) {
      body.dataset.state = "signin";
      location.replace("login?next=" + encodeURIComponent(location.pathname + location.search + location.hash));
      return;
    }
    $("#loading").textContent = message(err);
    body.dataset.state = "error";
    return;
  }
  remember(answer);
  setReauth(signInAgain);
  body.dataset.session = "active";
  const role = session.user.role;
  body.dataset.role = role;
  showMenu(role);
  if (role === "admin") backupBanner();
  if (!allowed(body.dataset.roles, role)) {
    reveal("#forbidden");
    document.title = t("forbidden.title") + " — Avanti";
    body.dataset.state = "forbidden";
    return;
  }
  reveal("#content");
  try {
    await init(session.user);
    body.dataset.state = "ready";
  } catch (err) {
    console.error("avanti: page", err);
    notice(message(err), "error");
    body.dataset.state = "error";
  }
}
