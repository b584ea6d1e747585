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
};

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
};

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
