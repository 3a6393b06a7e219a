// HTTPS certificate: the one the appliance serves (its own CA's, or one
// from the municipal CA an admin put in its place), its own CA to install
// on the municipality's PCs, and the form that puts a municipal certificate
// and key in place (PEM, from files or pasted). With a certificate set in
// the appliance's settings (tls_cert_file) there is nothing to change here.

import { api } from "./api.js";
import { boot } from "./shell.js";
import { $, $$, busy, clearErrors, showError, showErrors, notice } from "./forms.js";
import { t, dateTime } from "./i18n.js";

function render(res) {
  const managed = !!(res && res.managed);
  document.body.dataset.tls = managed ? "managed" : "settings";
  // Served over plain HTTP (development, or tls_cert_file left empty):
  // there is no certificate to speak of.
  const plain = location.protocol === "http:";
  $("#tls-unmanaged").hidden = managed || plain;
  $("#tls-plain").hidden = managed || !plain;
  $("#tls-managed").hidden = !managed;
  if (!managed) return;
  const c = res.certificate;
  $("#tls-cert").hidden = !c;
  $("#tls-no-cert").hidden = !!c;
  document.body.dataset.tlsSource = c ? (c.own_ca ? "own" : "municipal") : "";
  if (c) {
    $("#tls-source").textContent = c.own_ca ? t("tls.own_ca") : t("tls.municipal_ca");
    $("#tls-subject").textContent = c.subject;
    $("#tls-issuer").textContent = c.issuer;
    $("#tls-names").textContent = (c.names || []).join(", ");
    $("#tls-not-before").textContent = dateTime(c.not_before);
    $("#tls-not-after").textContent = dateTime(c.not_after);
  }
  // The own CA matters to the PCs only while its certificate is served.
  $("#tls-ca").hidden = !res.ca_fingerprint || (c && !c.own_ca);
  $("#tls-fingerprint").textContent = fingerprint(res.ca_fingerprint || "");
}

// fingerprint groups the hex digest in pairs, as browsers show it.
export function fingerprint(hex) {
  return (hex.toUpperCase().match(/../g) || []).join(":");
}

// A file chosen is read into its textarea, where it can be checked.
function readInto(input) {
  const file = input.files && input.files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => {
    const area = $(`textarea[name="${input.dataset.for}"]`);
    area.value = String(reader.result || "");
    area.dispatchEvent(new Event("input", { bubbles: true }));
  };
  reader.readAsText(file);
}

boot(async () => {
  const form = $("#tls-form");
  for (const input of $$("input[type=file]", form)) input.addEventListener("change", () => readInto(input));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const body = { certificate: form.elements.certificate.value.trim() + "\n", key: form.elements.key.value.trim() + "\n" };
    const missing = {};
    if (!body.certificate.trim()) missing.certificate = t("invalid.required");
    if (!body.key.trim()) missing.key = t("invalid.required");
    if (showErrors(form, missing)) return;
    const button = form.querySelector("button[type=submit]");
    await busy(button, async () => {
      try {
        render(await api("PUT", "/tls", body));
        form.reset();
        notice(t("tls.installed"));
      } catch (err) {
        showError(form, err);
      }
    });
  });
  render(await api("GET", "/tls"));
});
