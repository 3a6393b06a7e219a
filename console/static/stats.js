// Statistics per service over a period: tickets, served, no-shows,
// revoked, average wait and service time.

import { api } from "./api.js";
import { boot } from "./shell.js";
import { $, el, message } from "./forms.js";
import { t, number } from "./i18n.js";
import { ymd } from "./logic.js";

boot(async () => {
  const form = $("#stats-form");
  const now = new Date();
  form.elements.from.value = ymd(new Date(now.getFullYear(), now.getMonth(), 1));
  form.elements.to.value = ymd(now);
  const load = async () => {
    $("#stats-error").textContent = "";
    try {
      const res = await api("GET", `/stats?from=${form.elements.from.value}&to=${form.elements.to.value}`);
      $("#stats-table tbody").replaceChildren(
        ...(res.services || []).map((s) =>
          el(
            "tr",
            {},
            el("th", { scope: "row", text: s.name }),
            el("td", { class: "num", text: number(s.tickets) }),
            el("td", { class: "num", text: number(s.served) }),
            el("td", { class: "num", text: number(s.no_show) }),
            el("td", { class: "num", text: number(s.revoked) }),
            el("td", { class: "num", text: number(s.avg_wait_min, 1) }),
            el("td", { class: "num", text: number(s.avg_service_min, 1) }),
          ),
        ),
      );
    } catch (err) {
      $("#stats-error").textContent = message(err);
    }
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    load();
  });
  await load();
});
