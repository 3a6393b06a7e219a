// Updates: the version running and every update attempt (from which
// version to which, when, how it ended, rolled back or not). Updates are
// applied on the appliance itself (`avanti update apply BUNDLE`), not from
// a browser.

import { api } from "./api.js";
import { boot } from "./shell.js";
import { $, el } from "./forms.js";
import { t, dateTime } from "./i18n.js";

// Results as update's history names them.
const results = { installed: "installed", refused: "refused", aborted: "aborted", "rolled back": "rolled_back", "rollback failed": "rollback_failed" };

boot(async () => {
  const res = await api("GET", "/updates");
  $("#up-version").textContent = res.version || "";
  const history = res.history || [];
  $("#up-table tbody").replaceChildren(
    ...(history.length
      ? history.map((h) => {
          const r = results[h.result] || "";
          return el(
            "tr",
            { dataset: { result: r || h.result } },
            el("td", { text: dateTime(h.at) }),
            el("td", { text: h.from }),
            el("td", { text: h.version }),
            el("td", {}, el("span", { class: "badge", dataset: { result: r }, text: r ? t("updates.result." + r) : h.result })),
            el("td", { text: h.reason || "" }),
          );
        })
      : [el("tr", {}, el("td", { colspan: 5, class: "muted", text: t("updates.none") }))]),
  );
});
