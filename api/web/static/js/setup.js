// Round setup: create a round, import offers and applications (JSON, CSV, XLSX) with every
// problem listed per record and field before anything is stored, add or edit one record, and
// open the call for applications, and issue invitations (one link per applicant and mentor, or
// all of them as one CSV).
import { ApiError, api, describe, saveBlob } from "./api.js";
import { page, rest, roundLine } from "./coordinator.js";
import { h, nextId, num, replace, table, when } from "./dom.js";
import { ROLE_LABELS, badge, label } from "./labels.js";

const KINDS = {
  offers: { label: "Angebote", one: "Angebot", path: "offers" },
  applicants: { label: "Bewerbungen", one: "Bewerbung", path: "applicants" },
};

export async function newRoundView(ctx) {
  const name = h("input", { id: "round-name", type: "text", name: "name", maxlength: 200, required: true });
  const error = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    {
      class: "card",
      onsubmit: async (event) => {
        event.preventDefault();
        error.textContent = "";
        if (!name.value.trim()) {
          error.textContent = "Bitte geben Sie der Runde einen Namen.";
          name.focus();
          return;
        }
        try {
          const round = await api("/api/rounds", { method: "POST", body: { name: name.value.trim() } });
          ctx.toast(`Runde „${round.name}“ angelegt.`);
          ctx.navigate(`${page(round.id)}/einrichtung`);
        } catch (e) {
          error.textContent = describe(e);
        }
      },
    },
    h("label", { for: "round-name" }, "Name der Runde"),
    name,
    h("div", { class: "button-row" }, h("button", { type: "submit", class: "button button--primary" }, "Runde anlegen")),
    error,
  );
  return [h("h1", {}, "Neue Runde"), form];
}

// --- import -----------------------------------------------------------------------------------

const isJson = (file) => /\.json$/i.test(file.name);

/** A JSON file's records for one kind: a list, or an object with an `offers`/`applicants` list. */
async function jsonRecords(file, kind) {
  let data;
  try {
    data = JSON.parse(await file.text());
  } catch {
    throw new ApiError(422, `${file.name}: kein gültiges JSON.`, [
      { source: file.name, field: "Datei", message: "Die Datei ist kein gültiges JSON." },
    ]);
  }
  return Array.isArray(data) ? data : data[kind] || [];
}

/** Send both files in one request, so the import is all or nothing. */
async function importFiles(rid, files) {
  const chosen = Object.entries(files).filter(([, file]) => file);
  if (!chosen.length) throw new ApiError(0, "Bitte wählen Sie mindestens eine Datei.");
  if (chosen.every(([, file]) => isJson(file))) {
    const body = { offers: [], applicants: [] };
    for (const [kind, file] of chosen) body[kind] = await jsonRecords(file, kind);
    return api(`${rest(rid)}/import`, { method: "POST", body });
  }
  if (chosen.some(([, file]) => isJson(file))) {
    throw new ApiError(0, "Bitte beide Dateien im selben Format: JSON, oder CSV/XLSX.");
  }
  const form = new FormData();
  for (const [kind, file] of chosen) form.append(kind, file, file.name);
  return api(`${rest(rid)}/import/csv`, { method: "POST", body: form });
}

/** Every problem of a refused import as a table: file, record, field, message. */
function problemTable(error) {
  const rows = error.errors.map((p) => [
    p.source || "–",
    p.record_id || (p.index === null || p.index === undefined ? "–" : `Nr. ${num(p.index + 1)}`),
    p.field || "–",
    p.message,
  ]);
  return [
    h("p", { class: "error-box", role: "alert" }, `${error.message} Nichts wurde gespeichert.`),
    rows.length
      ? table(
          error.total > rows.length ? `Die ersten ${num(rows.length)} von ${num(error.total)} Problemen` : `${num(rows.length)} Probleme`,
          ["Datei", "Datensatz", "Feld", "Problem"],
          rows,
          { class: "problems", "data-testid": "import-problems" },
        )
      : null,
  ];
}

