// Coordinator views: round overview, applicants, shortlists and decisions, offers, batch runs,
// audit log. Every view loads what it shows from the API when it is opened.
import { api, describe, download } from "./api.js";
import { cityChart, placesPerCity } from "./chart.js";
import { day, facts, h, highlighted, nextId, num, reasonField, replace, scoreBar, table, when } from "./dom.js";
import {
  APPLICANT_STATE,
  AUDIT_ACTIONS,
  FINAL_RUN_STATUS,
  MENTOR_DECISION,
  PLACEMENT_KIND,
  PLACEMENT_STATUS,
  REVIEW_FLAG,
  ROLE_LABELS,
  ROUND_DIRECTION,
  ROUND_STATUS,
  RUN_MODES,
  RUN_STATUS,
  actorLabel,
  badge,
  label,
  language,
} from "./labels.js";

const ROUND_KEY = "hospitation.round";
const POLL_MS = 400;
/** Longest wait between two status requests after failures (the back-off doubles up to it). */
const POLL_MAX_MS = 8000;
const enc = encodeURIComponent;
export const page = (rid) => `/app/runden/${rid}`;
export const rest = (rid) => `/api/rounds/${rid}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// --- shared pieces ----------------------------------------------------------------------------

/** Placement states that hold a place (or may soon). */
const ACTIVE = new Set(["proposed", "confirmed"]);

/** Per applicant id: its state (placed / proposed / unplaced) and the deciding placement. */
function applicantStates(applicants, placements) {
  const states = new Map(applicants.map((a) => [a.id, { state: "unplaced", placement: null }]));
  for (const p of placements) {
    const current = states.get(p.applicant_id);
    if (!current) continue;
    if (p.status === "confirmed") states.set(p.applicant_id, { state: "placed", placement: p });
    else if (p.status === "proposed" && current.state === "unplaced") {
      states.set(p.applicant_id, { state: "proposed", placement: p });
    }
  }
  return states;
}

function stateBadge(state) {
  return badge(APPLICANT_STATE[state], state);
}

export function placementBadge(placement) {
  const main = badge(label(PLACEMENT_STATUS, placement.status), PLACEMENT_KIND[placement.status]);
  return placement.needs_review ? [main, " ", badge(REVIEW_FLAG, "proposed")] : main;
}

export function roundLine(summary) {
  return h(
    "p",
    { class: "eyebrow" },
    `Runde „${summary.name}“ · ${ROUND_DIRECTION[summary.direction] ?? ""} · `,
    badge(ROUND_STATUS[summary.status], `round-${summary.status}`),
  );
}

function closedNote(summary) {
  return summary.status === "closed"
    ? h("p", { class: "notice" }, "Diese Runde ist abgeschlossen und nur noch lesbar.")
    : null;
}

export function applicantLink(rid, id, text = id) {
  return h("a", { href: `${page(rid)}/bewerbungen/${enc(id)}`, class: text === id ? "id" : null }, text);
}

export function offerLink(rid, id, text = id) {
  return h("a", { href: `${page(rid)}/angebote/${enc(id)}`, class: text === id ? "id" : null }, text);
}

/** The matched sentences quoted at the start of an explanation, when the API gives no fields. */
export function topicSentences(explanation) {
  const match = /^Thema: „([\s\S]*?)“ (?:passt gut zu|berührt|passt zu) „([\s\S]*?)“/.exec(explanation);
  return match ? [match[1], match[2]] : [null, null];
}

function markLegend() {
  return h(
    "p",
    { class: "mark-legend" },
    "Hervorgehoben: ",
    h("mark", { class: "mark-applicant" }, "Satz der Bewerbung"),
    " passt zu ",
    h("mark", { class: "mark-offer" }, "Satz des Angebots"),
  );
}

/** The latest run that finished with a result, or null. */
function latestDone(runs) {
  return runs.find((run) => run.status === "done" && run.result) || null;
}

/**
 * A decision form: a labelled reason field, buttons, an error line. `actions` are
 * [label, className, handler(reason)]; a handler that throws shows the error in the form.
 */
export function decisionForm({ legend, hint, actions, disabled, requireReasonFor = [] }) {
  const [field, area] = reasonField("Begründung", hint);
  const error = h("p", { class: "error", role: "alert" });
  const buttons = actions.map(([label, cls, handler]) =>
    h(
      "button",
      {
        type: "button",
        class: `button ${cls}`,
        disabled,
        onclick: async (event) => {
          const reason = area.value.trim();
          error.textContent = "";
          if (requireReasonFor.includes(label) && !reason) {
            error.textContent = "Bitte geben Sie eine Begründung an.";
            area.focus();
            return;
          }
          const all = event.currentTarget.parentElement.querySelectorAll("button");
          all.forEach((b) => {
            b.disabled = true;
          });
          try {
            await handler(reason || null);
          } catch (e) {
            error.textContent = describe(e);
            all.forEach((b) => {
              b.disabled = false;
            });
          }
        },
      },
      label,
    ),
  );
  return h(
    "fieldset",
    { class: "decision", disabled },
    h("legend", {}, legend),
    field,
    h("div", { class: "button-row" }, buttons),
    error,
  );
}

// --- rounds and overview ----------------------------------------------------------------------

export async function roundsView(ctx) {
  const rounds = await api("/api/rounds");
  if (!rounds.length) {
    return [
      h("h1", {}, "Keine Runde"),
      h("p", {}, "Es gibt noch keine Runde."),
      h("p", {}, h("a", { href: "/app/runden/neu", class: "button button--primary" }, "Neue Runde anlegen")),
    ];
  }
  const remembered = Number(sessionStorage.getItem(ROUND_KEY));
  const chosen = rounds.find((r) => r.id === remembered) || rounds[rounds.length - 1];
  ctx.navigate(page(chosen.id), { replaceState: true });
  return undefined;
}

function roundPicker(ctx, rounds, rid) {
  const select = h(
    "select",
    { id: "round-select", name: "round" },
    rounds.map((r) =>
      h(
        "option",
        { value: r.id, selected: String(r.id) === rid },
        `${r.name} (${label(ROUND_STATUS, r.status)})`,
      ),
    ),
  );
  return h(
    "form",
    {
      class: "round-picker",
      onsubmit: (event) => {
        event.preventDefault();
        ctx.navigate(page(select.value));
      },
    },
    h("label", { for: "round-select" }, "Runde"),
    select,
    h("button", { type: "submit", class: "button" }, "Anzeigen"),
  );
}

function stat(key, label, value, hint) {
  return h(
    "div",
    { class: `stat stat--${key}` },
    h("dt", {}, label),
    h("dd", { "data-testid": `stat-${key}` }, num(value)),
    hint ? h("dd", { class: "stat__hint" }, hint) : null,
  );
}

/**
 * Close or reopen the round. Closing with undecided proposals is refused (409 with their
 * count); the form then offers to reject them all (``reject_pending``).
 */
function lifecycleCard(ctx, rid, summary) {
  const error = h("p", { class: "error", role: "alert" });
  const extra = h("div");
  const change = async (body, button) => {
    error.textContent = "";
    button.disabled = true;
    try {
      await api(rest(rid), { method: "PATCH", body });
      ctx.toast(body.status === "closed" ? "Die Runde ist abgeschlossen." : "Die Runde ist wieder offen.");
      ctx.rerender();
    } catch (e) {
      button.disabled = false;
      error.textContent = describe(e).replace(/ \(reject_pending:.*\)$/, "");
      const pending = e.status === 409 && e.errors.some((x) => x.field === "reject_pending");
      if (pending) {
        const all = h(
          "button",
          { type: "button", class: "button button--danger" },
          "Alle offenen ablehnen und abschließen",
        );
        all.addEventListener("click", () => change({ status: "closed", reject_pending: true }, all));
        replace(extra, h("div", { class: "button-row" }, all));
        all.focus();
      }
    }
  };
  const closed = summary.status === "closed";
  const button = h(
    "button",
    { type: "button", class: closed ? "button" : "button button--danger" },
    closed ? "Runde wieder öffnen" : "Runde abschließen",
  );
  button.addEventListener("click", () =>
    change({ status: closed ? "matching" : "closed" }, button),
  );
  return h(
    "section",
    { class: "card", "aria-labelledby": "lifecycle-heading" },
    h("h2", { id: "lifecycle-heading" }, "Runde"),
    h(
      "p",
      { class: "hint" },
      closed
        ? "Nach dem Wiederöffnen lassen sich Platzierungen wieder ändern."
        : "Abgeschlossen ist die Runde nur noch lesbar. Offene Vorschläge müssen vorher entschieden sein.",
    ),
    h("div", { class: "button-row" }, button, h("a", { href: "/app/runden/neu", class: "button" }, "Neue Runde anlegen")),
    error,
    extra,
  );
}

/** Freed places with the offer's alternates (GET …/todo), each a link to place them. */
function freedPlaces(rid, todo) {
  if (!todo.freed.length) return null;
  return h(
    "section",
    { class: "card", "aria-labelledby": "freed-heading", "data-testid": "freed" },
    h("h2", { id: "freed-heading" }, "Frei gewordene Plätze"),
    h(
      "ul",
      { class: "plain-list" },
      todo.freed.map((f) =>
        h(
          "li",
          {},
          offerLink(rid, f.placement.offer_id),
          ` (${f.placement.city}): `,
          placementBadge(f.placement),
          " ",
          applicantLink(rid, f.placement.applicant_id),
          f.alternates.length ? [" · Nachrücker: ", f.alternates.map((a, i) => [i ? ", " : "", applicantLink(rid, a)])] : " · keine Nachrücker",
        ),
      ),
    ),
  );
}

export async function overviewView(ctx, rid) {
  const [rounds, summary, offers, placements, runs, todo] = await Promise.all([
    api("/api/rounds"),
    api(rest(rid)),
    api(`${rest(rid)}/offers`),
    api(`${rest(rid)}/placements`),
    api(`${rest(rid)}/runs`),
    api(`${rest(rid)}/todo`),
  ]);
  sessionStorage.setItem(ROUND_KEY, rid);
  const withPlace = new Set(
    placements.filter((p) => ACTIVE.has(p.status)).map((p) => p.applicant_id),
  );
  const unplaced = summary.applicants - withPlace.size;
  const free = summary.places - summary.placed;
  const exportStatus = h("span", { class: "hint", role: "status" });
  const lastRun = runs[0];
  return [
    roundPicker(ctx, rounds, rid),
    h("h1", {}, "Übersicht"),
    h(
      "p",
      { class: "eyebrow" },
      "Status: ",
      badge(ROUND_STATUS[summary.status], `round-${summary.status}`),
      ` · ${ROUND_DIRECTION[summary.direction] ?? ""} · angelegt ${when(summary.created_at)}`,
    ),
    closedNote(summary),
    h(
      "dl",
      { class: "stats" },
      stat("applicants", "Bewerbungen", summary.applicants),
      stat("offers", "Angebote", summary.offers),
      stat("places", "Plätze", summary.places, "Summe der Kapazitäten"),
      stat("placed", "Platziert", summary.placed, "bestätigte Platzierungen"),
      stat("proposed", "Vorgeschlagen", summary.proposed, "warten auf Entscheidung"),
      stat("unplaced", "Ohne Platz", unplaced, "weder bestätigt noch vorgeschlagen"),
      stat("free", "Freie Plätze", free, "Plätze ohne bestätigte Platzierung"),
    ),
    freedPlaces(rid, todo),
    todo.review.length
      ? h(
          "section",
          { class: "card", "aria-labelledby": "review-flag-heading", "data-testid": "to-review" },
          h("h2", { id: "review-flag-heading" }, "Bestätigte Platzierungen zu prüfen"),
          h(
            "ul",
            { class: "plain-list" },
            todo.review.map((p) =>
              h("li", {}, applicantLink(rid, p.applicant_id), " → ", offerLink(rid, p.offer_id), " ", placementBadge(p), p.review_reason ? ` – ${p.review_reason}` : ""),
            ),
          ),
        )
      : null,
    h(
      "section",
      { class: "card", "aria-labelledby": "chart-heading" },
      h("h2", { id: "chart-heading" }, "Plätze je Stadt"),
      cityChart(placesPerCity(offers, placements)),
    ),
    h(
      "section",
      { class: "card actions-card", "aria-labelledby": "actions-heading" },
      h("h2", { id: "actions-heading" }, "Nächste Schritte"),
      h(
        "ul",
        { class: "action-list" },
        h(
          "li",
          {},
          h("a", { href: `${page(rid)}/einrichtung` }, "Einrichtung"),
          " · importieren, Datensätze bearbeiten, einladen",
        ),
        h(
          "li",
          {},
          h("a", { href: `${page(rid)}/zuordnung` }, "Batch-Zuordnung"),
          lastRun
            ? ` · letzte: #${lastRun.id} ${RUN_STATUS[lastRun.status]}, ${when(lastRun.created_at)}`
            : " · noch keine",
        ),
        h(
          "li",
          {},
          h("a", { href: `${page(rid)}/pruefen` }, "Offene Vorschläge prüfen"),
          ` · ${num(summary.proposed)}`,
        ),
        h(
          "li",
          {},
          h("a", { href: `${page(rid)}/bewerbungen?status=unplaced` }, "Bewerbungen ohne Platz"),
          ` · ${num(unplaced)}`,
        ),
        h(
          "li",
          {},
          exportButton(rid, "csv", "Ergebnis als CSV exportieren", exportStatus),
          " ",
          exportButton(rid, "xlsx", "Ergebnis als Excel-Datei (XLSX)", exportStatus),
          " ",
          exportStatus,
        ),
      ),
    ),
    lifecycleCard(ctx, rid, summary),
  ];
}

