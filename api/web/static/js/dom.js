// Building the DOM from data. Every piece of text goes in as a text node (never as markup), so a
// motivation containing "<script>" is shown as exactly those characters.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function applyAttrs(node, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else if (value === true) {
      node.setAttribute(name, "");
    } else {
      node.setAttribute(name, String(value));
    }
  }
}

/** An HTML element: h("a", {href: "/x", class: "link"}, "text", otherNode). */
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  applyAttrs(node, attrs);
  append(node, children);
  return node;
}

/** An SVG element (same calling convention as h). */
export function s(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  applyAttrs(node, attrs);
  append(node, children);
  return node;
}

/** Replace a node's children. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
  return parent;
}

let uid = 0;
/** A fresh id for label/field pairs. */
export function nextId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

const numberFormats = new Map();
/** A number in German notation with a fixed number of decimals. */
export function num(value, decimals = 0) {
  if (!numberFormats.has(decimals)) {
    numberFormats.set(
      decimals,
      new Intl.NumberFormat("de-DE", {
        minimumFractionDigits: decimals,
        maximumFractionDigits: decimals,
      }),
    );
  }
  return numberFormats.get(decimals).format(value);
}

const dateTime = new Intl.DateTimeFormat("de-DE", { dateStyle: "medium", timeStyle: "short" });
const dateOnly = new Intl.DateTimeFormat("de-DE", { dateStyle: "medium" });

/** An ISO timestamp as German date and time ("" for none). */
export function when(iso) {
  return iso ? dateTime.format(new Date(iso)) : "";
}

/** An ISO date (yyyy-mm-dd) as a German date. */
export function day(iso) {
  return iso ? dateOnly.format(new Date(`${iso}T12:00:00`)) : "";
}

/**
 * The explanation with the matched applicant and offer sentences wrapped in <mark>.
 * The engine quotes both as „…“; a sentence that is not found is simply not marked.
 */
export function highlighted(explanation, applicantSentence, offerSentence) {
  const marks = [
    { text: applicantSentence, cls: "mark-applicant", label: "Satz der Bewerbung" },
    { text: offerSentence, cls: "mark-offer", label: "Satz des Angebots" },
  ]
    .filter((m) => m.text)
    .map((m) => ({ ...m, at: explanation.indexOf(m.text) }))
    .filter((m) => m.at >= 0)
    .sort((a, b) => a.at - b.at);
  const parts = [];
  let pos = 0;
  for (const m of marks) {
    if (m.at < pos) continue; // overlapping sentences: keep the first mark
    parts.push(explanation.slice(pos, m.at));
    parts.push(h("mark", { class: m.cls, title: m.label }, m.text));
    pos = m.at + m.text.length;
  }
  parts.push(explanation.slice(pos));
  return parts;
}

const SCORE_HELP =
  "Passung von 0 bis 1: wie nah sich die Aufgaben der Bewerbung und das Thema des Angebots " +
  "sind (Themenpassung), plus ein kleiner Bonus, wenn die Stadt eine Wunschstadt ist. Höher ist besser.";

const STRENGTH_HELP =
  "„sehr gut“, „gut“ oder „schwach“ ordnet die Themenpassung ein; die Grenzen sind an " +
  "bewerteten Beispielpaaren festgelegt.";

/** Badge colour per strength label. */
const STRENGTH_KIND = { "sehr gut": "placed", gut: "proposed", schwach: "option" };

/** The strength label as a badge (nothing for pairs placed before labels were stored). */
export function strengthBadge(strength) {
  return strength
    ? h("span", { class: `badge badge--${STRENGTH_KIND[strength] || "option"}`, "data-strength": strength }, strength)
    : null;
}

/** Label and score in one cell of a list, with the explanation as its tooltip. */
export function strengthScore(strength, score) {
  return h(
    "span",
    { class: "strength", title: `${strength ? `${STRENGTH_HELP} ` : ""}${SCORE_HELP}` },
    strengthBadge(strength),
    strength ? " " : "",
    num(score, 2),
  );
}

/** A horizontal score bar (0 … 1) with its number and the strength label, if given; the bar is
 * decoration, the number is text, the tooltip explains both. */
export function scoreBar(score, label = "Passung", strength = null) {
  const fill = h("span", { class: "scorebar__fill" });
  fill.style.width = `${Math.max(0, Math.min(1, score)) * 100}%`;
  return h(
    "div",
    { class: "scorebar", title: `${strength ? `${STRENGTH_HELP} ` : ""}${SCORE_HELP}` },
    h("span", { class: "scorebar__label" }, label),
    strengthBadge(strength),
    h("span", { class: "scorebar__track", "aria-hidden": "true" }, fill),
    h("span", { class: "scorebar__value" }, num(score, 2)),
  );
}

/** A definition list from [term, value] pairs (values may be nodes); empty values are left out. */
export function facts(pairs, cls = "facts") {
  return h(
    "dl",
    { class: cls },
    pairs
      .filter(([, value]) => value !== null && value !== undefined && value !== "")
      .map(([term, value]) => h("div", {}, h("dt", {}, term), h("dd", {}, value))),
  );
}

/** A table from column headers and rows of cells (strings or nodes). */
export function table(caption, headers, rows, attrs = {}) {
  return h(
    "div",
    { class: "table-wrap", tabindex: "0" },
    h(
      "table",
      attrs,
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, headers.map((text) => h("th", { scope: "col" }, text)))),
      h(
        "tbody",
        {},
        rows.map((cells) => h("tr", {}, cells.map((cell) => h("td", {}, cell)))),
      ),
    ),
  );
}

/** A labelled multi-line text field; returns [wrapper, textarea]. */
export function reasonField(labelText, hint) {
  const id = nextId("reason");
  const hintId = hint ? `${id}-hint` : null;
  const area = h("textarea", {
    id,
    name: "reason",
    rows: 2,
    maxlength: 2000,
    "aria-describedby": hintId,
  });
  const wrapper = h(
    "div",
    { class: "field" },
    h("label", { for: id }, labelText),
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    area,
  );
  return [wrapper, area];
}
