// The supervisor's view: every desk by room, who works there, its state,
// the ticket it serves and for how long it has been in that state, kept
// live by /ws/desk; and the queues of every service.

import { api } from "./api.js";
import { boot } from "./shell.js";
import { Live } from "./live.js";
import { $, $$, el } from "./forms.js";
import { t, lang } from "./i18n.js";
import { groupByRoom, mergeDesk, elapsed, punctuality } from "./logic.js";

const page = { desks: [], queue: [], offset: 0, snapshots: 0 };
window.avantiSupervisor = page;

function render() {
  const box = $("#rooms");
  box.replaceChildren(
    ...groupByRoom(page.desks).map((room) =>
      el(
        "section",
        { class: "room", "aria-labelledby": `room-${room.room_id}` },
        el("h2", { id: `room-${room.room_id}`, text: room.room_name }),
        el(
          "table",
          { class: "data" },
          el(
            "thead",
            {},
            el(
              "tr",
              {},
              ...["sup.desk", "sup.operator", "sup.state", "sup.ticket", "sup.in_state"].map((k) => el("th", { scope: "col", text: t(k) })),
            ),
          ),
          el(
            "tbody",
            {},
            ...room.desks.map((d) =>
              el(
                "tr",
                { dataset: { desk: d.id, state: d.state } },
                el("th", { scope: "row", text: d.name }),
                el("td", { text: d.state === "closed" ? "—" : d.operator_name || "" }),
                el("td", {}, el("span", { class: "badge", dataset: { state: d.state }, text: t("desk.state." + d.state) + (d.state === "paused" && d.pause_reason ? ` (${t("pause." + d.pause_reason)})` : "") })),
                el("td", { class: "code", text: d.current_ticket ? `${d.current_ticket.code} · ${t("status." + d.current_ticket.status)}` : "—" }),
                el("td", { class: "num elapsed", dataset: { since: d.state_since || "" }, text: d.state_since ? elapsed(d.state_since, Date.now() + page.offset) : "" }),
              ),
            ),
          ),
        ),
      ),
    ),
  );
  const tbody = $("#queue-table tbody");
  tbody.replaceChildren(
    ...page.queue.map((s) =>
      el(
        "tr",
        {},
        el("th", { scope: "row", text: `${s.prefix} · ${s.name}` }),
        el("td", { class: "num", text: s.waiting }),
        el("td", { dataset: { state: s.punctuality ? s.punctuality.state : "" }, text: punctuality(s.punctuality, t, lang) }),
        el("td", { text: s.last_called || "—" }),
      ),
    ),
  );
}

function tick() {
  for (const td of $$("td.elapsed")) {
    if (td.dataset.since) td.textContent = elapsed(td.dataset.since, Date.now() + page.offset);
  }
}

boot(async () => {
  const res = await api("GET", "/desks");
  page.desks = res.desks || [];
  render();
  setInterval(tick, 1000);
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const live = new Live({
    url: () => `${proto}//${location.host}/ws/desk`,
    onSnapshot: (msg) => {
      page.snapshots++;
      if (msg.server_time) page.offset = Date.parse(msg.server_time) - Date.now();
      page.desks = msg.desks || page.desks;
      page.queue = msg.services || [];
      render();
    },
    onEvent: (msg) => {
      if (msg.type === "desk" && msg.desk) page.desks = mergeDesk(page.desks, msg.desk);
      else if (msg.type === "queue") page.queue = msg.services || page.queue;
      render();
    },
    onState: (s) => {
      const e = $("#live-state");
      e.dataset.state = s;
      e.textContent = t("live." + s);
    },
  });
  live.start();
});
