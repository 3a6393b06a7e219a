// The sign-in page: username and password, what went wrong in plain words
// (wrong password, locked until …, not allowed), then back to the page the
// visitor came for. A new appliance sends the visitor to its first-boot
// setup instead.

import { api } from "./api.js";
import { boot, signIn } from "./shell.js";
import { $ } from "./forms.js";
import { safeNext } from "./logic.js";

function next() {
  const home = new URL("./", location.href).pathname;
  return safeNext(new URLSearchParams(location.search).get("next"), home);
}

boot(
  async () => {
    // Already signed in (another tab, the back button): go on.
    try {
      await api("GET", "/auth/me", null, { auth: false });
      location.replace(next());
      await new Promise(() => {}); // stays "loading" until the next page
    } catch {
      // not signed in: the form it is
    }
    // A new appliance has no account yet: its first-boot setup comes first.
    try {
      const setup = await api("GET", "/setup", null, { auth: false });
      if (setup && setup.pending) {
        location.replace("setup");
        await new Promise(() => {});
      }
    } catch {
      // the sign-in form works without knowing
    }
    const form = $("#signin-form");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        if (await signIn(form)) location.replace(next());
      } finally {
        button.disabled = false;
      }
    });
    // Just set up: the administrator's name is filled in.
    const username = new URLSearchParams(location.search).get("username");
    if (username) {
      form.elements.username.value = username;
      form.elements.password.focus();
    } else {
      form.elements.username.focus();
    }
  },
  { open: true },
);
