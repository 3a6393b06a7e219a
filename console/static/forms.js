// Forms: errors next to the field they are about, read and fill by field
// name (dotted names such as "citizen.phone" or "ranges[2].start" are the
// API's field paths), and nothing the person typed is ever cleared by an
// error.

import { t, has } from "./i18n.js";

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// el builds an element: el("td", {class: "x", text: "…"}, child…).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k === "class") e.className = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, "");
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// message is what a person reads for an API error: the catalogue's wording
// of its code when there is one, else the appliance's message.
export function message(err) {
  if (!err) return "";
  const key = "error." + err.code;
  if (has(key)) return t(key, err.details || {});
  if (err.status === 0) return t("error.network_error");
  return err.message || t("error.generic");
}

function fieldOf(form, name) {
  if (!name) return null;
  const byName = form.querySelector(`[name="${CSS.escape(name)}"]`);
  if (byName) return byName;
  return form.querySelector(`[data-field="${CSS.escape(name)}"]`);
}

// errorSlot is the message element of a field, made on first use, placed
// after the field (or after its label, for checkboxes) and tied to it with
// aria-describedby.
function errorSlot(field) {
  const host = field.type === "hidden" ? field.closest("fieldset") || field.parentElement : field.closest(".field, form.inline, td") || field.parentElement;
  let slot = host.querySelector(":scope > .field-error");
  if (!slot) {
    slot = el("p", { class: "field-error" });
    slot.id = (field.id || field.name.replace(/[^\w-]/g, "_") + "-" + Math.random().toString(36).slice(2, 7)) + "-error";
    host.append(slot);
  }
  return slot;
}

export function clearErrors(form) {
  for (const e of form.querySelectorAll(".field-error")) e.textContent = "";
  for (const f of form.querySelectorAll("[aria-invalid]")) f.removeAttribute("aria-invalid");
  const fe = form.querySelector(".form-error");
  if (fe) fe.textContent = "";
}

// fieldError shows text next to the field named name; false when the form
// has no such field.
export function fieldError(form, name, text) {
  const f = fieldOf(form, name);
  if (!f) return false;
  const slot = errorSlot(f);
  slot.textContent = text;
  const target = f.type === "hidden" ? null : f;
  if (target) {
    target.setAttribute("aria-invalid", "true");
    const ids = new Set((target.getAttribute("aria-describedby") || "").split(" ").filter(Boolean));
    ids.add(slot.id);
    target.setAttribute("aria-describedby", [...ids].join(" "));
  }
  return true;
}

export function formError(form, text) {
  const fe = form.querySelector(".form-error");
  if (fe) fe.textContent = text;
}

// showError puts an API error next to its field (or atop the form) and
// moves the focus there, so a keyboard or screen-reader user finds it.
export function showError(form, err) {
  const text = message(err);
  if (err && err.field && fieldError(form, err.field, text)) {
    const f = fieldOf(form, err.field);
    if (f && f.type !== "hidden" && f.focus) f.focus();
    return;
  }
  formError(form, text);
}

// showErrors shows client-side validation errors ({field: text}); true if
// there were any. The first invalid field gets the focus.
export function showErrors(form, errors) {
  const names = Object.keys(errors);
  let first = null;
  for (const n of names) {
    if (!fieldError(form, n, errors[n])) formError(form, errors[n]);
    else if (!first) first = fieldOf(form, n);
  }
  if (first && first.type !== "hidden" && first.focus) first.focus();
  return names.length > 0;
}

// value reads one named field: numbers as numbers, checkboxes as booleans.
export function value(form, name) {
  const f = form.querySelector(`[name="${CSS.escape(name)}"]`);
  if (!f) return undefined;
  if (f.type === "checkbox") return f.checked;
  if (f.type === "number") return f.value === "" ? null : Number(f.value);
  return f.value;
}

export function setValue(form, name, v) {
  const f = form.querySelector(`[name="${CSS.escape(name)}"]`);
  if (!f) return;
  if (f.type === "checkbox") f.checked = !!v;
  else f.value = v === null || v === undefined ? "" : String(v);
}

// options fills a select with [{value, label}] keeping the selected value
// when it is still there.
export function options(select, list, { empty } = {}) {
  const keep = select.value;
  select.replaceChildren();
  if (empty !== undefined) select.append(el("option", { value: "", text: empty }));
  for (const o of list) select.append(el("option", { value: String(o.value), text: o.label }));
  if ([...select.options].some((o) => o.value === keep)) select.value = keep;
}

// checks fills a box with labelled checkboxes and returns a reader of the
// checked values (as numbers).
export function checks(box, list, checked, name) {
  box.replaceChildren();
  const want = new Set((checked || []).map(String));
  for (const o of list) {
    const id = `${box.id}-${o.value}`;
    box.append(
      el("label", { for: id, class: "check" }, el("input", { type: "checkbox", id, value: String(o.value), name: name || null, checked: want.has(String(o.value)) }), " ", o.label),
    );
  }
  return () => [...box.querySelectorAll("input[type=checkbox]:checked")].map((c) => Number(c.value));
}

// busy disables a button while fn runs; clicks meanwhile are ignored.
export async function busy(button, fn) {
  if (button && button.dataset.busy === "1") return undefined;
  if (button) {
    button.dataset.busy = "1";
    button.setAttribute("aria-busy", "true");
  }
  try {
    return await fn();
  } finally {
    if (button) {
      delete button.dataset.busy;
      button.removeAttribute("aria-busy");
    }
  }
}

// notice says something in the page's status line.
export function notice(text, kind = "ok") {
  const n = document.getElementById("notice");
  if (!n) return;
  n.textContent = text;
  n.dataset.kind = kind;
}
