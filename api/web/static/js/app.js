// The application shell: who is logged in (GET /api/accounts/me), navigation, routing by path.
import { ApiError, api, clearToken, describe, getToken } from "./api.js";
import * as coordinator from "./coordinator.js";
import * as review from "./review.js";
import * as setup from "./setup.js";
import { h, replace } from "./dom.js";
import { ROLE_LABELS } from "./labels.js";
import { mentorView } from "./mentor.js";
import { applicantView } from "./applicant.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const toastBox = document.getElementById("toast");

/** Where the login page sends the user back to (this tab only): the page they asked for. */
const NEXT_KEY = "hospitation.next";
const SCROLL_KEY = "hospitation.scroll";

const HOME = { coordinator: "/app/runden", applicant: "/app/vorschlaege", mentor: "/app/gaeste" };

const ROUTES = [
  { role: "coordinator", pattern: /^\/app\/runden\/?$/, view: coordinator.roundsView },
  { role: "coordinator", pattern: /^\/app\/runden\/neu$/, view: setup.newRoundView },
  { role: "coordinator", pattern: /^\/app\/runden\/(\d+)\/einrichtung$/, view: setup.setupView },
  { role: "coordinator", pattern: /^\/app\/runden\/(\d+)\/pruefen$/, view: review.queueView },
  { role: "coordinator", pattern: /^\/app\/runden\/(\d+)$/, view: coordinator.overviewView },
  {
    role: "coordinator",
    pattern: /^\/app\/runden\/(\d+)\/bewerbungen$/,
    view: coordinator.applicantsView,
  },
  {
    role: "coordinator",
    pattern: /^\/app\/runden\/(\d+)\/bewerbungen\/([^/]+)$/,
    view: coordinator.applicantView,
  },
  { role: "coordinator", pattern: /^\/app\/runden\/(\d+)\/angebote$/, view: coordinator.offersView },
  {
    role: "coordinator",
    pattern: /^\/app\/runden\/(\d+)\/angebote\/([^/]+)$/,
    view: coordinator.offerView,
  },
  { role: "coordinator", pattern: /^\/app\/runden\/(\d+)\/zuordnung$/, view: coordinator.runsView },
  { role: "coordinator", pattern: /^\/app\/runden\/(\d+)\/protokoll$/, view: coordinator.auditView },
  { role: "applicant", pattern: /^\/app\/vorschlaege$/, view: applicantView },
  { role: "mentor", pattern: /^\/app\/gaeste$/, view: mentorView },
];

let me = null;
let generation = 0;
let toastTimer = null;

function toast(message) {
  clearTimeout(toastTimer);
  toastBox.textContent = message;
  toastBox.classList.add("toast--visible");
  toastTimer = setTimeout(() => toastBox.classList.remove("toast--visible"), 6000);
}

/** Remember how far the current page was scrolled, so going back restores it. */
function rememberScroll() {
  const positions = JSON.parse(sessionStorage.getItem(SCROLL_KEY) || "{}");
  positions[location.pathname + location.search] = window.scrollY;
  sessionStorage.setItem(SCROLL_KEY, JSON.stringify(positions));
}

function restoreScroll() {
  const positions = JSON.parse(sessionStorage.getItem(SCROLL_KEY) || "{}");
  window.scrollTo(0, positions[location.pathname + location.search] || 0);
}

export function navigate(path, { replaceState = false } = {}) {
  if (replaceState) history.replaceState(null, "", path);
  else {
    rememberScroll();
    history.pushState(null, "", path);
  }
  render({ focus: true });
}

/** Back to the login page; with `keepPlace` the login returns to the page shown now. */
function logout(hint = "abgemeldet", { keepPlace = false } = {}) {
  const here = location.pathname + location.search;
  clearToken();
  sessionStorage.clear(); // the remembered round too: nothing of this session stays behind
  if (keepPlace) sessionStorage.setItem(NEXT_KEY, here);
  location.replace(`/?hinweis=${hint}`);
}

