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

const NEXT_KEY = "hospitation.next";

/** The page asked for before the login (only pages of this site), else the start page. */
function target() {
  const next = sessionStorage.getItem(NEXT_KEY) || "";
  sessionStorage.removeItem(NEXT_KEY);
  return /^\/app(\/|$)/.test(next) ? next : "/app";
}

if (getToken()) {
  location.replace(target());
}

async function logIn() {
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
    location.assign(target());
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
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  logIn();
});

// An invitation link carries the token after "#" (never sent to the server or in logs):
// take it from there, drop it from the address bar, and log in.
const invited = new URLSearchParams(location.hash.slice(1)).get("token");
if (invited) {
  history.replaceState(null, "", location.pathname + location.search);
  field.value = invited;
  logIn();
}