/** A button that downloads the round's result for Excel (``csv`` or ``xlsx``). */
function exportButton(rid, format, label, status) {
  return h(
    "button",
    {
      type: "button",
      class: "button",
      onclick: async () => {
        status.textContent = "Export wird erstellt …";
        try {
          const name = await download(`${rest(rid)}/export.${format}`, `runde-${rid}.${format}`);
          status.textContent = `${name} heruntergeladen.`;
        } catch (e) {
          status.textContent = describe(e);
        }
      },
    },
    label,
  );
}

// --- applicants -------------------------------------------------------------------------------

const FILTERS = [
  ["all", "Alle"],
  ["placed", "platziert"],
  ["proposed", "vorgeschlagen"],
  ["unplaced", "ohne Platz"],
];

export async function applicantsView(ctx, rid) {
  const [summary, applicants, placements, offers] = await Promise.all([
    api(rest(rid)),
    api(`${rest(rid)}/applicants`),
    api(`${rest(rid)}/placements`),
    api(`${rest(rid)}/offers`),
  ]);
  const states = applicantStates(applicants, placements);
  const offerById = new Map(offers.map((o) => [o.id, o]));
  let query = ctx.query.get("q") || "";
  let filter = FILTERS.some(([key]) => key === ctx.query.get("status"))
    ? ctx.query.get("status")
    : "all";

  const count = h("p", { class: "result-count", role: "status", "data-testid": "result-count" });
  const tbody = h("tbody");
  const search = h("input", {
    id: "applicant-search",
    type: "search",
    name: "q",
    value: query,
    autocomplete: "off",
    "aria-describedby": "applicant-search-hint",
  });
  const counts = { all: applicants.length, placed: 0, proposed: 0, unplaced: 0 };
  for (const { state } of states.values()) counts[state] += 1;

  function update() {
    const needle = query.trim().toLocaleLowerCase("de");
    const shown = applicants.filter((a) => {
      if (filter !== "all" && states.get(a.id).state !== filter) return false;
      if (!needle) return true;
      return [a.id, a.name, a.position, a.home_organisation]
        .filter(Boolean)
        .some((text) => text.toLocaleLowerCase("de").includes(needle));
    });
    replace(
      tbody,
      shown.map((a) => {
        const { state, placement } = states.get(a.id);
        const offer = placement ? offerById.get(placement.offer_id) : null;
        return h(
          "tr",
          { "data-applicant": a.id },
          h("td", {}, applicantLink(rid, a.id)),
          h("td", {}, a.name || "–"),
          h("td", {}, a.position),
          h("td", {}, a.home_organisation),
          h("td", {}, stateBadge(state)),
          h(
            "td",
            {},
            offer ? [offerLink(rid, offer.id), ` · ${offer.city}`] : "–",
          ),
        );
      }),
    );
    count.textContent = `${num(shown.length)} von ${num(applicants.length)} Bewerbungen`;
    const params = new URLSearchParams();
    if (query) params.set("q", query);
    if (filter !== "all") params.set("status", filter);
    const suffix = params.toString() ? `?${params}` : "";
    history.replaceState(null, "", `${page(rid)}/bewerbungen${suffix}`);
  }

  search.addEventListener("input", () => {
    query = search.value;
    update();
  });
  const radios = h(
    "fieldset",
    { class: "filter" },
    h("legend", {}, "Status"),
    FILTERS.map(([key, label]) => {
      const id = `filter-${key}`;
      return h(
        "span",
        { class: "filter__option" },
        h("input", {
          type: "radio",
          name: "status",
          id,
          value: key,
          checked: key === filter,
          onchange: () => {
            filter = key;
            update();
          },
        }),
        h("label", { for: id }, `${label} (${num(counts[key])})`),
      );
    }),
  );
  update();
  return [
    roundLine(summary),
    h("h1", {}, "Bewerbungen"),
    h(
      "form",
      { class: "toolbar", role: "search", onsubmit: (e) => e.preventDefault() },
      h(
        "div",
        { class: "field" },
        h("label", { for: "applicant-search" }, "Suche"),
        h("p", { class: "hint", id: "applicant-search-hint" }, "ID, Name, Position oder Dienststelle"),
        search,
      ),
      radios,
    ),
    count,
    h(
      "div",
      { class: "table-wrap", tabindex: "0" },
      h(
        "table",
        { class: "applicants" },
        h("caption", { class: "visually-hidden" }, "Bewerbungen der Runde"),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["ID", "Name", "Position", "Dienststelle", "Status", "Angebot"].map((t) =>
              h("th", { scope: "col" }, t),
            ),
          ),
        ),
        tbody,
      ),
    ),
  ];
}

