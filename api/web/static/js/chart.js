// Places per city as an inline SVG bar chart (confirmed, proposed, still open), with the same
// numbers as a table for screen readers and for reading exact values.
import { h, nextId, num, s, table } from "./dom.js";

const ROW = 30;
const BAR = 20;
const LABEL_W = 150;
const BAR_W = 470;
const VALUE_W = 110;
const TOP = 6;

/**
 * Rows per city: {city, places, confirmed, proposed, open}, sorted by places, then name.
 * `offers` are interchange offers, `placements` placement views of the round.
 */
export function placesPerCity(offers, placements) {
  const cityOf = new Map(offers.map((o) => [o.id, o.city]));
  const rows = new Map();
  for (const offer of offers) {
    const row = rows.get(offer.city) || { city: offer.city, places: 0, confirmed: 0, proposed: 0 };
    row.places += offer.capacity;
    rows.set(offer.city, row);
  }
  for (const p of placements) {
    const row = rows.get(cityOf.get(p.offer_id));
    if (!row) continue;
    if (p.status === "confirmed") row.confirmed += 1;
    if (p.status === "proposed") row.proposed += 1;
  }
  return [...rows.values()]
    .map((r) => {
      // Beyond the capacity a city is overbooked: that part is drawn as an error segment.
      const taken = r.confirmed + r.proposed;
      return { ...r, open: Math.max(0, r.places - taken), over: Math.max(0, taken - r.places) };
    })
    .sort((a, b) => b.places - a.places || a.city.localeCompare(b.city, "de"));
}

const SEGMENTS = [
  ["confirmed", "bestätigt"],
  ["proposed", "vorgeschlagen"],
  ["open", "frei"],
  ["over", "überbucht"],
];

export function cityChart(rows) {
  const titleId = nextId("chart-title");
  const descId = nextId("chart-desc");
  const max = Math.max(1, ...rows.map((r) => r.places + r.over));
  const unit = BAR_W / max;
  const height = TOP * 2 + rows.length * ROW;
  const total = rows.reduce((sum, r) => sum + r.places, 0);
  const svg = s(
    "svg",
    {
      class: "chart",
      viewBox: `0 0 ${LABEL_W + BAR_W + VALUE_W} ${height}`,
      role: "img",
      "aria-labelledby": `${titleId} ${descId}`,
      "data-testid": "city-chart",
    },
    s("title", { id: titleId }, "Plätze je Stadt"),
    s(
      "desc",
      { id: descId },
      `${num(total)} Plätze in ${num(rows.length)} Städten; je Stadt bestätigt, vorgeschlagen und frei.`,
    ),
  );
  // vertical grid lines every few places
  const step = max > 10 ? 5 : 1;
  for (let v = 0; v <= max; v += step) {
    const x = LABEL_W + v * unit;
    svg.append(
      s("line", { class: "chart__grid", x1: x, x2: x, y1: TOP - 2, y2: height - TOP + 2 }),
    );
  }
  rows.forEach((row, i) => {
    const y = TOP + i * ROW;
    const group = s(
      "g",
      { class: "chart__row", "data-city": row.city },
      s(
        "title",
        {},
        `${row.city}: ${row.places} Plätze, ${row.confirmed} bestätigt, ` +
          `${row.proposed} vorgeschlagen, ${row.open} frei` +
          (row.over ? `, um ${row.over} überbucht` : ""),
      ),
      s(
        "text",
        { class: "chart__label", x: LABEL_W - 10, y: y + ROW / 2, "text-anchor": "end" },
        row.city,
      ),
    );
    let x = LABEL_W;
    // Proposals beyond the capacity are counted in "over", not twice.
    const shown = { ...row, proposed: row.proposed - row.over };
    for (const [key] of SEGMENTS) {
      const width = shown[key] * unit;
      if (width > 0) {
        group.append(
          s("rect", {
            class: `chart__bar chart__bar--${key}`,
            x,
            y: y + (ROW - BAR) / 2,
            width: Math.max(0, width - 1.5),
            height: BAR,
            rx: 3,
          }),
        );
      }
      x += width;
    }
    group.append(
      s(
        "text",
        {
          class: row.over ? "chart__value chart__value--over" : "chart__value",
          x: LABEL_W + (row.places + row.over) * unit + 8,
          y: y + ROW / 2,
        },
        row.over ? `${num(row.over)} zu viel` : `${num(row.confirmed + row.proposed)} von ${num(row.places)}`,
      ),
    );
    svg.append(group);
  });

  const legend = h(
    "ul",
    { class: "legend", "aria-hidden": "true" },
    SEGMENTS.filter(([key]) => key !== "over" || rows.some((r) => r.over)).map(([key, label]) =>
      h("li", {}, h("span", { class: `legend__swatch legend__swatch--${key}` }), label),
    ),
  );
  const data = h(
    "details",
    { class: "chart-data" },
    h("summary", {}, "Zahlen als Tabelle"),
    table(
      "Plätze je Stadt",
      ["Stadt", "Plätze", "bestätigt", "vorgeschlagen", "frei", "überbucht"],
      rows.map((r) => [r.city, num(r.places), num(r.confirmed), num(r.proposed), num(r.open), num(r.over)]),
      { class: "numeric" },
    ),
  );
  return h("figure", { class: "chart-figure" }, legend, svg, data);
}
