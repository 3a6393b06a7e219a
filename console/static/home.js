// The home page: the pages of the signed-in person's role, as large links.

import { boot } from "./shell.js";
import { $, $$, el } from "./forms.js";
import { t } from "./i18n.js";

boot(async (user) => {
  $("#home-hello").textContent = t("home.hello", { name: user.display_name || user.username });
  const list = $("#home-links");
  for (const li of $$("#nav li[data-roles]")) {
    if (li.hidden) continue;
    const a = li.querySelector("a");
    list.append(el("li", {}, el("a", { href: a.getAttribute("href") }, el("strong", { text: a.textContent }), el("span", { text: t("home.about." + a.getAttribute("href")) }))));
  }
});