function languagesText(languages) {
  return Object.entries(languages)
    .map(([code, level]) => `${language(code)} ${level}`)
    .join(", ");
}

function placementSection(ctx, rid, summary, applicant, placements, offerById, unplacedReason) {
  const own = placements.filter((p) => p.applicant_id === applicant.id);
  const confirmed = own.find((p) => p.status === "confirmed");
  const proposed = own.filter((p) => p.status === "proposed");
  const ended = own.filter((p) => !ACTIVE.has(p.status));
  const writable = summary.status !== "closed";
  const offerText = (p) => {
    const offer = offerById.get(p.offer_id);
    return [offerLink(rid, p.offer_id), offer ? ` · ${offer.title} (${offer.city})` : ""];
  };
  const parts = [h("h2", { id: "placement-heading" }, "Platzierung")];
  if (confirmed) {
    parts.push(
      h(
        "div",
        { class: "placement placement--confirmed", "data-testid": "placement-status" },
        h("p", {}, placementBadge(confirmed), " ", offerText(confirmed)),
        facts([
          ["Passung", num(confirmed.score, 2)],
          ["Entschieden", [actorLabel(confirmed.decided_by), " · ", when(confirmed.decided_at)]],
          ["Begründung", confirmed.reason],
          [
            "Mentoring",
            confirmed.mentor_decision
              ? [
                  MENTOR_DECISION[confirmed.mentor_decision],
                  confirmed.mentor_reason ? `: ${confirmed.mentor_reason}` : "",
                ]
              : "noch keine Antwort",
          ],
          ["Prüfung", confirmed.needs_review ? confirmed.review_reason || REVIEW_FLAG : null],
        ]),
        writable ? endForm(ctx, rid, confirmed) : null,
      ),
    );
  }
  for (const p of proposed) {
    parts.push(
      h(
        "div",
        { class: "placement placement--proposed", "data-testid": "placement-status" },
        h("p", {}, placementBadge(p), " ", offerText(p)),
        scoreBar(p.score, "Passung", p.strength),
        p.reason ? h("p", { class: "hint" }, p.reason) : null,
        decisionForm({
          legend: `Vorschlag ${p.offer_id} entscheiden`,
          hint: "Optional; erscheint im Protokoll.",
          disabled: !writable || Boolean(confirmed),
          actions: [
            [
              "Bestätigen",
              "button--primary",
              async (reason) => {
                await api(`${rest(rid)}/placements/${p.id}/confirm`, {
                  method: "POST",
                  body: { reason },
                });
                ctx.toast(`Bestätigt: ${applicant.id} → ${p.offer_id}.`);
                ctx.rerender();
              },
            ],
            [
              "Ablehnen",
              "button--danger",
              async (reason) => {
                await api(`${rest(rid)}/placements/${p.id}/reject`, {
                  method: "POST",
                  body: { reason },
                });
                ctx.toast(`Abgelehnt: ${applicant.id} → ${p.offer_id}.`);
                ctx.rerender();
              },
            ],
          ],
        }),
      ),
    );
  }
  if (!confirmed && !proposed.length) {
    parts.push(
      h(
        "div",
        { class: "placement placement--none", "data-testid": "placement-status" },
        h("p", {}, stateBadge("unplaced")),
        unplacedReason
          ? h(
              "p",
              { "data-testid": "unplaced-reason" },
              h("strong", {}, `Grund (Zuordnung #${unplacedReason.run}): `),
              unplacedReason.reason,
            )
          : null,
        writable
          ? h("p", { class: "hint" }, "Sie können unten ein Angebot der Shortlist von Hand vergeben.")
          : null,
      ),
    );
  }
  if (ended.length) {
    parts.push(
      h("h3", {}, "Frühere Vorschläge und Platzierungen"),
      h(
        "ul",
        { class: "plain-list", "data-testid": "ended" },
        ended.map((p) =>
          h(
            "li",
            {},
            placementBadge(p),
            " ",
            offerText(p),
            p.reason ? ` – ${p.reason}` : "",
            p.decided_at ? ` (${when(p.decided_at)})` : "",
          ),
        ),
      ),
    );
  }
  return h("section", { class: "card", "aria-labelledby": "placement-heading" }, parts);
}