function importCard(ctx, rid, writable) {
  const inputs = Object.fromEntries(
    Object.entries(KINDS).map(([kind, { label }]) => [
      kind,
      h("input", { type: "file", id: `file-${kind}`, name: kind, accept: ".json,.csv,.xlsx", disabled: !writable }),
    ]),
  );
  const result = h("div", { "aria-live": "polite" });
  const button = h("button", { type: "submit", class: "button button--primary", disabled: !writable }, "Prüfen und importieren");
  const form = h(
    "form",
    {
      class: "card",
      "aria-labelledby": "import-heading",
      onsubmit: async (event) => {
        event.preventDefault();
        button.disabled = true;
        replace(result, h("p", { class: "hint" }, "Dateien werden geprüft …"));
        try {
          const done = await importFiles(rid, {
            offers: inputs.offers.files[0],
            applicants: inputs.applicants.files[0],
          });
          replace(
            result,
            h(
              "p",
              { class: "notice", "data-testid": "import-result" },
              `Importiert: ${num(done.offers)} Angebote und ${num(done.applicants)} Bewerbungen.`,
            ),
          );
          ctx.toast("Import gespeichert.");
        } catch (e) {
          replace(result, e instanceof ApiError && e.errors.length ? problemTable(e) : h("p", { class: "error-box", role: "alert" }, describe(e)));
        } finally {
          button.disabled = !writable;
        }
      },
    },
    h("h2", { id: "import-heading" }, "Angebote und Bewerbungen importieren"),
    h(
      "p",
      { class: "hint" },
      "JSON im Austauschformat, CSV (UTF-8 oder Windows-1252, Trennzeichen ; oder ,) oder XLSX mit " +
        "deutschen Spaltennamen. Alles wird vorher geprüft: bei einem Fehler wird nichts gespeichert, " +
        "und jeder Fehler wird mit Datensatz und Feld genannt.",
    ),
    Object.entries(KINDS).map(([kind, { label }]) =>
      h("div", { class: "field" }, h("label", { for: `file-${kind}` }, `${label} (JSON, CSV oder XLSX)`), inputs[kind]),
    ),
    h("div", { class: "button-row" }, button),
    result,
  );
  return form;
}

// --- one record ---------------------------------------------------------------------------------

const LIST_HINT = "Mehrere durch Semikolon getrennt.";
const HINTS = {
  list: LIST_HINT,
  languages: "Sprache und Niveau, z. B. de:C2; en:B1.",
};

/** A stored value as the form's text: lists "a; b", languages "de:C2; en:B1". */
function fieldText(field, value) {
  if (value === null || value === undefined) return "";
  if (field.input === "list") return value.join("; ");
  if (field.input === "languages") return Object.entries(value).map(([code, level]) => `${code}:${level}`).join("; ");
  return String(value);
}

/** The form's text as the interchange value; undefined leaves an empty optional field out. A
 * value the form cannot read goes to the server as typed, which names the field's problem. */
function fieldValue(field, text) {
  const value = text.trim();
  if (!value) return field.required ? (field.input === "list" ? [] : "") : undefined;
  const parts = value.split(";").map((part) => part.trim()).filter(Boolean);
  if (field.input === "list") return parts;
  if (field.input === "languages") {
    const pairs = parts.map((part) => part.split(":").map((x) => x.trim()));
    return pairs.every((pair) => pair.length === 2 && pair[0] && pair[1]) ? Object.fromEntries(pairs) : value;
  }
  if (field.input === "integer" || field.input === "number") {
    const number = Number(value.replace(",", "."));
    return Number.isFinite(number) ? number : value;
  }
  return value;
}

