// The public call: offers, the application form with suggestions and wishes, and
// „Meine Bewerbung“ for whoever opened their confirmation link (its token, kept for this tab).
import { ApiError, api, clearToken, getToken, setToken } from "./api.js";

const $ = (id) => document.getElementById(id);
const form = $("application");
const wishSelects = [...document.querySelectorAll("[data-wish]")];
const TEXT_FIELDS = ["name", "email", "home_organisation", "position", "motivation", "available_from", "available_until"];
let slug = null;
let offers = [];
let editing = false; // „Meine Bewerbung“: the form changes the stored application

const berlin = new Intl.DateTimeFormat("de-DE", { dateStyle: "medium", timeStyle: "short", timeZone: "Europe/Berlin" });
const day = (iso) => new Date(`${iso}T00:00:00`).toLocaleDateString("de-DE");

function say(text) {
  $("status").textContent = text;
}

function fail(error) {
  $("page-error").textContent = error instanceof ApiError || error instanceof Error ? error.message : String(error);
}

/** "de C2, en B2" → {de: "C2", en: "B2"}; anything unreadable goes as typed (the server names it). */
function parseLanguages(text) {
  const result = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const [code, level] = part.split(/\s+/);
    result[code.toLowerCase()] = (level || "").toUpperCase();
  }
  return result;
}

function values() {
  const data = {};
  for (const name of TEXT_FIELDS) data[name] = form.elements[name].value.trim();
  data.languages = parseLanguages(form.elements.languages.value);
  data.preferred_cities = form.elements.preferred_cities.value.split(",").map((c) => c.trim()).filter(Boolean);
  data.weeks_wanted = Number.parseInt(form.elements.weeks_wanted.value, 10) || 0;
  data.wishes = wishSelects.map((s) => s.value).filter(Boolean);
  data.homepage = form.elements.homepage.value;
  return data;
}

function fill(application) {
  for (const name of TEXT_FIELDS) form.elements[name].value = application[name] ?? "";
  form.elements.languages.value = Object.entries(application.languages).map(([c, l]) => `${c} ${l}`).join(", ");
  form.elements.preferred_cities.value = application.preferred_cities.join(", ");
  form.elements.weeks_wanted.value = application.weeks_wanted;
  wishSelects.forEach((select, k) => { select.value = application.wishes[k] || ""; });
}

function showErrors(error) {
  for (const p of form.querySelectorAll("[data-error]")) p.textContent = "";
  $("form-error").textContent = "";
  if (!error) return;
  if (!(error instanceof ApiError)) return fail(error);
  const unplaced = [];
  for (const e of error.errors) {
    const target = form.querySelector(`[data-error="${CSS.escape(String(e.field).split(".")[0])}"]`);
    if (target) target.textContent = e.message;
    else unplaced.push(e.message);
  }
  $("form-error").textContent = [error.message, ...unplaced].join(" ");
}

function offerLabel(offer) {
  return `${offer.city} – ${offer.organisation}: ${offer.title}`;
}

function showOffers() {
  const body = $("offers");
  body.replaceChildren();
  for (const offer of offers) {
    const row = body.insertRow();
    row.insertCell().textContent = offer.city;
    row.insertCell().textContent = offer.organisation;
    row.insertCell().textContent = offer.title;
    row.insertCell().textContent = `${day(offer.available_from)} – ${day(offer.available_until)}, ${offer.min_weeks}–${offer.max_weeks} Wochen`;
    row.insertCell().textContent = `${offer.working_languages.join(", ")} (ab ${offer.min_language_level})`;
  }
  for (const select of wishSelects) {
    const empty = new Option("– kein Wunsch –", "");
    select.replaceChildren(empty, ...offers.map((o) => new Option(offerLabel(o), o.offer_id)));
  }
  $("offers-section").hidden = false;
}

async function loadCall() {
  const call = await api(`/api/public/calls/${encodeURIComponent(slug)}`, { token: null });
  offers = call.offers;
  $("title").textContent = `Ausschreibung: ${call.round_name}`;
  showOffers();
  return call;
}

function takeAsWish(offerId) {
  if (wishSelects.some((s) => s.value === offerId)) return;
  const free = wishSelects.find((s) => !s.value);
  if (free) free.value = offerId;
}