/**
 * Withdraw (the applicant drops out) or release (the coordination gives the place up) a
 * confirmed placement; both need a reason. Afterwards the offer's page shows its alternates.
 */
function endForm(ctx, rid, placement) {
  const end = (event) => async (reason) => {
    await api(`${rest(rid)}/placements/${placement.id}/${event}`, { method: "POST", body: { reason } });
    ctx.toast(`${placement.applicant_id} → ${placement.offer_id}: ${PLACEMENT_STATUS[event === "withdraw" ? "withdrawn" : "released"]}. Nachrücker werden angezeigt.`);
    ctx.navigate(`${page(rid)}/angebote/${enc(placement.offer_id)}`);
  };
  const withdraw = "Zurückziehen (Absage der Bewerbung)";
  const release = "Platz aufheben";
  return h(
    "details",
    { class: "manual" },
    h("summary", {}, "Absage oder Aufhebung …"),
    decisionForm({
      legend: `Platzierung ${placement.applicant_id} → ${placement.offer_id} beenden`,
      hint: "Pflicht; erscheint im Protokoll. Der Platz wird sofort frei.",
      requireReasonFor: [withdraw, release],
      actions: [
        [withdraw, "button--danger", end("withdraw")],
        [release, "button--danger", end("release")],
      ],
    }),
  );
}

