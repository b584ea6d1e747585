// Login: paste the token once; it is checked against /api/accounts/me and kept for this tab.
import { ApiError, api, clearToken, describe, getToken, setToken } from "./api.js";

const NOTICES = {
  abgemeldet: "Sie sind abgemeldet. Das Token wurde aus diesem Browser-Tab entfernt.",
  abgelaufen: "Das Token ist nicht mehr gültig. Bitte melden Sie sich erneut an.",
};

const form = document.getElementById("login-form");
const field = document.getElementById("token");
const error = document.getElementById("login-error");

const notice = NOTICES[new URLSearchParams(location.search).get("hinweis")];
if (notice) {
  const p = document.createElement("p");
  p.className = "notice";
  p.textContent = notice;
  form.before(p);
}

if (getToken()) {
  location.replace("/app");
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  const token = field.value.trim();
  if (!token) {
    error.textContent = "Bitte fügen Sie Ihr Token ein.";
    field.focus();
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await api("/api/accounts/me", { token });
    setToken(token);
    location.assign("/app");
  } catch (e) {
    clearToken();
    error.textContent =
      e instanceof ApiError && e.status === 401
        ? "Dieses Token ist unbekannt oder widerrufen."
        : describe(e);
    field.focus();
    field.select();
  } finally {
    button.disabled = false;
  }
});