async function suggest() {
  const list = $("suggestions");
  list.replaceChildren();
  try {
    const found = await api(`/api/public/calls/${encodeURIComponent(slug)}/suggestions`, { method: "POST", body: values(), token: null });
    showErrors(null);
    for (const s of found) {
      const item = document.createElement("li");
      item.className = "card";
      const heading = document.createElement("h4");
      heading.textContent = `${s.city} – ${s.organisation}: ${s.title}`;
      const strength = document.createElement("p");
      strength.className = "meta";
      strength.textContent = `Passung: ${s.strength}`;
      const why = document.createElement("p");
      why.className = "explanation";
      why.textContent = s.explanation;
      const take = document.createElement("button");
      take.type = "button";
      take.className = "button";
      take.textContent = "Als Wunsch übernehmen";
      take.addEventListener("click", () => takeAsWish(s.offer_id));
      item.append(heading, strength, why, take);
      list.append(item);
    }
    if (!found.length) say("Zu diesen Angaben passt derzeit kein Angebot (Sprache, Zeitraum oder Dauer).");
  } catch (error) {
    showErrors(error);
  }
}

async function submitApplication(event) {
  event.preventDefault();
  const button = $("submit");
  button.disabled = true;
  try {
    if (editing) {
      await api("/api/me/application", { method: "PUT", body: values() });
      showErrors(null);
      say("Ihre Änderungen sind gespeichert.");
      await showMine();
    } else {
      const answer = await api(`/api/public/calls/${encodeURIComponent(slug)}/applications`, { method: "POST", body: values(), token: null });
      form.hidden = true;
      say(answer.detail);
    }
  } catch (error) {
    showErrors(error);
  } finally {
    button.disabled = false;
  }
}

function fact(list, term, value) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = value;
  list.append(dt, dd);
}

async function showMine() {
  const mine = await api("/api/me/application");
  const facts = $("mine-facts");
  facts.replaceChildren();
  fact(facts, "Kennung", mine.applicant_id);
  fact(facts, "Runde", mine.round_name);
  if (mine.applications_until) fact(facts, "Bewerbungsschluss", `${berlin.format(new Date(mine.applications_until))} Uhr`);
  fact(facts, "Änderungen", mine.editable ? "bis zum Bewerbungsschluss möglich" : "nicht mehr möglich");
  $("mine").hidden = false;
  if (mine.call) {
    slug = mine.call;
    await loadCall();
  }
  fill(mine);
  editing = true;
  form.elements.email.readOnly = true; // the confirmed address stays
  $("form-title").textContent = "Bewerbung ändern";
  $("submit").textContent = "Änderungen speichern";
  form.hidden = !mine.editable;
}

async function withdraw() {
  if (!window.confirm("Bewerbung wirklich zurückziehen? Ihre Angaben werden gelöscht.")) return;
  try {
    await api("/api/me/application", { method: "DELETE" });
    clearToken();
    $("mine").hidden = true;
    form.hidden = true;
    $("offers-section").hidden = true;
    say("Ihre Bewerbung ist zurückgezogen und gelöscht.");
  } catch (error) {
    fail(error);
  }
}

async function confirmLink(token) {
  history.replaceState(null, "", location.pathname); // the token leaves the address bar
  const confirmed = await api("/api/public/confirmations", { method: "POST", body: { token }, token: null });
  setToken(token);
  say(`${confirmed.detail} Ihre Kennung: ${confirmed.applicant_id}.`);
}

async function start() {
  form.addEventListener("submit", submitApplication);
  $("suggest").addEventListener("click", suggest);
  $("withdraw").addEventListener("click", withdraw);
  const token = new URLSearchParams(location.hash.slice(1)).get("zugang");
  slug = new URLSearchParams(location.search).get("aufruf");
  try {
    if (token) await confirmLink(token);
    if (getToken() && !slug) {
      await showMine();
      return;
    }
    if (!slug) {
      say("Bitte öffnen Sie den Link der Ausschreibung.");
      return;
    }
    const call = await loadCall();
    if (call.accepting) {
      say(`Bewerbungsschluss: ${berlin.format(new Date(call.applications_until))} Uhr.`);
      form.hidden = false;
    } else {
      say("Die Bewerbungsfrist ist abgelaufen; Bewerbungen sind nicht mehr möglich.");
    }
  } catch (error) {
    fail(error);
  }
}

start();