/** "n of m places free" for an offer, and a warning when placing would overbook it. */
function freeNote(offer, placements) {
  if (!offer) return null;
  const confirmed = placements.filter((p) => p.offer_id === offer.id && p.status === "confirmed").length;
  const free = offer.capacity - confirmed;
  return free > 0
    ? h("p", { class: "hint", "data-testid": "free-places" }, `Noch ${num(free)} von ${num(offer.capacity)} Plätzen frei.`)
    : h(
        "p",
        { class: "warning", role: "alert", "data-testid": "free-places" },
        `Kein Platz frei (${num(confirmed)} von ${num(offer.capacity)} belegt): diese Platzierung würde überbuchen und wird abgelehnt.`,
      );
}

function suggestionCard(ctx, rid, applicant, suggestion, index, canPlace, openOffer, confirmedOffer, capacity) {
  const headingId = nextId("suggestion");
  const marker =
    suggestion.offer_id === confirmedOffer
      ? badge("bestätigt", "placed")
      : suggestion.offer_id === openOffer
        ? badge("offener Vorschlag", "proposed")
        : suggestion.placement_status === "rejected"
          ? badge("abgelehnt", "rejected")
          : null;
  let manual = null;
  if (canPlace && suggestion.offer_id !== openOffer) {
    manual = h(
      "details",
      { class: "manual" },
      h("summary", {}, "Von Hand platzieren …"),
      capacity(suggestion.offer_id),
      decisionForm({
        legend: `${applicant.id} auf ${suggestion.offer_id} platzieren (sofort bestätigt)`,
        hint: openOffer
          ? `Optional; erscheint im Protokoll. Der offene Vorschlag ${openOffer} bleibt bestehen, bis Sie ihn ablehnen.`
          : "Optional; erscheint im Protokoll.",
        actions: [
          [
            `Auf ${suggestion.offer_id} platzieren`,
            "button--primary",
            async (reason) => {
              const override = suggestion.placement_status === "rejected";
              if (override && !window.confirm(`${applicant.id} → ${suggestion.offer_id} wurde abgelehnt. Trotzdem platzieren?`)) throw new Error("Nicht platziert: Die Ablehnung bleibt bestehen.");
              await api(`${rest(rid)}/placements`, {
                method: "POST",
                body: { applicant_id: applicant.id, offer_id: suggestion.offer_id, reason, override_rejection: override },
              });
              ctx.toast(`Platziert: ${applicant.id} → ${suggestion.offer_id}.`);
              ctx.rerender();
            },
          ],
        ],
      }),
    );
  }
  return h(
    "li",
    { class: "suggestion card", "aria-labelledby": headingId, "data-offer": suggestion.offer_id },
    h(
      "h3",
      { id: headingId },
      h("span", { class: "rank" }, `${index + 1}.`),
      " ",
      offerLink(rid, suggestion.offer_id, `${suggestion.offer_id} · ${suggestion.title}`),
    ),
    h("p", { class: "meta" }, suggestion.city, marker ? " · " : "", marker),
    scoreBar(suggestion.score, "Passung", suggestion.strength),
    facts(
      [
        ["Themenpassung", num(suggestion.parts.topic_fit, 2)],
        ["Wunschstadt-Bonus", num(suggestion.parts.preference_bonus, 2)],
      ],
      "facts facts--inline",
    ),
    h(
      "p",
      { class: "explanation" },
      highlighted(suggestion.explanation, suggestion.applicant_sentence, suggestion.offer_sentence),
    ),
    suggestion.reasons.length
      ? h("p", { class: "error" }, `Nicht zulässig: ${suggestion.reasons.join(" ")}`)
      : null,
    manual,
  );
}

export async function applicantView(ctx, rid, applicantId) {
  const [summary, applicant, placements, offers, shortlist, runs] = await Promise.all([
    api(rest(rid)),
    api(`${rest(rid)}/applicants/${enc(applicantId)}`),
    api(`${rest(rid)}/placements`),
    api(`${rest(rid)}/offers`),
    api(`${rest(rid)}/applicants/${enc(applicantId)}/shortlist?top_k=5`),
    api(`${rest(rid)}/runs`),
  ]);
  const offerById = new Map(offers.map((o) => [o.id, o]));
  const run = latestDone(runs);
  const unplaced = run && run.result.unplaced.find((u) => u.applicant_id === applicant.id);
  const own = placements.filter((p) => p.applicant_id === applicant.id);
  const confirmed = own.find((p) => p.status === "confirmed");
  const open = own.find((p) => p.status === "proposed");
  const canPlace = summary.status !== "closed" && !confirmed;
  return [
    roundLine(summary),
    h("p", { class: "back" }, h("a", { href: `${page(rid)}/bewerbungen` }, "← Alle Bewerbungen")),
    h("h1", {}, applicant.name ? `${applicant.id} · ${applicant.name}` : applicant.id),
    closedNote(summary),
    h(
      "div",
      { class: "columns" },
      h(
        "section",
        { class: "card", "aria-labelledby": "profile-heading" },
        h("h2", { id: "profile-heading" }, "Bewerbung"),
        facts([
          ["Position", applicant.position],
          ["Dienststelle", applicant.home_organisation],
          ["Sprachen", languagesText(applicant.languages)],
          ["Zeitraum", `${day(applicant.available_from)} – ${day(applicant.available_until)}`],
          ["Dauer", `${applicant.weeks_wanted} Wochen`],
          ["Wunschstädte", (applicant.preferred_cities || []).join(", ")],
        ]),
        h("h3", {}, "Motivation"),
        h("p", { class: "motivation", "data-testid": "motivation" }, applicant.motivation),
      ),
      placementSection(
        ctx,
        rid,
        summary,
        applicant,
        placements,
        offerById,
        unplaced ? { run: run.id, reason: unplaced.reason } : null,
      ),
    ),
    h(
      "section",
      { "aria-labelledby": "shortlist-heading" },
      h("h2", { id: "shortlist-heading" }, "Shortlist: passende Angebote"),
      shortlist.suggestions.length
        ? [
            markLegend(),
            h(
              "ol",
              { class: "shortlist", "data-testid": "shortlist" },
              shortlist.suggestions.map((s, i) =>
                suggestionCard(
                  ctx,
                  rid,
                  applicant,
                  s,
                  i,
                  canPlace,
                  open ? open.offer_id : null,
                  confirmed ? confirmed.offer_id : null,
                  (id) => freeNote(offerById.get(id), placements),
                ),
              ),
            ),
          ]
        : h(
            "p",
            { class: "notice" },
            "Kein Angebot erfüllt alle Bedingungen (Sprache, Zeitraum, Dauer, freier Platz).",
          ),
    ),
  ];
}