/** One labelled input per field, with its hint and the place for the server's message. */
function fieldControl(field) {
  const id = `record-${field.name}`;
  const describedBy = [`${id}-error`, HINTS[field.input] ? `${id}-hint` : null].filter(Boolean).join(" ");
  const common = { id, name: field.name, "aria-describedby": describedBy };
  let input;
  if (field.input === "text") {
    input = h("textarea", { ...common, rows: 5 });
  } else if (field.input === "choice") {
    input = h("select", common, h("option", { value: "" }, field.required ? "– bitte wählen –" : "– nicht angegeben –"), field.options.map((o) => h("option", { value: o }, o)));
  } else {
    const type = { date: "date", integer: "text", number: "text" }[field.input] || "text";
    const inputmode = { integer: "numeric", number: "decimal" }[field.input];
    input = h("input", { ...common, type, inputmode, autocomplete: "off" });
  }
  const example = fieldText(field, field.example);
  if (example && input.tagName !== "SELECT" && field.input !== "date") input.placeholder = `z. B. ${example}`;
  const error = h("p", { class: "error field-error", id: `${id}-error` });
  const wrapper = h(
    "div",
    { class: `field field--${field.input}`, "data-field": field.name },
    h("label", { for: id }, field.label, field.required ? " *" : ""),
    HINTS[field.input] ? h("p", { class: "hint", id: `${id}-hint` }, HINTS[field.input]) : null,
    input,
    error,
  );
  return { field, input, error, wrapper };
}

/** Which form field a server error names: "body.capacity" → capacity (the first part). */
function errorField(error) {
  const parts = String(error.field || "").split(".");
  return parts[0] === "body" ? parts[1] : parts[0];
}

/**
 * Add or edit one record: pick it, change its fields in the form (one labelled input per
 * interchange field, labels from the server), save. The server's messages appear at their
 * fields; anything not about one field above the button.
 */
function recordCard(ctx, rid, writable, offers, applicants, fields) {
  const kind = h(
    "select",
    { id: "record-kind" },
    Object.entries(KINDS).map(([key, { one }]) => h("option", { value: key }, one)),
  );
  const pick = h("select", { id: "record-id" });
  const inputs = h("fieldset", { class: "record-fields", disabled: !writable });
  const result = h("div", { "aria-live": "polite" });
  const records = { offers, applicants };
  let controls = [];
  const clearErrors = () => {
    replace(result);
    for (const c of controls) {
      c.error.textContent = "";
      c.input.removeAttribute("aria-invalid");
    }
  };
  const fillPick = () => {
    replace(
      pick,
      h("option", { value: "" }, "– neu anlegen –"),
      records[kind.value].map((r) => h("option", { value: r.id }, `${r.id} · ${r.title || r.name || r.position}`)),
    );
    controls = fields[kind.value].map(fieldControl);
    replace(inputs, h("legend", {}, `Felder ${KINDS[kind.value].one === "Angebot" ? "des Angebots" : "der Bewerbung"} (* Pflicht)`), controls.map((c) => c.wrapper));
    load();
  };
  const load = () => {
    clearErrors();
    const record = records[kind.value].find((r) => r.id === pick.value) || {};
    for (const c of controls) c.input.value = fieldText(c.field, record[c.field.name]);
  };
  kind.addEventListener("change", fillPick);
  pick.addEventListener("change", load);
  const showProblems = (e) => {
    const general = [];
    for (const problem of e.errors) {
      const control = controls.find((c) => c.field.name === errorField(problem));
      if (control) {
        control.error.textContent = [control.error.textContent, problem.message].filter(Boolean).join(" ");
        control.input.setAttribute("aria-invalid", "true");
      } else {
        general.push(problem.message);
      }
    }
    replace(
      result,
      h("p", { class: "error-box", role: "alert" }, `${e.message} Nichts wurde gespeichert.`, general.length ? ` ${general.join(" ")}` : ""),
    );
    controls.find((c) => c.input.getAttribute("aria-invalid"))?.input.focus();
  };
  const save = async (event) => {
    event.preventDefault();
    clearErrors();
    const record = {};
    for (const c of controls) {
      const value = fieldValue(c.field, c.input.value);
      if (value !== undefined) record[c.field.name] = value;
    }
    const base = `${rest(rid)}/${KINDS[kind.value].path}`;
    try {
      if (pick.value) {
        await api(`${base}/${encodeURIComponent(pick.value)}`, { method: "PUT", body: record });
      } else {
        await api(base, { method: "POST", body: record });
      }
      ctx.toast(`${KINDS[kind.value].one} ${record.id} gespeichert.`);
      ctx.rerender();
    } catch (e) {
      if (e instanceof ApiError && e.errors.length) showProblems(e);
      else replace(result, h("p", { class: "error-box", role: "alert" }, describe(e)));
    }
  };
  fillPick();
  return h(
    "form",
    { class: "card", "aria-labelledby": "record-heading", onsubmit: save, novalidate: true },
    h("h2", { id: "record-heading" }, "Einzelnen Datensatz anlegen oder bearbeiten"),
    h("div", { class: "toolbar" },
      h("div", { class: "field" }, h("label", { for: "record-kind" }, "Art"), kind),
      h("div", { class: "field" }, h("label", { for: "record-id" }, "Datensatz"), pick),
    ),
    inputs,
    result,
    h("div", { class: "button-row" }, h("button", { type: "submit", class: "button button--primary", disabled: !writable }, "Speichern")),
  );
}