function renderNav(path) {
  const items = [];
  if (me.role === "coordinator") {
    const match = /^\/app\/runden\/(\d+)/.exec(path);
    if (match) {
      const base = `/app/runden/${match[1]}`;
      items.push(
        ["Übersicht", base, (p) => p === base],
        ["Einrichtung", `${base}/einrichtung`, (p) => p === `${base}/einrichtung`],
        ["Prüfen", `${base}/pruefen`, (p) => p === `${base}/pruefen`],
        ["Bewerbungen", `${base}/bewerbungen`, (p) => p.startsWith(`${base}/bewerbungen`)],
        ["Angebote", `${base}/angebote`, (p) => p.startsWith(`${base}/angebote`)],
        ["Zuordnung", `${base}/zuordnung`, (p) => p === `${base}/zuordnung`],
        ["Protokoll", `${base}/protokoll`, (p) => p === `${base}/protokoll`],
      );
    }
  } else if (me.role === "applicant") {
    items.push(["Meine Vorschläge", HOME.applicant, (p) => p === HOME.applicant]);
  } else if (me.role === "mentor") {
    items.push(["Meine Gäste", HOME.mentor, (p) => p === HOME.mentor]);
  }
  replace(
    nav,
    h(
      "ul",
      {},
      items.map(([label, href, active]) =>
        h("li", {}, h("a", { href, "aria-current": active(path) ? "page" : null }, label)),
      ),
    ),
  );
}

function errorPage(title, message) {
  return [
    h("h1", { tabindex: "-1" }, title),
    h("p", { class: "error-box", role: "alert" }, message),
    h("p", {}, h("a", { href: HOME[me.role] || "/app" }, "Zur Startseite")),
  ];
}

/** A loading state for every navigation: the old page dims and a bar runs until the new one. */
function showLoading() {
  main.setAttribute("aria-busy", "true");
  if (!document.querySelector(".loading-bar")) {
    document.body.append(h("div", { class: "loading-bar", role: "progressbar", "aria-label": "Seite wird geladen" }));
  }
}

function hideLoading() {
  main.removeAttribute("aria-busy");
  document.querySelector(".loading-bar")?.remove();
}

async function render({ focus = false, restore = false } = {}) {
  generation += 1;
  const gen = generation;
  showLoading();
  const path = location.pathname.replace(/\/+$/, "") || "/app";
  if (path === "/app") {
    history.replaceState(null, "", HOME[me.role]);
    render({ focus });
    return;
  }
  renderNav(path);
  const route = ROUTES.find((r) => r.pattern.test(path));
  const ctx = {
    me,
    path,
    query: new URLSearchParams(location.search),
    alive: () => gen === generation,
    navigate,
    toast,
    rerender: () => gen === generation && render(),
  };
  let nodes;
  try {
    if (!route) {
      nodes = errorPage("Seite nicht gefunden", "Diese Seite gibt es nicht.");
    } else if (route.role !== me.role) {
      nodes = errorPage(
        "Kein Zugriff",
        `Diese Seite ist für die Rolle „${ROLE_LABELS[route.role]}“; Sie sind als „${ROLE_LABELS[me.role]}“ angemeldet.`,
      );
    } else {
      const args = route.pattern.exec(path).slice(1).map(decodeURIComponent);
      nodes = await route.view(ctx, ...args);
    }
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      logout("abgelaufen", { keepPlace: true });
      return;
    }
    nodes = errorPage(
      error instanceof ApiError && error.status === 404 ? "Nicht gefunden" : "Fehler",
      describe(error),
    );
  }
  if (gen !== generation || nodes === undefined) return; // a newer navigation took over
  hideLoading();
  replace(main, nodes);
  if (restore) restoreScroll();
  const heading = main.querySelector("h1");
  document.title = `${heading ? heading.textContent : "Hospitation Matcher"} · Hospitation Matcher`;
  if (focus && heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: restore });
  }
}

async function boot() {
  if (!getToken()) {
    // A deep link or new tab: log in first, then come back here.
    sessionStorage.setItem(NEXT_KEY, location.pathname + location.search);
    location.replace("/");
    return;
  }
  try {
    me = await api("/api/accounts/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      logout("abgelaufen");
      return;
    }
    replace(main, h("h1", {}, "Fehler"), h("p", { class: "error-box" }, describe(error)));
    return;
  }
  const who = me.applicant_id ? `${me.label} · ${me.applicant_id}` : me.label;
  replace(
    document.getElementById("account"),
    h("span", { class: "badge badge--role" }, ROLE_LABELS[me.role]),
    " ",
    who,
  );
  document.getElementById("logout").addEventListener("click", () => logout());
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[href]");
    if (
      !link ||
      event.defaultPrevented ||
      event.button !== 0 ||
      event.metaKey ||
      event.ctrlKey ||
      event.shiftKey ||
      event.altKey ||
      link.target ||
      link.hasAttribute("download")
    ) {
      return;
    }
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith("/app")) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
  window.addEventListener("popstate", () => render({ focus: true, restore: true }));
  history.scrollRestoration = "manual";
  await render();
}

boot();
