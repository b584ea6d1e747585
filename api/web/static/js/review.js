// The review queue: undecided proposals one after another ("Nächste Bewerbung"), decided with
// the keyboard (j/k: next/previous, c: confirm, r: reject with a reason), and a list to confirm
// several at once. Sort and search stay in the address, so going back finds the list as it was.
import { ApiError, api, describe } from "./api.js";
import {
  applicantLink,
  offerLink,
  page,
  placementBadge,
  rest,
  roundLine,
} from "./coordinator.js";
import { facts, h, nextId, num, replace, scoreBar, strengthScore } from "./dom.js";

const VERY_GOOD = "sehr gut";

const SORTS = {
  applicant: ["Bewerbung", (a, b) => a.applicant_id.localeCompare(b.applicant_id, "de")],
  score: ["Passung, höchste zuerst", (a, b) => b.score - a.score],
  city: ["Stadt", (a, b) => a.city.localeCompare(b.city, "de") || b.score - a.score],
};

/** True when a key press belongs to a form field, not to the queue's shortcuts. */
function typing(event) {
  return event.target.closest("input, textarea, select, [contenteditable]") !== null;
}

export async function queueView(ctx, rid) {
  const [summary, applicants, offers] = await Promise.all([
    api(rest(rid)),
    api(`${rest(rid)}/applicants`),
    api(`${rest(rid)}/offers`),
  ]);
  const applicantById = new Map(applicants.map((a) => [a.id, a]));
  const offerById = new Map(offers.map((o) => [o.id, o]));
  const writable = summary.status !== "closed";
  const sortKey = SORTS[ctx.query.get("sort")] ? ctx.query.get("sort") : "applicant";
  let query = ctx.query.get("q") || "";
  let proposals = [];
  let shown = [];
  let current = 0;
  const selected = new Set();

  const count = h("p", { class: "result-count", role: "status", "data-testid": "queue-count" });
  const panel = h("section", {
    class: "card queue-current",
    "aria-labelledby": "current-heading",
    "data-testid": "queue-current",
    tabindex: "-1",
  });
  const tbody = h("tbody");
  const bulkButton = h("button", { type: "button", class: "button button--primary", disabled: true });
  const bulkError = h("p", { class: "error", role: "alert" });
  const veryGoodButton = h("button", { type: "button", class: "button", disabled: true });
  const refusedOut = h("div", { "data-testid": "bulk-refused", role: "status" });
  const [reasonId, errorId] = [nextId("queue-reason"), nextId("queue-error")];
  const reason = h("textarea", { id: reasonId, rows: 2, maxlength: 2000, "aria-describedby": `${reasonId}-hint` });
  const panelError = h("p", { class: "error", role: "alert", id: errorId });

  async function load() {
    proposals = await api(`${rest(rid)}/placements?status=proposed`);
    for (const id of [...selected]) {
      if (!proposals.some((p) => p.id === id)) selected.delete(id);
    }
  }

  function filtered() {
    const needle = query.trim().toLocaleLowerCase("de");
    return proposals
      .filter((p) => {
        if (!needle) return true;
        const a = applicantById.get(p.applicant_id);
        const o = offerById.get(p.offer_id);
        return [p.applicant_id, p.offer_id, p.city, a?.name, a?.position, o?.title]
          .filter(Boolean)
          .some((text) => text.toLocaleLowerCase("de").includes(needle));
      })
      .sort(SORTS[sortKey][1]);
  }

  async function decide(placement, decision, why) {
    panelError.textContent = "";
    try {
      await api(`${rest(rid)}/placements/${placement.id}/${decision}`, {
        method: "POST",
        body: { reason: why || null },
      });
    } catch (e) {
      panelError.textContent = describe(e);
      return;
    }
    ctx.toast(`${decision === "confirm" ? "Bestätigt" : "Abgelehnt"}: ${placement.applicant_id} → ${placement.offer_id}.`);
    reason.value = "";
    await load();
    if (!ctx.alive()) return;
    show({ keep: true });
    panel.focus();
  }

  function renderPanel() {
    const p = shown[current];
    if (!p) {
      replace(
        panel,
        h("h2", { id: "current-heading" }, "Nächste Bewerbung"),
        h("p", { "data-testid": "queue-empty" }, "Keine offenen Vorschläge mehr."),
      );
      return;
    }
    const a = applicantById.get(p.applicant_id);
    const o = offerById.get(p.offer_id);
    replace(
      panel,
      h("h2", { id: "current-heading" }, `Nächste Bewerbung (${num(current + 1)} von ${num(shown.length)})`),
      h(
        "p",
        { "data-testid": "queue-pair" },
        applicantLink(rid, p.applicant_id),
        a?.name ? ` · ${a.name}` : "",
        " → ",
        offerLink(rid, p.offer_id),
        o ? ` · ${o.title} (${o.city})` : "",
      ),
      facts([
        ["Position", a?.position],
        ["Dienststelle", a?.home_organisation],
        ["Gastgeber", o?.organisation],
      ]),
      scoreBar(p.score, "Passung", p.strength),
      a ? h("p", { class: "motivation" }, a.motivation) : null,
      h(
        "fieldset",
        { class: "decision", disabled: !writable },
        h("legend", {}, `Vorschlag ${p.applicant_id} → ${p.offer_id} entscheiden`),
        h("label", { for: reasonId }, "Begründung"),
        h("p", { class: "hint", id: `${reasonId}-hint` }, "Beim Ablehnen Pflicht; Enter speichert die Ablehnung."),
        reason,
        h(
          "div",
          { class: "button-row" },
          h("button", { type: "button", class: "button button--primary", onclick: () => decide(p, "confirm", reason.value.trim()) }, "Bestätigen (c)"),
          h("button", { type: "button", class: "button button--danger", onclick: () => reject() }, "Ablehnen (r)"),
          h("button", { type: "button", class: "button", onclick: () => move(-1) }, "Zurück (k)"),
          h("button", { type: "button", class: "button", onclick: () => move(1) }, "Weiter (j)"),
        ),
        panelError,
      ),
    );
  }

  function reject() {
    const p = shown[current];
    if (!p) return;
    const why = reason.value.trim();
    if (!why) {
      panelError.textContent = "Bitte begründen Sie die Ablehnung (dann Enter).";
      reason.focus();
      return;
    }
    decide(p, "reject", why);
  }

  function renderList() {
    replace(
      tbody,
      shown.map((p, i) => {
        const box = h("input", {
          type: "checkbox",
          id: `pick-${p.id}`,
          checked: selected.has(p.id),
          "aria-label": `${p.applicant_id} → ${p.offer_id} auswählen`,
          onchange: (event) => {
            if (event.target.checked) selected.add(p.id);
            else selected.delete(p.id);
            updateBulk();
          },
        });
        const a = applicantById.get(p.applicant_id);
        return h(
          "tr",
          { class: i === current ? "is-current" : null, "data-placement": p.id },
          h("td", {}, box),
          h("td", {}, applicantLink(rid, p.applicant_id), a?.name ? ` · ${a.name}` : ""),
          h("td", {}, offerLink(rid, p.offer_id), ` · ${p.city}`),
          h("td", {}, strengthScore(p.strength, p.score)),
          h("td", {}, placementBadge(p)),
        );
      }),
    );
    count.textContent = `${num(shown.length)} offene Vorschläge${query ? ` (gefiltert, ${num(proposals.length)} insgesamt)` : ""}`;
    updateBulk();
  }

  function updateBulk() {
    bulkButton.textContent = `Ausgewählte bestätigen (${num(selected.size)})`;
    bulkButton.disabled = !writable || selected.size === 0;
    const best = proposals.filter((p) => p.strength === VERY_GOOD).length;
    veryGoodButton.textContent = `Alle ‚${VERY_GOOD}‘ bestätigen (${num(best)})`;
    veryGoodButton.disabled = !writable || best === 0;
  }

  function show({ keep = false } = {}) {
    const currentId = shown[current]?.id;
    shown = filtered();
    if (!keep) current = Math.max(0, shown.findIndex((p) => p.id === currentId));
    current = Math.min(current, Math.max(0, shown.length - 1));
    renderPanel();
    renderList();
  }

  function move(step) {
    if (!shown.length) return;
    current = (current + step + shown.length) % shown.length;
    renderPanel();
    renderList();
  }

  bulkButton.addEventListener("click", async () => {
    bulkError.textContent = "";
    bulkButton.disabled = true;
    const decisions = [...selected].map((id) => ({ placement_id: id, decision: "confirm" }));
    try {
      await api(`${rest(rid)}/decisions`, { method: "POST", body: { decisions } });
    } catch (e) {
      bulkError.textContent = describe(e);
      updateBulk();
      return;
    }
    ctx.toast(`${num(decisions.length)} Vorschläge bestätigt.`);
    selected.clear();
    await load();
    if (ctx.alive()) show({ keep: true });
  });

  veryGoodButton.addEventListener("click", async () => {
    bulkError.textContent = "";
    replace(refusedOut);
    veryGoodButton.disabled = true;
    const chosen = proposals.filter((p) => p.strength === VERY_GOOD);
    let outcome;
    try {
      outcome = await confirmEach(chosen);
    } catch (e) {
      bulkError.textContent = describe(e);
      updateBulk();
      return;
    }
    ctx.toast(`${num(outcome.confirmed)} Vorschläge „${VERY_GOOD}“ bestätigt.`);
    if (outcome.refused.length) {
      replace(
        refusedOut,
        h("h3", {}, `Nicht bestätigt (${num(outcome.refused.length)})`),
        h(
          "ul",
          { class: "refused" },
          outcome.refused.map(({ placement, message }) =>
            h("li", { "data-placement": placement.id }, `${placement.applicant_id} → ${placement.offer_id}: ${message}`),
          ),
        ),
      );
    }
    await load();
    if (ctx.alive()) show({ keep: true });
  });

  /** Confirm proposals through the bulk API, which takes all or none: when it refuses a batch,
   * each half is sent again, down to the single proposals it refuses (named with the reason). */
  async function confirmEach(chosen) {
    if (!chosen.length) return { confirmed: 0, refused: [] };
    try {
      await api(`${rest(rid)}/decisions`, {
        method: "POST",
        body: { decisions: chosen.map((p) => ({ placement_id: p.id, decision: "confirm" })) },
      });
      return { confirmed: chosen.length, refused: [] };
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 409) throw e;
      if (chosen.length === 1) return { confirmed: 0, refused: [{ placement: chosen[0], message: describe(e) }] };
    }
    const middle = Math.ceil(chosen.length / 2);
    const first = await confirmEach(chosen.slice(0, middle));
    const second = await confirmEach(chosen.slice(middle));
    return { confirmed: first.confirmed + second.confirmed, refused: [...first.refused, ...second.refused] };
  }

  function onKey(event) {
    if (!ctx.alive()) {
      document.removeEventListener("keydown", onKey);
      return;
    }
    if (event.target === reason && event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      reject();
      return;
    }
    if (event.target === reason && event.key === "Escape") {
      panel.focus(); // back to the shortcuts without deciding
      return;
    }
    if (typing(event) || event.ctrlKey || event.metaKey || event.altKey || !writable) return;
    const action = { j: () => move(1), k: () => move(-1) }[event.key];
    if (event.key === "c" && shown[current]) {
      event.preventDefault();
      decide(shown[current], "confirm", reason.value.trim());
    } else if (event.key === "r") {
      event.preventDefault();
      reason.focus();
    } else if (action) {
      event.preventDefault();
      action();
    }
  }
  document.addEventListener("keydown", onKey);

  const search = h("input", { id: "queue-search", type: "search", value: query, autocomplete: "off" });
  const sort = h(
    "select",
    { id: "queue-sort" },
    Object.entries(SORTS).map(([key, [text]]) => h("option", { value: key, selected: key === sortKey }, text)),
  );
  const keepInAddress = () => {
    const params = new URLSearchParams();
    if (query) params.set("q", query);
    if (sort.value !== "applicant") params.set("sort", sort.value);
    history.replaceState(null, "", `${page(rid)}/pruefen${params.toString() ? `?${params}` : ""}`);
  };
  search.addEventListener("input", () => {
    query = search.value;
    keepInAddress();
    show();
  });
  sort.addEventListener("change", () => {
    keepInAddress();
    ctx.rerender();
  });
  const all = h("input", {
    type: "checkbox",
    id: "pick-all",
    "aria-label": "Alle angezeigten auswählen",
    onchange: (event) => {
      for (const p of shown) {
        if (event.target.checked) selected.add(p.id);
        else selected.delete(p.id);
      }
      renderList();
    },
  });

  await load();
  show();
  return [
    roundLine(summary),
    h("h1", {}, "Vorschläge prüfen"),
    h(
      "p",
      { class: "hint kbd-help" },
      "Tastatur: ",
      h("kbd", {}, "j"),
      " nächster, ",
      h("kbd", {}, "k"),
      " vorheriger, ",
      h("kbd", {}, "c"),
      " bestätigen, ",
      h("kbd", {}, "r"),
      " ablehnen (Begründung eingeben, Enter; ",
      h("kbd", {}, "Esc"),
      " bricht ab).",
    ),
    panel,
    h(
      "section",
      { "aria-labelledby": "queue-list-heading" },
      h("h2", { id: "queue-list-heading" }, "Alle offenen Vorschläge"),
      h(
        "form",
        { class: "toolbar", role: "search", onsubmit: (e) => e.preventDefault() },
        h("div", { class: "field" }, h("label", { for: "queue-search" }, "Suche"), search),
        h("div", { class: "field" }, h("label", { for: "queue-sort" }, "Sortierung"), sort),
      ),
      count,
      h("div", { class: "button-row" }, bulkButton, veryGoodButton),
      bulkError,
      refusedOut,
      h(
        "p",
        { class: "hint" },
        "Passung: „sehr gut“, „gut“ oder „schwach“ ordnet die Themenpassung ein; die Zahl daneben ist " +
          "der Wert, nach dem die Zuordnung wählt (höher ist besser). Details im Tooltip.",
      ),
      h(
        "div",
        { class: "table-wrap", tabindex: "0" },
        h(
          "table",
          { "data-testid": "queue-list" },
          h("caption", { class: "visually-hidden" }, "Offene Vorschläge"),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "col" }, all),
              ["Bewerbung", "Angebot", "Passung", "Status"].map((t) => h("th", { scope: "col" }, t)),
            ),
          ),
          tbody,
        ),
      ),
    ),
  ];
}