// --- call for applications --------------------------------------------------------------------

/** The round's call, or null when it has none yet (404) or the round closed without one (409). */
async function loadCall(rid) {
  try {
    return await api(`${rest(rid)}/call`);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 409)) return null;
    throw e;
  }
}

/** Mentors edit their offers online until the call's offers deadline (closing stops applications only). */
function offersOpen(call) {
  return Boolean(call?.offers_until && new Date(call.offers_until) > new Date());
}

/** An ISO timestamp as the value of a datetime-local input (the browser's local time). */
function localValue(iso) {
  if (!iso) return "";
  const moment = new Date(iso);
  return new Date(moment.getTime() - moment.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

function callState(call) {
  if (!call) return "Noch keine Ausschreibung: Bewerbungen kommen nur über den Import.";
  if (call.closed_at) return `Geschlossen seit ${when(call.closed_at)}.`;
  if (!call.accepting) return `Geschlossen: die Bewerbungsfrist ist am ${when(call.applications_until)} abgelaufen.`;
  const offers = call.offers_until ? ` Angebote eintragen bis ${when(call.offers_until)}.` : "";
  return `Offen bis ${when(call.applications_until)}.${offers} ${num(call.pending)} Bewerbungen warten auf die Bestätigung der E-Mail-Adresse.`;
}

/** The public link in a read-only field with a copy button (like the invitations). */
function publicLink(call) {
  const id = nextId("call-link");
  const input = h("input", { id, type: "text", readonly: true, value: call.link, "data-testid": "call-link" });
  const copy = h("button", { type: "button", class: "button" }, "Link kopieren");
  copy.addEventListener("click", async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      copy.textContent = "Kopiert";
    } catch {
      copy.textContent = "Markiert: mit Strg+C kopieren";
    }
  });
  return [h("label", { for: id }, "Öffentlicher Link der Ausschreibung"), input, h("div", { class: "button-row" }, copy)];
}

