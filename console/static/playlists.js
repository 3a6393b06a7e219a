// Playlists ("palinsesti") of the displays and totems on standby: texts,
// uploaded images and short videos, each with a duration, weekdays and a
// time window (PlaylistItem, docs/realtime.md).

import { api } from "./api.js";
import { boot } from "./shell.js";
import { $, el, clearErrors, showError, showErrors, setValue, value, notice, busy, message } from "./forms.js";
import { t } from "./i18n.js";
import { move } from "./logic.js";

const page = { playlists: [], items: [] };
window.avantiPlaylists = page;

const HHMM = /^(|([01]\d|2[0-3]):[0-5]\d|24:00)$/;

function render() {
  $("#playlists-table tbody").replaceChildren(
    ...page.playlists.map((p) =>
      el(
        "tr",
        { dataset: { id: p.id } },
        el("th", { scope: "row", text: p.name }),
        el("td", { class: "num", text: (p.items || []).length }),
        el("td", {}, el("button", { type: "button", class: "link", "aria-label": t("edit_named", { name: p.name }), onclick: () => fill(p) }, t("edit"))),
      ),
    ),
  );
}

function itemView(it, i) {
  const n = page.items.length;
  const p = `items[${i}]`;
  const id = (f) => `pl-item-${i}-${f}`;
  const bind = (input, f, conv = (v) => v) => {
    input.addEventListener("input", () => (it[f] = conv(input.value)));
    return input;
  };
  const field = (f, label, input) => el("div", { class: "field" }, el("label", { for: id(f), text: label }), input);
  const content =
    it.kind === "text"
      ? field("text", t("playlists.text"), bind(el("textarea", { id: id("text"), name: `${p}.text`, rows: 2 }, it.text || ""), "text"))
      : el(
          "div",
          { class: "media" },
          it.kind === "image" ? el("img", { src: it.url, alt: t("playlists.image_alt", { n: i + 1 }), class: "thumb" }) : el("video", { src: it.url, class: "thumb", muted: true, "aria-label": t("playlists.video_alt", { n: i + 1 }) }),
          el("code", { text: it.url }),
        );
  const days = el(
    "fieldset",
    { class: "days" },
    el("legend", { text: t("playlists.days") }),
    ...[1, 2, 3, 4, 5, 6, 7].map((d) => {
      const cb = el("input", { type: "checkbox", id: id("day" + d), checked: (it.days || []).includes(d) });
      cb.addEventListener("change", () => {
        const set = new Set(it.days || []);
        if (cb.checked) set.add(d);
        else set.delete(d);
        it.days = [...set].sort();
      });
      return el("label", { for: id("day" + d), class: "check" }, cb, " ", t("weekday_short." + d));
    }),
  );
  const tool = (text, label, on, disabled) => el("button", { type: "button", class: "link", "aria-label": label, disabled, onclick: on }, text);
  const name = it.kind === "text" ? (it.text || "").slice(0, 30) : it.url;
  return el(
    "li",
    { dataset: { kind: it.kind } },
    el("p", { class: "item-head" }, el("strong", { text: `${i + 1}. ${t("playlists.kind_" + it.kind)}` }), " ",
      tool(t("up"), t("playlists.move_up", { n: i + 1 }), () => restructure(move(page.items, i, -1), i - 1), i === 0), " ",
      tool(t("down"), t("playlists.move_down", { n: i + 1 }), () => restructure(move(page.items, i, 1), i + 1), i === n - 1), " ",
      tool(t("remove"), t("playlists.remove_item", { n: i + 1, name }), () => restructure(page.items.filter((_, j) => j !== i), Math.min(i, n - 2)), false)),
    content,
    el(
      "div",
      { class: "row" },
      field("duration_sec", t("playlists.duration"), bind(el("input", { id: id("duration_sec"), name: `${p}.duration_sec`, type: "number", min: 1, max: 3600, value: it.duration_sec, class: "short" }), "duration_sec", Number)),
      field("from", t("playlists.from"), bind(el("input", { id: id("from"), name: `${p}.from`, value: it.from || "", placeholder: "hh:mm", class: "hhmm" }), "from")),
      field("to", t("playlists.to"), bind(el("input", { id: id("to"), name: `${p}.to`, value: it.to || "", placeholder: "hh:mm", class: "hhmm" }), "to")),
    ),
    days,
  );
}