// --- offers -----------------------------------------------------------------------------------

function occupancy(offers, placements) {
  const byOffer = new Map(offers.map((o) => [o.id, { confirmed: 0, proposed: 0 }]));
  for (const p of placements) {
    const row = byOffer.get(p.offer_id);
    if (row && p.status in row) row[p.status] += 1;
  }
  return byOffer;
}

export async function offersView(ctx, rid) {
  const [summary, offers, placements] = await Promise.all([
    api(rest(rid)),
    api(`${rest(rid)}/offers`),
    api(`${rest(rid)}/placements`),
  ]);
  const taken = occupancy(offers, placements);
  const sorted = [...offers].sort(
    (a, b) => a.city.localeCompare(b.city, "de") || a.id.localeCompare(b.id, "de"),
  );
  return [
    roundLine(summary),
    h("h1", {}, "Angebote"),
    h("p", { class: "lead" }, `${num(offers.length)} Angebote mit ${num(summary.places)} Plätzen.`),
    table(
      null,
      ["ID", "Titel", "Stadt", "Arbeitssprachen", "Plätze", "bestätigt", "vorgeschlagen", "frei"],
      sorted.map((o) => {
        const t = taken.get(o.id);
        return [
          offerLink(rid, o.id),
          o.title,
          o.city,
          o.working_languages.map(language).join(", "),
          num(o.capacity),
          num(t.confirmed),
          num(t.proposed),
          num(Math.max(0, o.capacity - t.confirmed - t.proposed)),
        ];
      }),
      { class: "offers" },
    ),
  ];
}

/** A freed place of this offer with its alternates, each placeable with one click. */
function freedCard(ctx, rid, offer, freed, placements, nameOf) {
  const alternates = [...new Set(freed.flatMap((f) => f.alternates))];
  const error = h("p", { class: "error", role: "alert" });
  const place = (id) => async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    error.textContent = "";
    try {
      await api(`${rest(rid)}/placements`, {
        method: "POST",
        body: { applicant_id: id, offer_id: offer.id, reason: "Nachrücker für einen frei gewordenen Platz" },
      });
      ctx.toast(`Platziert: ${id} → ${offer.id}.`);
      ctx.rerender();
    } catch (e) {
      error.textContent = describe(e);
      button.disabled = false;
    }
  };
  return h(
    "section",
    { class: "card", "aria-labelledby": "freed-heading", "data-testid": "freed" },
    h("h2", { id: "freed-heading" }, "Platz frei geworden"),
    h(
      "p",
      {},
      freed.map((f, i) => [i ? "; " : "", applicantLink(rid, f.placement.applicant_id), " ", placementBadge(f.placement), f.placement.reason ? ` (${f.placement.reason})` : ""]),
    ),
    freeNote(offer, placements),
    alternates.length
      ? h(
          "ol",
          { class: "plain-list", "data-testid": "freed-alternates" },
          alternates.map((id) =>
            h(
              "li",
              {},
              applicantLink(rid, id),
              ` · ${nameOf(id)} `,
              h("button", { type: "button", class: "button button--primary", onclick: place(id) }, `${id} platzieren`),
            ),
          ),
        )
      : h("p", {}, "Keine Nachrücker aus der letzten Zuordnung; wählen Sie unten aus den passenden Bewerbungen."),
    error,
  );
}