/** Open the call with its deadlines (or change them), show its link and state, close it. */
function callCard(ctx, rid, writable, holder) {
  const section = h("section", { class: "card call-card", "aria-labelledby": "call-heading" });
  const render = () => {
    const { call } = holder;
    const applications = h("input", { id: "call-applications", type: "datetime-local", required: true, value: localValue(call?.applications_until) });
    const offers = h("input", { id: "call-offers", type: "datetime-local", value: localValue(call?.offers_until) });
    const error = h("p", { class: "error", role: "alert" });
    const send = async (path, options, message) => {
      error.textContent = "";
      try {
        holder.call = await api(path, options);
        ctx.toast(message);
        render();
      } catch (e) {
        error.textContent = describe(e);
      }
    };
    const form = h(
      "form",
      {
        novalidate: true,
        onsubmit: async (event) => {
          event.preventDefault();
          if (!applications.value) {
            error.textContent = "Bitte geben Sie die Bewerbungsfrist an (Datum und Uhrzeit).";
            applications.focus();
            return;
          }
          const body = {
            applications_until: new Date(applications.value).toISOString(),
            offers_until: offers.value ? new Date(offers.value).toISOString() : null,
          };
          await send(`${rest(rid)}/call`, { method: "PUT", body }, "Ausschreibung geöffnet.");
        },
      },
      h("label", { for: "call-applications" }, "Bewerbungsfrist (Datum und Uhrzeit)"),
      applications,
      h("label", { for: "call-offers" }, "Frist für Angebote der Mentorinnen und Mentoren (optional)"),
      offers,
      h(
        "div",
        { class: "button-row" },
        h("button", { type: "submit", class: "button button--primary", disabled: !writable }, call ? "Fristen speichern und öffnen" : "Ausschreibung öffnen"),
        call && !call.closed_at
          ? h("button", { type: "button", class: "button button--danger", disabled: !writable, onclick: () => send(`${rest(rid)}/call/close`, { method: "POST" }, "Ausschreibung geschlossen.") }, "Ausschreibung schließen")
          : null,
      ),
      error,
    );
    replace(
      section,
      h("h2", { id: "call-heading" }, "Ausschreibung"),
      h("p", { role: "status", "data-testid": "call-state" }, callState(call)),
      ...(call ? publicLink(call) : []),
      form,
    );
  };
  render();
  return section;
}

// --- invitations --------------------------------------------------------------------------------

/** Mentors: one invitation per mentor name (all their offers), else one per offer. */
function mentorGroups(offers) {
  const groups = new Map();
  for (const offer of offers) {
    const key = offer.mentor_name ? `name:${offer.mentor_name}` : `offer:${offer.id}`;
    const group = groups.get(key) || { name: offer.mentor_name || `Mentoring ${offer.id}`, email: offer.mentor_email, offers: [] };
    group.offers.push(offer.id);
    groups.set(key, group);
  }
  return [...groups.values()];
}

const ENGLISH_TIME = new Intl.DateTimeFormat("en-GB", { dateStyle: "long", timeStyle: "short", timeZone: "Europe/Berlin" });

/** The mentor's part: the offer page while mentors may still edit their offers, else their guests. */
function mentorText(person, call) {
  if (!offersOpen(call)) {
    return `für Ihre Angebote (${person.offers.join(", ")}) sehen Sie Ihre Gäste und können sie annehmen:\n`;
  }
  return (
    `bitte tragen Sie Ihre Angebote (${person.offers.join(", ")}) bis zum ${when(call.offers_until)} ein ` +
    "oder aktualisieren Sie sie (Plätze, Zeitraum, Sprachen, Beschreibung).\n" +
    `Please enter or update your offers by ${ENGLISH_TIME.format(new Date(call.offers_until))} (Berlin time):\n`
  );
}

function invitationText(person, link, call) {
  return (
    `Guten Tag ${person.name},\n\n` +
    (person.role === "applicant"
      ? "für Ihre Bewerbung um eine Hospitation sehen Sie Ihre Vorschläge und deren Stand hier:\n"
      : mentorText(person, call)) +
    `${link}\n\nDer Link ist persönlich; bitte geben Sie ihn nicht weiter.\n\nIhre Koordination`
  );
}

/** A new token for the person and its link: mentors go to the offer page while offers are open. */
async function issue(rid, person, call) {
  const body =
    person.role === "applicant"
      ? { role: "applicant", label: `Bewerbung ${person.id}`.slice(0, 200), round_id: Number(rid), applicant_id: person.id }
      : { role: "mentor", label: person.name.slice(0, 200), round_id: Number(rid), offer_ids: person.offers };
  const issued = await api("/api/accounts", { method: "POST", body });
  const token = encodeURIComponent(issued.token);
  return person.role === "mentor" && offersOpen(call)
    ? `${location.origin}/static/angebot.html#zugang=${token}`
    : `${location.origin}/#token=${token}`;
}

