// "Meine Gäste": proposed and confirmed guests on the mentor's offers; accept or decline the
// confirmed ones (declining needs a reason for the coordinators).
import { api, describe } from "./api.js";
import { day, facts, h, nextId, reasonField } from "./dom.js";
import { MENTOR_DECISION, PLACEMENT_STATUS, badge } from "./labels.js";

function decide(ctx, guest) {
  const [field, area] = reasonField(
    "Begründung",
    "Beim Annehmen optional, beim Ablehnen nötig; die Koordination sieht sie im Protokoll.",
  );
  const error = h("p", { class: "error", role: "alert" });
  const send = async (action, button) => {
    const reason = area.value.trim();
    error.textContent = "";
    if (action === "decline" && !reason) {
      error.textContent = "Bitte begründen Sie die Ablehnung.";
      area.focus();
      return;
    }
    const buttons = button.parentElement.querySelectorAll("button");
    buttons.forEach((b) => {
      b.disabled = true;
    });
    try {
      await api(`/api/mentor/guests/${guest.placement_id}/${action}`, {
        method: "POST",
        body: { reason: reason || null },
      });
      ctx.toast(action === "accept" ? "Gast angenommen." : "Gast abgelehnt.");
      ctx.rerender();
    } catch (e) {
      error.textContent = describe(e);
      buttons.forEach((b) => {
        b.disabled = false;
      });
    }
  };
  return h(
    "fieldset",
    { class: "decision" },
    h("legend", {}, guest.mentor_decision ? "Entscheidung ändern" : "Ihre Entscheidung"),
    field,
    h(
      "div",
      { class: "button-row" },
      h(
        "button",
        {
          type: "button",
          class: "button button--primary",
          onclick: (e) => send("accept", e.currentTarget),
        },
        "Gast annehmen",
      ),
      h(
        "button",
        {
          type: "button",
          class: "button button--danger",
          onclick: (e) => send("decline", e.currentTarget),
        },
        "Gast ablehnen",
      ),
    ),
    error,
  );
}

function guestCard(ctx, guest) {
  const headingId = nextId("guest");
  const kind = guest.status === "confirmed" ? "placed" : "proposed";
  let decision;
  if (guest.status !== "confirmed") {
    decision = h(
      "p",
      { class: "hint" },
      "Die Koordination hat diesen Vorschlag noch nicht bestätigt. Sie können nach der Bestätigung entscheiden.",
    );
  } else if (guest.mentor_decision) {
    decision = h(
      "details",
      { class: "manual" },
      h("summary", {}, "Entscheidung ändern …"),
      decide(ctx, guest),
    );
  } else {
    decision = decide(ctx, guest);
  }
  return h(
    "li",
    { class: "card guest", "aria-labelledby": headingId, "data-placement": guest.placement_id },
    h("h3", { id: headingId }, guest.name || "Name nicht angegeben"),
    h(
      "p",
      { class: "meta", "data-testid": "guest-status" },
      badge(PLACEMENT_STATUS[guest.status], kind),
      guest.mentor_decision
        ? [" ", badge(MENTOR_DECISION[guest.mentor_decision], `mentor-${guest.mentor_decision}`)]
        : null,
    ),
    facts([
      ["Position", guest.position],
      ["Dienststelle", guest.home_organisation],
      ["Aufenthalt", `${day(guest.stay_from)} bis ${day(guest.stay_until)}`],
      ["Dauer", `${guest.weeks_wanted} Wochen`],
    ]),
    h("h4", {}, "Motivation"),
    h("p", { class: "motivation" }, guest.motivation),
    decision,
  );
}

export async function mentorView(ctx) {
  const guests = await api("/api/mentor/guests");
  const offers = [...new Set([...ctx.me.offer_ids, ...guests.map((g) => g.offer_id)])];
  const titles = new Map(guests.map((g) => [g.offer_id, g.offer_title]));
  return [
    h("h1", {}, "Meine Gäste"),
    h(
      "p",
      { class: "lead" },
      "Vorgeschlagene und bestätigte Gäste Ihrer Angebote. Bestätigte Gäste können Sie annehmen oder ablehnen.",
    ),
    offers.map((offerId) => {
      const mine = guests.filter((g) => g.offer_id === offerId);
      const headingId = nextId("offer");
      return h(
        "section",
        { "aria-labelledby": headingId, "data-offer": offerId },
        h(
          "h2",
          { id: headingId },
          titles.has(offerId) ? `${titles.get(offerId)} (${offerId})` : `Angebot ${offerId}`,
        ),
        mine.length
          ? h("ol", { class: "guests" }, mine.map((g) => guestCard(ctx, g)))
          : h("p", { class: "notice" }, "Noch keine Gäste vorgeschlagen."),
      );
    }),
  ];
}