function renderItems(focusIndex) {
  $("#pl-items").replaceChildren(...page.items.map(itemView));
  if (focusIndex !== undefined && focusIndex >= 0) {
    const li = $(`#pl-items li:nth-child(${focusIndex + 1})`);
    const f = li && li.querySelector("textarea, input");
    if (f) f.focus();
  }
}

function restructure(items, focus) {
  page.items = items;
  renderItems(focus);
}

function fill(p) {
  const form = $("#playlist-form");
  clearErrors(form);
  setValue(form, "id", p ? p.id : "");
  setValue(form, "name", p ? p.name : "");
  page.items = p ? (p.items || []).map((x) => ({ ...x, days: x.days || [] })) : [];
  renderItems();
  $("#pl-form-title").textContent = p ? t("playlists.edit", { name: p.name }) : t("playlists.new");
  $("#pl-name").focus();
}

async function load() {
  const res = await api("GET", "/playlists");
  page.playlists = res.playlists || [];
  render();
}

async function upload(file) {
  const state = $("#pl-upload-state");
  state.textContent = t("playlists.uploading", { name: file.name });
  try {
    const m = await api("POST", `/media?name=${encodeURIComponent(file.name)}`, null, { raw: file, type: file.type || "application/octet-stream" });
    const kind = String(m.content_type || file.type).startsWith("video/") ? "video" : "image";
    page.items.push({ kind, url: m.url, text: "", duration_sec: kind === "video" ? 30 : 10, days: [], from: "", to: "" });
    renderItems(page.items.length - 1);
    state.textContent = t("playlists.uploaded", { name: file.name });
  } catch (err) {
    state.textContent = message(err);
  }
}

boot(async () => {
  await load();
  fill(null);
  $("#playlist-new").addEventListener("click", () => fill(null));
  $("#pl-add-text").addEventListener("click", () => {
    page.items.push({ kind: "text", url: "", text: "", duration_sec: 10, days: [], from: "", to: "" });
    renderItems(page.items.length - 1);
  });
  $("#pl-upload").addEventListener("change", async (e) => {
    const files = [...e.target.files];
    for (const f of files) await upload(f);
    e.target.value = "";
  });
  const form = $("#playlist-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const body = { name: value(form, "name").trim(), items: page.items.map((x) => ({ kind: x.kind, url: x.url || "", text: x.text || "", duration_sec: Number(x.duration_sec) || 0, days: x.days || [], from: x.from || "", to: x.to || "" })) };
    const errs = {};
    if (!body.name) errs.name = t("invalid.required");
    body.items.forEach((it, i) => {
      if (it.kind === "text" && !it.text.trim()) errs[`items[${i}].text`] = t("invalid.required");
      if (!(it.duration_sec >= 1 && it.duration_sec <= 3600)) errs[`items[${i}].duration_sec`] = t("invalid.range", { min: 1, max: 3600 });
      if (!HHMM.test(it.from)) errs[`items[${i}].from`] = t("invalid.time");
      if (!HHMM.test(it.to)) errs[`items[${i}].to`] = t("invalid.time");
      else if (!it.from !== !it.to) errs[`items[${i}].${it.from ? "to" : "from"}`] = t("invalid.both_times");
    });
    if (showErrors(form, errs)) return;
    const id = Number(value(form, "id")) || 0;
    await busy(form.querySelector("button[type=submit]"), async () => {
      try {
        const saved = id ? await api("PUT", `/playlists/${id}`, body) : await api("POST", "/playlists", body);
        notice(t("playlists.saved", { name: body.name }));
        await load();
        fill(saved && saved.id ? saved : null);
      } catch (err) {
        showError(form, err);
      }
    });
  });
});