const csvCell = (value) => `"${String(value ?? "").replaceAll('"', '""')}"`;

function invitationsCard(rid, offers, applicants, holder) {
  const people = [
    ...applicants.map((a) => ({ role: "applicant", id: a.id, name: a.name || a.id, email: a.email, offers: [] })),
    ...mentorGroups(offers).map((m) => ({ role: "mentor", id: m.offers.join(", "), name: m.name, email: m.email, offers: m.offers })),
  ];
  const status = h("p", { class: "hint", role: "status" });
  const bulk = h("button", { type: "button", class: "button" }, `Alle ${num(people.length)} Einladungen als CSV`);
  bulk.addEventListener("click", async () => {
    bulk.disabled = true;
    status.textContent = "Einladungen werden erstellt …";
    try {
      const rows = [["Rolle", "ID", "Name", "E-Mail", "Link"].map(csvCell).join(";")];
      // A few requests at a time: quick for a few hundred people, gentle on the server.
      for (let start = 0; start < people.length; start += 8) {
        const batch = people.slice(start, start + 8);
        const links = await Promise.all(batch.map((person) => issue(rid, person, holder.call)));
        batch.forEach((person, i) => {
          const role = person.role === "applicant" ? "Bewerbung" : "Mentoring";
          rows.push([role, person.id, person.name, person.email, links[i]].map(csvCell).join(";"));
        });
      }
      const name = saveBlob(new Blob([`\ufeff${rows.join("\r\n")}\r\n`], { type: "text/csv" }), `einladungen-runde-${rid}.csv`);
      status.textContent = `${name} heruntergeladen (${num(people.length)} neue Zugänge).`;
    } catch (e) {
      status.textContent = describe(e);
    } finally {
      bulk.disabled = false;
    }
  });
  const rows = people.map((person) => {
    const out = h("div");
    const button = h("button", { type: "button", class: "button", "aria-label": `Einladung erstellen für ${person.id}` }, "Einladung erstellen");
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const link = await issue(rid, person, holder.call);
        const id = nextId("invitation");
        const text = h("textarea", { id, class: "invitation", rows: 8, readonly: true, "data-testid": "invitation" }, invitationText(person, link, holder.call));
        const copy = h("button", { type: "button", class: "button button--primary" }, "Text kopieren");
        copy.addEventListener("click", async () => {
          text.select();
          try {
            await navigator.clipboard.writeText(text.value);
            copy.textContent = "Kopiert";
          } catch {
            copy.textContent = "Markiert: mit Strg+C kopieren";
          }
        });
        replace(out, h("label", { for: id }, `Einladung ${person.id}`), text, copy);
        text.focus();
      } catch (e) {
        replace(out, h("p", { class: "error", role: "alert" }, describe(e)));
        button.disabled = false;
      }
    });
    return [person.role === "applicant" ? "Bewerbung" : "Mentoring", person.id, person.name, [button, out]];
  });
  return h(
    "section",
    { class: "card", "aria-labelledby": "invite-heading" },
    h("h2", { id: "invite-heading" }, "Einladungen"),
    h(
      "p",
      { class: "hint" },
      "Jede Einladung erstellt einen neuen persönlichen Zugang; der Link meldet direkt an. " +
        "Das Token wird nur einmal angezeigt.",
    ),
    h("div", { class: "button-row" }, bulk),
    status,
    people.length
      ? h(
          "details",
          { class: "manual" },
          h("summary", {}, `Einzeln einladen (${num(people.length)} Personen)`),
          table(null, ["Rolle", "ID", "Name", "Einladung"], rows, { "data-testid": "invitations" }),
        )
      : h("p", {}, "Noch keine Angebote oder Bewerbungen."),
  );
}

// --- issued tokens ------------------------------------------------------------------------------

const TOKEN_STATE_KIND = { aktiv: "placed", abgelaufen: "option", widerrufen: "rejected" };