export async function offerView(ctx, rid, offerId) {
  const [summary, offer, placements, candidates, runs, applicants, todo] = await Promise.all([
    api(rest(rid)),
    api(`${rest(rid)}/offers/${enc(offerId)}`),
    api(`${rest(rid)}/placements`),
    api(`${rest(rid)}/offers/${enc(offerId)}/candidates?top_k=5`),
    api(`${rest(rid)}/runs`),
    api(`${rest(rid)}/applicants`),
    api(`${rest(rid)}/todo`),
  ]);
  const freed = todo.freed.filter((f) => f.placement.offer_id === offer.id);
  const applicantById = new Map(applicants.map((a) => [a.id, a]));
  const states = applicantStates(applicants, placements);
  const here = placements.filter((p) => p.offer_id === offer.id && ACTIVE.has(p.status));
  const run = latestDone(runs);
  const alternates = run ? run.result.alternates[offer.id] || [] : null;
  const nameOf = (id) => {
    const a = applicantById.get(id);
    return a ? [a.name, a.position].filter(Boolean).join(", ") : "";
  };
  return [
    roundLine(summary),
    h("p", { class: "back" }, h("a", { href: `${page(rid)}/angebote` }, "← Alle Angebote")),
    h("h1", {}, `${offer.id} · ${offer.title}`),
    closedNote(summary),
    freed.length && summary.status !== "closed" ? freedCard(ctx, rid, offer, freed, placements, nameOf) : null,
    h(
      "div",
      { class: "columns" },
      h(
        "section",
        { class: "card", "aria-labelledby": "offer-heading" },
        h("h2", { id: "offer-heading" }, "Angebot"),
        facts([
          ["Stadt", [offer.city, offer.country ? ` (${offer.country})` : ""]],
          ["Gastgeber", offer.organisation],
          ["Mentoring", offer.mentor_name],
          [
            "Arbeitssprachen",
            `${offer.working_languages.map(language).join(", ")} (mind. ${offer.min_language_level})`,
          ],
          ["Zeitraum", `${day(offer.available_from)} – ${day(offer.available_until)}`],
          ["Dauer", `${offer.min_weeks}–${offer.max_weeks} Wochen`],
          ["Plätze", num(offer.capacity)],
          ["Themen", (offer.tags || []).join(", ")],
        ]),
        h("h3", {}, "Beschreibung"),
        h("p", { class: "motivation", lang: offer.language || null }, offer.description),
      ),
      h(
        "section",
        { class: "card", "aria-labelledby": "occupancy-heading" },
        h("h2", { id: "occupancy-heading" }, "Belegung"),
        here.length
          ? h(
              "ul",
              { class: "plain-list" },
              here.map((p) =>
                h(
                  "li",
                  {},
                  placementBadge(p),
                  " ",
                  applicantLink(rid, p.applicant_id),
                  ` · ${nameOf(p.applicant_id)}`,
                  p.mentor_decision ? ` · ${MENTOR_DECISION[p.mentor_decision]}` : "",
                ),
              ),
            )
          : h("p", {}, "Noch niemand vorgeschlagen oder bestätigt."),
        h("h3", {}, "Nachrücker"),
        alternates === null
          ? h("p", { class: "hint" }, "Erst nach einer Batch-Zuordnung verfügbar.")
          : alternates.length
            ? [
                h("p", { class: "hint" }, `Aus Zuordnung #${run.id}; Bewerbungen ohne Platz zuerst.`),
                h(
                  "ol",
                  { class: "plain-list", "data-testid": "alternates" },
                  alternates.map((id) =>
                    h(
                      "li",
                      {},
                      applicantLink(rid, id),
                      ` · ${nameOf(id)} `,
                      states.has(id) ? stateBadge(states.get(id).state) : null,
                    ),
                  ),
                ),
              ]
            : h("p", {}, "Keine Nachrücker."),
      ),
    ),
    h(
      "section",
      { "aria-labelledby": "candidates-heading" },
      h("h2", { id: "candidates-heading" }, "Passende Bewerbungen"),
      candidates.candidates.length
        ? [
            markLegend(),
            h(
              "ol",
              { class: "shortlist", "data-testid": "candidates" },
              candidates.candidates.map((c, i) => {
                const [applicantSentence, offerSentence] = topicSentences(c.explanation);
                return h(
                  "li",
                  { class: "suggestion card", "data-applicant": c.applicant_id },
                  h(
                    "h3",
                    {},
                    h("span", { class: "rank" }, `${i + 1}.`),
                    " ",
                    applicantLink(rid, c.applicant_id, `${c.applicant_id} · ${c.position}`),
                    " ",
                    states.has(c.applicant_id) ? stateBadge(states.get(c.applicant_id).state) : null,
                  ),
                  h("p", { class: "meta" }, c.home_organisation),
                  scoreBar(c.score, "Passung", c.strength),
                  h(
                    "p",
                    { class: "explanation" },
                    highlighted(c.explanation, applicantSentence, offerSentence),
                  ),
                );
              }),
            ),
          ]
        : h("p", { class: "notice" }, "Keine Bewerbung erfüllt alle Bedingungen dieses Angebots."),
    ),
  ];
}

// --- batch runs -------------------------------------------------------------------------------

function runSummary(run) {
  const r = run.result;
  return facts(
    [
      ["Vorschläge", num(r.proposals.length)],
      ["Bestätigte (beibehalten)", num((r.pinned || []).length)],
      ["Ohne Platz", num(r.unplaced.length)],
      ["Freie Plätze danach", num(r.places_left)],
      ["Gesamtpassung", num(r.total_score, 2)],
      ...fundFacts(r),
    ],
    "facts facts--inline",
  );
}

/** Budget used and left, and the cost per city, when the run had a budget or costs. */
function fundFacts(r) {
  const euros = (value) => `${num(value, 0)} €`;
  const facts = [];
  if (r.budget != null) {
    facts.push(["Budget genutzt", `${euros(r.total_cost)} von ${euros(r.budget)}`]);
    facts.push(["Budget übrig", euros(r.budget_left)]);
  }
  const perCity = Object.entries(r.cost_per_city || {});
  if (perCity.length) {
    facts.push(["Kosten je Stadt", perCity.map(([city, cost]) => `${city} ${euros(cost)}`).join(" · ")]);
  }
  return facts;
}

function progressPanel() {
  const bar = h("progress", { id: "run-progress", max: 1, value: 0 });
  const status = h("span", { class: "run-status", "data-testid": "run-status" });
  const stage = h("span", { class: "hint" });
  const panel = h(
    "div",
    { class: "progress-panel", role: "status", "aria-live": "polite" },
    h("label", { for: "run-progress" }, "Fortschritt"),
    bar,
    h("p", {}, status, " ", stage),
  );
  const show = (run) => {
    bar.value = run.progress;
    bar.textContent = `${Math.round(run.progress * 100)} %`;
    replace(
      status,
      `Zuordnung #${run.id} (${label(RUN_MODES, run.mode)}): `,
      badge(RUN_STATUS[run.status], `run-${run.status}`),
    );
    stage.textContent = [
      run.stage === RUN_STATUS[run.status] ? "" : run.stage,
      `${Math.round(run.progress * 100)} %`,
      run.error ? `Fehler: ${run.error}` : "",
    ]
      .filter(Boolean)
      .join(" · ");
  };
  return { panel, show };
}

/**
 * Poll a run until it ends. A failed request never ends the watch: the next one follows after a
 * doubling pause (up to POLL_MAX_MS), and `onRetry` says when.
 */
export async function watch(ctx, rid, runId, show, onFinal, onRetry = () => {}) {
  let pause = POLL_MS;
  while (ctx.alive()) {
    let run;
    try {
      run = await api(`${rest(rid)}/runs/${runId}`);
    } catch (e) {
      if (!ctx.alive()) return;
      onRetry(`${describe(e)} Neuer Versuch in ${num(pause / 1000, 1)} s …`);
      await sleep(pause);
      pause = Math.min(pause * 2, POLL_MAX_MS);
      continue;
    }
    if (!ctx.alive()) return;
    pause = POLL_MS;
    onRetry("");
    show(run);
    if (FINAL_RUN_STATUS.has(run.status)) {
      onFinal(run);
      return;
    }
    await sleep(POLL_MS);
  }
}

