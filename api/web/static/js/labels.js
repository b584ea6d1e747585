// German labels for the API's codes.
import { h } from "./dom.js";

export const ROLE_LABELS = {
  coordinator: "Koordination",
  applicant: "Bewerbung",
  mentor: "Mentoring",
};

export const ROUND_STATUS = {
  open: "offen",
  matching: "in Zuordnung",
  closed: "abgeschlossen",
};

export const ROUND_DIRECTION = {
  outgoing: "Berliner Beschäftigte → Partnerstädte",
  incoming: "Gäste aus Partnerstädten → Berlin",
};

export const PLACEMENT_STATUS = {
  proposed: "vorgeschlagen",
  confirmed: "bestätigt",
  rejected: "abgelehnt",
  superseded: "nicht mehr aktuell",
  withdrawn: "zurückgezogen",
  declined_by_host: "vom Gastgeber abgesagt",
  released: "aufgehoben",
};

/** Badge colour per placement state. */
export const PLACEMENT_KIND = {
  confirmed: "placed",
  proposed: "proposed",
  rejected: "rejected",
  superseded: "option",
  withdrawn: "rejected",
  declined_by_host: "rejected",
  released: "rejected",
};

/** The flag on a confirmed placement that a forced edit of its records broke. */
export const REVIEW_FLAG = "zu prüfen";

export const MENTOR_DECISION = {
  accepted: "vom Mentoring angenommen",
  declined: "vom Mentoring abgelehnt",
};

export const RUN_STATUS = {
  queued: "wartet",
  running: "läuft",
  done: "fertig",
  failed: "fehlgeschlagen",
  cancelled: "abgebrochen",
};

export const FINAL_RUN_STATUS = new Set(["done", "failed", "cancelled"]);

export const RUN_MODES = {
  "max-placed": "Möglichst viele Plätze",
  "max-fit": "Beste Gesamtpassung",
};

export const AUDIT_ACTIONS = {
  confirm: "Vorschlag bestätigt",
  reject: "Vorschlag abgelehnt",
  place: "von Hand platziert",
  mentor_accepted: "Mentoring: Gast angenommen",
  mentor_declined: "Mentoring: Gast abgelehnt",
  delete_applicant: "Bewerbung gelöscht",
  supersede: "Vorschlag ersetzt",
  withdraw: "Bewerbung zurückgezogen",
  release: "Platz aufgehoben",
  review: "zur Prüfung markiert",
  round_matching: "Runde in Zuordnung",
  round_open: "Runde wieder offen",
  round_close: "Runde abgeschlossen",
  round_reopen: "Runde wieder geöffnet",
};

/** Who decided: "coordinator:3" → "Koordination #3" (the account's number, never a raw code). */
export function actorLabel(actor) {
  if (!actor) return "";
  const [role, id] = actor.split(":");
  if (!ROLE_LABELS[role]) return actor === "system" ? "System" : actor;
  return id ? `${ROLE_LABELS[role]} #${id}` : ROLE_LABELS[role];
}

/** A German label for a code, or a neutral German word (never the raw code). */
export function label(table, code, fallback = "unbekannt") {
  return table[code] || fallback;
}

export const APPLICANT_STATE = {
  placed: "platziert",
  proposed: "vorgeschlagen",
  unplaced: "ohne Platz",
};

export const LANGUAGES = {
  de: "Deutsch",
  en: "Englisch",
  fr: "Französisch",
  pl: "Polnisch",
  cs: "Tschechisch",
  nl: "Niederländisch",
  sv: "Schwedisch",
  da: "Dänisch",
  fi: "Finnisch",
  et: "Estnisch",
  es: "Spanisch",
  it: "Italienisch",
  pt: "Portugiesisch",
  hu: "Ungarisch",
  sk: "Slowakisch",
  lt: "Litauisch",
  lv: "Lettisch",
  ru: "Russisch",
  tr: "Türkisch",
  uk: "Ukrainisch",
};

export function language(code) {
  return LANGUAGES[code] || code;
}

/** A coloured status badge; `kind` selects the colour (placed, proposed, unplaced, …). */
export function badge(text, kind) {
  return h("span", { class: `badge badge--${kind}` }, text);
}