/** The revoke button of one token; it asks once more before the token stops working. */
function revokeControl(ctx, token, onRevoked) {
  const cell = h("div", { class: "button-row" });
  const ask = () => {
    const yes = h("button", { type: "button", class: "button button--danger" }, "Ja, widerrufen");
    const no = h("button", { type: "button", class: "button" }, "Abbrechen");
    const error = h("p", { class: "error", role: "alert" });
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      try {
        const revoked = await api(`/api/accounts/${token.id}/revoke`, { method: "POST" });
        ctx.toast(`Zugang „${token.label}“ widerrufen.`);
        replace(cell);
        onRevoked(revoked);
      } catch (e) {
        error.textContent = describe(e);
        yes.disabled = false;
      }
    });
    no.addEventListener("click", show);
    replace(cell, h("span", {}, `„${token.label}“ widerrufen? Der Link meldet danach nicht mehr an.`), yes, no, error);
    yes.focus();
  };
  const show = () => {
    const button = h("button", { type: "button", class: "button", "aria-label": `Zugang „${token.label}“ widerrufen` }, "Widerrufen");
    button.addEventListener("click", ask);
    replace(cell, button);
  };
  if (token.state === "aktiv") show();
  return cell;
}

function tokenRow(ctx, token) {
  const state = h("span");
  const showState = (t) => replace(state, badge(t.state, TOKEN_STATE_KIND[t.state] || "option"));
  showState(token);
  const binding = token.applicant_id || token.offer_ids.join(", ") || "—";
  return [
    token.label,
    label(ROLE_LABELS, token.role),
    binding,
    when(token.created_at),
    token.last_used_at ? when(token.last_used_at) : "noch nie",
    token.expires_at ? when(token.expires_at) : "unbegrenzt",
    state,
    revokeControl(ctx, token, showState),
  ];
}

/** The round's issued tokens (never their secrets), each revocable. */
async function tokensCard(ctx, rid) {
  const tokens = await api(`/api/accounts?round_id=${encodeURIComponent(rid)}`);
  const active = tokens.filter((t) => t.state === "aktiv").length;
  return h(
    "section",
    { class: "card", "aria-labelledby": "tokens-heading" },
    h("h2", { id: "tokens-heading" }, "Ausgegebene Zugänge"),
    h("p", { class: "hint" }, "Ein widerrufener Zugang meldet sofort nicht mehr an; für die Person lässt sich eine neue Einladung erstellen."),
    tokens.length
      ? h(
          "details",
          { class: "manual" },
          h("summary", {}, `Zugänge anzeigen (${num(tokens.length)}, davon ${num(active)} aktiv)`),
          table(
            null,
            ["Bezeichnung", "Rolle", "Gebunden an", "Erstellt", "Zuletzt genutzt", "Gültig bis", "Status", "Aktion"],
            tokens.map((t) => tokenRow(ctx, t)),
            { "data-testid": "tokens" },
          ),
        )
      : h("p", {}, "Noch keine Zugänge für diese Runde."),
  );
}

export async function setupView(ctx, rid) {
  const [summary, call, offers, applicants, tokens, offerFields, applicantFields] = await Promise.all([
    api(rest(rid)),
    loadCall(rid),
    api(`${rest(rid)}/offers`),
    api(`${rest(rid)}/applicants`),
    tokensCard(ctx, rid),
    api("/api/templates/offers/fields"),
    api("/api/templates/applicants/fields"),
  ]);
  const writable = summary.status !== "closed";
  const holder = { call }; // the call card updates it; invitations read it when they are made
  return [
    roundLine(summary),
    h("h1", {}, "Einrichtung"),
    h(
      "p",
      { class: "lead" },
      `${num(offers.length)} Angebote und ${num(applicants.length)} Bewerbungen in dieser Runde.`,
    ),
    importCard(ctx, rid, writable),
    recordCard(ctx, rid, writable, offers, applicants, { offers: offerFields, applicants: applicantFields }),
    callCard(ctx, rid, writable, holder),
    invitationsCard(rid, offers, applicants, holder),
    tokens,
  ];
}
