/* Login form: POST /api/auth/login, then go to the map. */
import { t } from "./core.js";

var form = document.getElementById("login-form");
var error = document.getElementById("login-error");
form.addEventListener("submit", function (ev) {
  ev.preventDefault();
  error.hidden = true;
  fetch("/api/auth/login", { method: "POST", body: new FormData(form),
                             credentials: "same-origin" })
    .then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    })
    .then(function (res) {
      if (res.ok) { window.location.assign("/"); return; }
      error.textContent = res.body.detail || t("loginFailed");
      error.hidden = false;
    })
    .catch(function () { error.textContent = t("noServer"); error.hidden = false; });
});
