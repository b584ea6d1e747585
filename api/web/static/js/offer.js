// Offers online: a mentor opens the invitation link (token in the fragment), edits their
// offers until the offers deadline. Labels in German and English (mentors abroad).
import { ApiError, api, getToken, setToken } from "./api.js";

const FIELDS = [
  ["title", "Titel / Title", "text"],
  ["description", "Beschreibung / Description", "textarea"],
  ["language", "Sprache der Beschreibung / Language of the description (de, en, fr, …)", "text"],
  ["capacity", "Plätze / Places", "number"],
  ["available_from", "Verfügbar ab / Available from", "date"],
  ["available_until", "Verfügbar bis / Available until", "date"],
  ["min_weeks", "Mindestdauer (Wochen) / Minimum weeks", "number"],
  ["max_weeks", "Höchstdauer (Wochen) / Maximum weeks", "number"],
  ["working_languages", "Arbeitssprachen / Working languages (de, en, …)", "text"],
  ["min_language_level", "Mindestniveau / Minimum level (A1–C2)", "text"],
];
const NUMBERS = new Set(["capacity", "min_weeks", "max_weeks"]);

function field(offer, [name, label, type], form) {
  const wrap = document.createElement("div");
  wrap.className = "field";
  const id = `${offer.id}-${name}`;
  const labelEl = document.createElement("label");
  labelEl.htmlFor = id;
  labelEl.textContent = label;
  const input = document.createElement(type === "textarea" ? "textarea" : "input");
  if (type !== "textarea") input.type = type;
  else input.rows = 8;
  input.id = id;
  input.name = name;
  const value = offer[name];
  input.value = Array.isArray(value) ? value.join(", ") : (value ?? "");
  const error = document.createElement("p");
  error.className = "error";
  error.dataset.error = name;
  wrap.append(labelEl, input, error);
  form.append(wrap);
}

function values(form, offer) {
  const data = { ...offer };
  for (const [name] of FIELDS) {
    const raw = form.elements[name].value.trim();
    if (NUMBERS.has(name)) data[name] = Number.parseInt(raw, 10);
    else if (name === "working_languages") data[name] = raw.split(",").map((s) => s.trim()).filter(Boolean);
    else data[name] = raw || (name === "language" ? null : raw);
  }
  return data;
}

function showErrors(form, error) {
  for (const p of form.querySelectorAll("[data-error]")) p.textContent = "";
  const summary = form.querySelector(".form-error");
  summary.textContent = "";
  if (!(error instanceof ApiError)) return;
  for (const e of error.errors) {
    const target = form.querySelector(`[data-error="${CSS.escape(String(e.field).split(".")[0])}"]`);
    if (target) target.textContent = e.message;
  }
  summary.textContent = error.message;
}

function offerForm(offer) {
  const form = document.createElement("form");
  form.className = "card call-form";
  form.noValidate = true;
  const heading = document.createElement("h2");
  heading.textContent = `${offer.id}: ${offer.city} – ${offer.organisation}`;
  form.append(heading);
  for (const spec of FIELDS) field(offer, spec, form);
  const summary = document.createElement("p");
  summary.className = "error form-error";
  summary.setAttribute("role", "alert");
  const button = document.createElement("button");
  button.type = "submit";
  button.className = "button button--primary";
  button.textContent = "Speichern / Save";
  form.append(summary, button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      await api(`/api/mentor/offers/${encodeURIComponent(offer.id)}`, { method: "PUT", body: values(form, offer) });
      showErrors(form, null);
      document.getElementById("status").textContent = `${offer.id}: gespeichert / saved.`;
    } catch (error) {
      showErrors(form, error);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

async function start() {
  const token = new URLSearchParams(location.hash.slice(1)).get("zugang");
  if (token) {
    setToken(token);
    history.replaceState(null, "", location.pathname);
  }
  if (!getToken()) {
    document.getElementById("status").textContent = "Bitte öffnen Sie Ihren Einladungslink. / Please open your invitation link.";
    return;
  }
  try {
    const offers = await api("/api/mentor/offers");
    document.getElementById("offers").replaceChildren(...offers.map(offerForm));
  } catch (error) {
    document.getElementById("page-error").textContent = error.message;
  }
}

start();
