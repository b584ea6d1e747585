// "Meine Vorschläge": the applicant's own suggested hosts, why they fit, and their status.
import { api } from "./api.js";
import { day, facts, h, highlighted } from "./dom.js";
import { badge } from "./labels.js";

const STATUS = {
  bestätigt: ["Platz bestätigt", "placed"],
  vorgeschlagen: ["vorgeschlagen, Entscheidung offen", "proposed"],
  abgelehnt: ["nicht ausgewählt", "rejected"],
  "nicht mehr aktuell": ["nicht mehr aktuell", "option"],
  zurückgezogen: ["von Ihnen zurückgezogen", "rejected"],
  abgesagt: ["vom Gastgeber abgesagt", "rejected"],
  aufgehoben: ["Platzierung aufgehoben", "rejected"],
  Vorschlag: ["weitere Möglichkeit", "option"],
};

// German: Thema: „…“ passt zu „…“ (Ähnlichkeit …; English: Topic: “…” matches “…” (similarity …
// The topic sentence as the server words it per strength label (German or English).
const TOPIC =
  /^(?:Thema: „([\s\S]*?)“ (?:passt gut zu|berührt|passt zu) „([\s\S]*?)“|Topic: “([\s\S]*?)” (?:fits|touches on|matches) “([\s\S]*?)”)/;

function topicSentences(explanation) {
  const match = TOPIC.exec(explanation);
  return match ? [match[1] ?? match[3], match[2] ?? match[4]] : [null, null];
}

// The applicant reads explanations in German or English; quotes stay in their own language.
function languageSwitch(current) {
  const other = current === "en" ? "de" : "en";
  return h(
    "button",
    {
      type: "button",
      class: "secondary",
      "data-testid": "explanation-language",
      onclick: async () => {
        await api("/api/me/explanation-language", { method: "PUT", body: { language: other } });
        window.location.reload();
      },
    },
    other === "en" ? "Explanations in English" : "Erklärungen auf Deutsch",
  );
}

/** The stay as German dates: "01.04.2027 bis 28.04.2027". */
function stay(suggestion) {
  return `${day(suggestion.stay_from)} bis ${day(suggestion.stay_until)}`;
}

function card(suggestion) {
  const [label, kind] = STATUS[suggestion.status] || [suggestion.status, "option"];
  const [applicantSentence, offerSentence] = topicSentences(suggestion.explanation);
  return h(
    "li",
    { class: "suggestion card", "data-offer": suggestion.offer_id },
    h("h3", {}, suggestion.title),
    h("p", { class: "meta" }, badge(label, kind)),
    facts([
      ["Gastgeber", suggestion.organisation],
      ["Stadt", suggestion.city],
      ["Aufenthalt", suggestion.stay_from ? stay(suggestion) : null],
      ["Passung", suggestion.strength],
      ["Mentorin oder Mentor", suggestion.mentor_name || "wird noch benannt"],
    ]),
    h("h4", {}, "Warum es passt"),
    h(
      "p",
      { class: "explanation" },
      highlighted(suggestion.explanation, applicantSentence, offerSentence),
    ),
  );
}

export async function applicantView(ctx) {
  const suggestions = await api("/api/me/suggestions");
  const decided = suggestions.filter((s) => s.status !== "Vorschlag");
  const further = suggestions.filter((s) => s.status === "Vorschlag");
  return [
    h("h1", {}, "Meine Vorschläge"),
    h(
      "p",
      { class: "lead" },
      "Gastgeber, die zu Ihrer Bewerbung passen: Arbeitssprache, Zeitraum und " +
        "Dauer stimmen, und das Thema passt zu Ihren Aufgaben. Die Koordination entscheidet über " +
        "die Platzierung.",
    ),
    suggestions.length ? languageSwitch(suggestions[0].explanation_language) : null,
    suggestions.length
      ? [
          decided.length
            ? h(
                "section",
                { "aria-labelledby": "mine-heading" },
                h(
                  "h2",
                  { id: "mine-heading" },
                  decided.some((s) => s.status === "bestätigt")
                    ? "Ihr Platz"
                    : "Vorschlag der Koordination",
                ),
                h("ol", { class: "shortlist" }, decided.map(card)),
              )
            : null,
          further.length
            ? h(
                "section",
                { "aria-labelledby": "further-heading" },
                h(
                  "h2",
                  { id: "further-heading" },
                  decided.length ? "Weitere passende Gastgeber" : "Passende Gastgeber",
                ),
                h("ol", { class: "shortlist" }, further.map(card)),
              )
            : null,
        ]
      : h(
          "p",
          { class: "notice" },
          "Zurzeit erfüllt kein Angebot alle Bedingungen Ihrer Bewerbung. Die Koordination meldet sich bei Ihnen.",
        ),
  ];
}
