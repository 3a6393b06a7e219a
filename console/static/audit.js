// The audit log: every change made through the API (who, when, what,
// before and after), filtered by period, actor and entity.

import { api } from "./api.js";
import { boot } from "./shell.js";
import { $, el, message } from "./forms.js";
import { t, dateTime } from "./i18n.js";

function pretty(v) {
  if (v === null || v === undefined || v === "") return "";
  if (typeof v === "string") {
    try {
      return JSON.stringify(JSON.parse(v), null, 2);
    } catch {
      return v;
    }
  }
  return JSON.stringify(v, null, 2);
}

boot(async () => {
  const form = $("#audit-form");
  const load = async () => {
    $("#audit-error").textContent = "";
    const q = new URLSearchParams();
    for (const k of ["from", "to", "actor", "entity", "limit"]) {
      const v = form.elements[k].value.trim();
      if (v) q.set(k, v);
    }
    try {
      const res = await api("GET", `/audit?${q}`);
      const entries = res.entries || [];
      $("#audit-table tbody").replaceChildren(
        ...(entries.length
          ? entries.map((e) =>
              el(
                "tr",
                {},
                el("td", { text: dateTime(e.at) }),
                el("td", { text: e.actor }),
                el("td", { text: e.action }),
                el("td", { text: `${e.entity}${e.entity_id ? " #" + e.entity_id : ""}` }),
                el(
                  "td",
                  {},
                  e.before || e.after
                    ? el(
                        "details",
                        {},
                        el("summary", { text: t("audit.show_change") }),
                        el(
                          "div",
                          { class: "diff" },
                          el("div", {}, el("strong", { text: t("audit.before") }), el("pre", { class: "before", text: pretty(e.before) })),
                          el("div", {}, el("strong", { text: t("audit.after") }), el("pre", { class: "after", text: pretty(e.after) })),
                        ),
                      )
                    : "",
                ),
              ),
            )
          : [el("tr", {}, el("td", { colspan: 5, class: "muted", text: t("audit.none") }))]),
      );
    } catch (err) {
      $("#audit-error").textContent = message(err);
    }
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    load();
  });
  await load();
});
