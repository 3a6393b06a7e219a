// Remote maintenance: the vendor's engineers reach the appliance only
// while an admin has opened a window (for a while, with a reason); this
// page opens and closes windows, shows the open one with its remaining
// time, the appliance's public key the vendor pins, the past windows and
// the engineers' sessions as the agent recorded them.

import { api, Intent } from "./api.js";
import { boot } from "./shell.js";
import { $, el, busy, clearErrors, showError, showErrors, notice, message } from "./forms.js";
import { t, dateTime } from "./i18n.js";

const page = { offset: 0, open: null, timer: null };
const intent = new Intent();

// span is a duration in minutes for people: "1 h 05 min", "12 min".
export function span(ms) {
  const m = Math.max(0, Math.ceil(ms / 60000));
  const h = Math.floor(m / 60);
  return h ? t("maint.hours_minutes", { h, m: String(m % 60).padStart(2, "0") }) : t("maint.minutes", { m });
}

// who is a person as the audit names them ("user:anna"): the name alone.
export function who(name) {
  return String(name || "").replace(/^user:/, "");
}

function now() {
  return Date.now() + page.offset;
}

function showRemaining() {
  const w = page.open;
  if (!w) return;
  const left = Date.parse(w.until) - now();
  $("#mt-remaining").textContent = left > 0 ? t("maint.remaining", { left: span(left) }) : t("maint.ending");
}

function render(res) {
  page.open = res.open || null;
  $("#mt-open").hidden = !page.open;
  $("#mt-closed").hidden = !!page.open;
  document.body.dataset.maint = page.open ? "open" : "closed";
  if (page.open) {
    const w = page.open;
    $("#mt-open-state").textContent = t("maint.is_open");
    $("#mt-open-reason").textContent = w.reason;
    $("#mt-open-by").textContent = who(w.opened_by);
    $("#mt-open-from").textContent = dateTime(w.from);
    $("#mt-open-until").textContent = dateTime(w.until);
    showRemaining();
  }
  const key = res.public_key || "";
  $("#mt-key-box").hidden = !key;
  $("#mt-no-key").hidden = !!key;
  $("#mt-key").textContent = key;

  const windows = res.windows || [];
  $("#mt-windows tbody").replaceChildren(
    ...(windows.length
      ? windows.map((w) => {
          const isOpen = page.open && page.open.id === w.id;
          const state = isOpen ? t("maint.state_open") : w.closed_by ? t("maint.state_closed_by", { who: who(w.closed_by) }) : t("maint.state_expired");
          return el(
            "tr",
            { dataset: { id: w.id, state: isOpen ? "open" : "closed" } },
            el("td", { text: dateTime(w.from) }),
            el("td", { text: dateTime(w.until) }),
            el("td", { text: who(w.opened_by) }),
            el("td", { text: w.reason }),
            el("td", { text: state }),
          );
        })
      : [el("tr", {}, el("td", { colspan: 5, class: "muted", text: t("maint.no_windows") }))]),
  );

  const sessions = res.sessions || [];
  $("#mt-sessions tbody").replaceChildren(
    ...(sessions.length
      ? sessions.map((s) =>
          el(
            "tr",
            {},
            el("td", {}, s.key_comment || s.user, el("br"), el("code", { text: s.fingerprint })),
            el("td", { text: s.from }),
            el("td", { text: dateTime(s.start) }),
            el("td", { text: s.end ? span(s.duration_ns / 1e6) : t("maint.session_going") }),
            el("td", { text: (s.commands || []).join(", ") }),
          ),
        )
      : [el("tr", {}, el("td", { colspan: 5, class: "muted", text: t("maint.no_sessions") }))]),
  );
}

async function load() {
  render(await api("GET", "/maintenance"));
}

// confirm asks before closing: the engineers are cut off at once. The
// dialog's "close" event comes in a later task, so a quick second click can
// show the dialog again before the first answer's event arrives: the
// pending answer is settled then, from the dialog's returnValue, and a
// close event while the dialog is open (the late one) is ignored.
let answer = null;
function settle() {
  const dlg = $("#mt-confirm");
  if (!answer || dlg.open) return;
  const a = answer;
  answer = null;
  a(dlg.returnValue === "close");
}
function confirmClose() {
  const dlg = $("#mt-confirm");
  if (answer) {
    const a = answer;
    answer = null;
    a(dlg.returnValue === "close");
  }
  return new Promise((resolve) => {
    answer = resolve;
    dlg.returnValue = "";
    dlg.showModal();
    $("#mt-confirm-no").focus();
  });
}

boot(async (user) => {
  if (user && user.server_time) page.offset = Date.parse(user.server_time) - Date.now();
  const form = $("#mt-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const reason = form.elements.reason.value.trim();
    if (showErrors(form, reason ? {} : { reason: t("invalid.required") })) return;
    const button = form.querySelector("button[type=submit]");
    await busy(button, async () => {
      try {
        const body = { minutes: Number(form.elements.minutes.value), reason };
        await intent.run("open", (key) => api("POST", "/maintenance/windows", body, { key }));
        form.elements.reason.value = "";
        notice(t("maint.opened"));
        await load();
      } catch (err) {
        showError(form, err);
      }
    });
  });
  $("#mt-confirm").addEventListener("close", settle);
  $("#mt-close").addEventListener("click", async (e) => {
    const button = e.currentTarget;
    const w = page.open;
    if (!w || !(await confirmClose())) return;
    await busy(button, async () => {
      try {
        await intent.run("close", (key) => api("POST", `/maintenance/windows/${w.id}/close`, null, { key }));
        notice(t("maint.closed"));
      } catch (err) {
        notice(message(err), "error");
      }
      await load();
    });
  });
  $("#mt-copy").addEventListener("click", async () => {
    const key = $("#mt-key").textContent;
    let ok = false;
    try {
      await navigator.clipboard.writeText(key);
      ok = true;
    } catch {
      // Not a secure context (plain HTTP): select the key for Ctrl+C.
      const r = document.createRange();
      r.selectNodeContents($("#mt-key"));
      const sel = getSelection();
      sel.removeAllRanges();
      sel.addRange(r);
      ok = document.execCommand && document.execCommand("copy");
    }
    $("#mt-copied").textContent = ok ? t("maint.copied") : t("maint.copy_by_hand");
  });
  await load();
  page.timer = setInterval(showRemaining, 15000);
});