export async function runsView(ctx, rid) {
  const [summary, runs, applicants, placements] = await Promise.all([
    api(rest(rid)),
    api(`${rest(rid)}/runs`),
    api(`${rest(rid)}/applicants`),
    api(`${rest(rid)}/placements`),
  ]);
  const applicantById = new Map(applicants.map((a) => [a.id, a]));
  const states = applicantStates(applicants, placements);
  const writable = summary.status !== "closed";
  const { panel, show } = progressPanel();
  const active = runs.find((r) => !FINAL_RUN_STATUS.has(r.status));
  const error = h("p", { class: "error", role: "alert" });
  const cancel = h("button", { type: "button", class: "button", hidden: true }, "Abbrechen");
  const start = h(
    "button",
    { type: "submit", class: "button button--primary", disabled: !writable || Boolean(active) },
    "Zuordnung starten",
  );
  let current = active || runs[0] || null;

  const follow = (run) => {
    current = run;
    start.disabled = true;
    cancel.hidden = false;
    show(run);
    const retry = (text) => {
      error.textContent = text;
    };
    watch(ctx, rid, run.id, show, (final) => {
      cancel.hidden = true;
      start.disabled = !writable;
      const r = final.result;
      ctx.toast(
        final.status === "done"
          ? `Zuordnung #${final.id} fertig: ${r.proposals.length} Vorschläge, ${r.unplaced.length} ohne Platz.`
          : `Zuordnung #${final.id}: ${RUN_STATUS[final.status]}.`,
      );
      ctx.rerender();
    }, retry);
  };
  cancel.addEventListener("click", async () => {
    try {
      await api(`${rest(rid)}/runs/${current.id}/cancel`, { method: "POST" });
    } catch (e) {
      error.textContent = describe(e);
    }
  });

  const modes = h(
    "fieldset",
    { class: "filter" },
    h("legend", {}, "Ziel der Zuordnung"),
    Object.entries(RUN_MODES).map(([mode, text], i) =>
      h(
        "span",
        { class: "filter__option" },
        h("input", { type: "radio", name: "mode", id: `mode-${mode}`, value: mode, checked: i === 0 }),
        h("label", { for: `mode-${mode}` }, text),
      ),
    ),
  );
  const form = h(
    "form",
    {
      class: "card run-form",
      onsubmit: async (event) => {
        event.preventDefault();
        error.textContent = "";
        const mode = form.querySelector("input[name=mode]:checked").value;
        start.disabled = true;
        try {
          follow(await api(`${rest(rid)}/runs`, { method: "POST", body: { mode } }));
        } catch (e) {
          error.textContent = describe(e);
          start.disabled = !writable;
        }
      },
    },
    h("h2", {}, "Neue Zuordnung"),
    h(
      "p",
      { class: "hint" },
      "Bestätigte Platzierungen bleiben, abgelehnte Paare werden nie wieder vorgeschlagen; " +
        "offene Vorschläge werden durch die neuen ersetzt.",
    ),
    modes,
    h("div", { class: "button-row" }, start, cancel),
    error,
    panel,
  );
  if (current) show(current);
  else panel.hidden = true;
  if (active) follow(active);
  form.addEventListener("submit", () => {
    panel.hidden = false;
  });

  const done = latestDone(runs);
  const results = done
    ? h(
        "section",
        { class: "card", "aria-labelledby": "unplaced-heading" },
        h("h2", { id: "unplaced-heading" }, `Ergebnis der Zuordnung #${done.id}`),
        h("p", { class: "hint" }, `Fertig ${when(done.finished_at)}.`),
        runSummary(done),
        h("h3", {}, `Ohne Platz (${num(done.result.unplaced.length)})`),
        done.result.unplaced.length
          ? table(
              null,
              ["Bewerbung", "Name", "Grund", "Stand jetzt"],
              done.result.unplaced.map((u) => [
                applicantLink(rid, u.applicant_id),
                applicantById.get(u.applicant_id)?.name || "–",
                u.reason,
                states.has(u.applicant_id) ? stateBadge(states.get(u.applicant_id).state) : "–",
              ]),
              { class: "unplaced", "data-testid": "unplaced" },
            )
          : h("p", {}, "Alle Bewerbungen haben einen Vorschlag oder Platz."),
      )
    : h("p", { class: "notice" }, "Noch keine abgeschlossene Zuordnung in dieser Runde.");

  return [
    roundLine(summary),
    h("h1", {}, "Batch-Zuordnung"),
    closedNote(summary),
    form,
    results,
    runs.length
      ? h(
          "section",
          { "aria-labelledby": "history-heading" },
          h("h2", { id: "history-heading" }, "Bisherige Zuordnungen"),
          table(
            null,
            ["#", "Ziel", "Status", "Gestartet", "Beendet"],
            runs.map((r) => [
              `#${r.id}`,
              label(RUN_MODES, r.mode),
              badge(RUN_STATUS[r.status], `run-${r.status}`),
              when(r.created_at),
              when(r.finished_at) || "–",
            ]),
          ),
        )
      : null,
  ];
}

// --- audit log --------------------------------------------------------------------------------

export async function auditView(ctx, rid) {
  const [summary, entries, placements] = await Promise.all([
    api(rest(rid)),
    api(`${rest(rid)}/audit`),
    api(`${rest(rid)}/placements`),
  ]);
  const placementById = new Map(placements.map((p) => [p.id, p]));
  const rows = [...entries].reverse().map((e) => {
    const p = e.placement_id === null ? null : placementById.get(e.placement_id);
    return [
      when(e.created_at),
      actorLabel(e.actor),
      AUDIT_ACTIONS[e.action] || e.action,
      p ? applicantLink(rid, p.applicant_id) : "–",
      p ? offerLink(rid, p.offer_id) : "–",
      e.reason || "–",
    ];
  });
  return [
    roundLine(summary),
    h("h1", {}, "Protokoll"),
    h(
      "p",
      { class: "lead" },
      "Jede Entscheidung der Runde: wer (Rolle und Nummer des Zugangs), wann, was und warum. " +
        "Neueste zuerst.",
    ),
    rows.length
      ? table(null, ["Zeit", "Wer", "Aktion", "Bewerbung", "Angebot", "Begründung"], rows, {
          "data-testid": "audit",
        })
      : h("p", { class: "notice" }, "Noch keine Entscheidungen."),
  ];
}
