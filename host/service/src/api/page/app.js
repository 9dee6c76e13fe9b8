// The tenant's page: campaigns with their KPIs and charts, segment sizes,
// rule versions and the last shadow diff, all from the tenant's API.
"use strict";

function credentials() {
  const params = new URLSearchParams(location.hash.slice(1));
  return { tenant: params.get("tenant"), token: params.get("token") };
}

// Relative to /ui/, so the page works wherever the service is mounted.
async function api(path) {
  const { tenant, token } = credentials();
  const response = await fetch(`../v1/tenants/${encodeURIComponent(tenant)}${path}`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  if (response.status === 404) return null;
  if (!response.ok) {
    let message = `${response.status}`;
    try { message = (await response.json()).error.message; } catch (_) { /* not JSON */ }
    throw new Error(`${path}: ${message}`);
  }
  return response.json();
}

function el(name, text, attributes = {}) {
  const element = document.createElement(name);
  if (text !== undefined && text !== null) element.textContent = String(text);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

const percent = (rate) => (rate === null || rate === undefined ? "–" : `${(rate * 100).toFixed(1)}%`);
const money = (cents) => (cents / 100).toFixed(2);

const COLUMNS = [
  ["recipients", "recipients", (k) => k.recipients],
  ["sent", "sent", (k) => k.sent],
  ["delivered", "delivered", (k) => k.delivered],
  ["failed", "failed", (k) => k.failed],
  ["deferred", "deferred", (k) => k.deferred],
  ["unique_opens", "opens", (k) => k.unique_opens],
  ["open_rate", "open rate", (k) => percent(k.open_rate)],
  ["unique_clicks", "clicks", (k) => k.unique_clicks],
  ["click_rate", "CTR", (k) => percent(k.click_rate)],
  ["click_to_open_rate", "click-to-open", (k) => percent(k.click_to_open_rate)],
  ["conversions", "conversions", (k) => k.conversions],
  ["conversion_rate", "conversion", (k) => percent(k.conversion_rate)],
  ["revenue_cents", "revenue", (k) => money(k.revenue_cents)],
  ["unsubscribes", "unsubscribes", (k) => k.unsubscribes],
  ["unsubscribe_rate", "unsubscribe rate", (k) => percent(k.unsubscribe_rate)],
];

function kpiRow(campaign, group, key, kpis) {
  const flags = {};
  for (const flag of kpis.flags) flags[flag.rate] = flag.text;
  const row = el("tr", null, { "data-group": group, "data-key": key });
  row.appendChild(el("td", key));
  for (const [field, , show] of COLUMNS) {
    const cell = el("td", show(kpis), { "data-kpi": `${campaign}/${group}/${key}/${field}` });
    if (flags[field]) {
      cell.className = "off-target";
      cell.title = flags[field];
    }
    row.appendChild(cell);
  }
  return [row];
}

function kpiTable(report) {
  const table = el("table", null, { class: "kpis" });
  const head = el("tr");
  head.appendChild(el("th", ""));
  for (const [, title] of COLUMNS) head.appendChild(el("th", title));
  table.appendChild(el("thead")).appendChild(head);
  const body = el("tbody");
  const section = (title, group, entries) => {
    if (!entries.length) return;
    const titleRow = el("tr", null, { class: "group" });
    titleRow.appendChild(el("th", title, { colspan: COLUMNS.length + 1 }));
    body.appendChild(titleRow);
    for (const { key, kpis } of entries) {
      for (const row of kpiRow(report.campaign, group, key, kpis)) body.appendChild(row);
    }
  };
  section("all recipients", "total", [{ key: "total", kpis: report.total }]);
  section("by segment", "segment", report.segments);
  section("by subject", "subject", report.subjects);
  section("by preheader", "preheader", report.preheaders);
  for (const split of report.splits) {
    section(`A/B split of “${split.subject}” (on ${split.metric})`, `split:${split.subject}`,
      split.arms.map((arm) => ({ key: arm.arm, kpis: arm.kpis })));
  }
  table.appendChild(body);
  return table;
}

function campaignSection(report) {
  const box = el("article", null, { class: "campaign", "data-campaign": report.campaign });
  box.appendChild(el("h3", report.campaign));
  box.appendChild(el("p", `conversion window ${report.conversion_window}; A/B judged on ${report.ab_metric}`));
  if (report.total.recipients === 0) {
    box.appendChild(el("p", "No sends of this campaign yet.", { class: "empty" }));
    return box;
  }
  const charts = el("div", null, { class: "charts" });
  const rateBars = (entries, rate) => entries.map(({ key, kpis }) => ({
    label: key, value: kpis[rate] || 0, text: percent(kpis[rate]),
  }));
  charts.appendChild(barChart(`Segment sizes (recipients)`,
    report.segments.map(({ key, kpis }) => ({ label: key, value: kpis.recipients, text: String(kpis.recipients) })),
    { color: "#8c8f94" }));
  charts.appendChild(barChart("Open rate per segment", rateBars(report.segments, "open_rate")));
  charts.appendChild(barChart("Click rate per segment", rateBars(report.segments, "click_rate")));
  charts.appendChild(barChart("Open rate per subject", rateBars(report.subjects, "open_rate")));
  charts.appendChild(barChart("Click rate per subject", rateBars(report.subjects, "click_rate")));
  charts.appendChild(barChart("Delivered per day",
    report.delivered_per_day.map((d) => ({ label: d.day, value: d.delivered, text: String(d.delivered) })),
    { color: "#00a32a" }));
  box.appendChild(charts);
  box.appendChild(el("p", "Red: outside the usual targets (open rate 20–30%, CTR 2–5%, conversion 1–3%, " +
    "unsubscribes under 1%); hover for the target.", { class: "legend" }));
  box.appendChild(kpiTable(report));
  for (const split of report.splits) {
    box.appendChild(el("p", `A/B “${split.subject}”: ${split.verdict}`, {
      class: "verdict", "data-winner": split.winner || "", "data-split": split.subject,
    }));
  }
  if (report.holdout) {
    const h = report.holdout;
    box.appendChild(el("p",
      `Holdout: treated ${h.treated_converted} of ${h.treated} converted (${percent(h.treated_rate)}), ` +
      `control ${h.control_converted} of ${h.control} (${percent(h.control_rate)}); lift ` +
      (h.absolute_lift === null ? "–" : `${(h.absolute_lift * 100).toFixed(1)} points`) +
      (h.test ? ` (p = ${h.test.p_value.toFixed(4)}${h.significant ? ", significant" : ""})` : ""),
      { class: "holdout", "data-treated": h.treated, "data-control": h.control }));
  }
  return box;
}

function rulesTable(rules) {
  const body = document.querySelector("#rules tbody");
  for (const version of rules.versions) {
    const row = el("tr", null, { "data-version": version.version });
    row.appendChild(el("td", version.version));
    const state = version.version === rules.active ? "active"
      : rules.canary && rules.canary.version === version.version ? `canary ${rules.canary.percent}%` : "";
    row.appendChild(el("td", state));
    row.appendChild(el("td", version.uploaded_at));
    row.appendChild(el("td", version.sha256.slice(0, 12)));
    const facts = Object.entries(version.facts || {})
      .filter(([, value]) => value === null || typeof value !== "object")
      .map(([key, value]) => `${key}: ${value}`).join(", ");
    row.appendChild(el("td", facts));
    body.appendChild(row);
  }
}

function diffSection(diff) {
  const box = document.getElementById("diff");
  if (!diff) {
    box.appendChild(el("p", "No shadow diff has run yet."));
    return;
  }
  const r = diff.report;
  box.appendChild(el("p",
    `${diff.candidate} against ${diff.active} on campaign ${diff.campaign} (${diff.at}): ` +
    `${r.changed} of ${r.profiles} profiles would change, ${r.unchanged} would not.`,
    { "data-changed": r.changed, "data-profiles": r.profiles }));
  if (r.status && r.status.length) {
    const list = el("ul");
    for (const change of r.status) list.appendChild(el("li", JSON.stringify(change)));
    box.appendChild(list);
  }
}

async function show() {
  const { tenant, token } = credentials();
  const status = document.getElementById("status");
  if (!tenant || !token) {
    status.textContent = "";
    document.getElementById("login").hidden = false;
    return;
  }
  document.getElementById("tenant-name").textContent = tenant;
  try {
    const [ids, rules, diff] = await Promise.all([api("/campaigns"), api("/rules"), api("/diffs/last")]);
    const reports = await Promise.all(ids.map((id) => api(`/campaigns/${encodeURIComponent(id)}/kpis`)));
    const list = document.getElementById("campaigns");
    for (const report of reports) if (report) list.appendChild(campaignSection(report));
    if (!ids.length) list.appendChild(el("p", "No campaigns yet."));
    if (rules) rulesTable(rules);
    diffSection(diff);
    document.getElementById("content").hidden = false;
    status.textContent = `Updated ${new Date().toISOString().slice(0, 19).replace("T", " ")} UTC`;
    document.body.dataset.ready = "true";
  } catch (error) {
    status.textContent = `Cannot load: ${error.message}`;
    status.className = "error";
    document.body.dataset.ready = "error";
  }
}

document.getElementById("login").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  location.hash = new URLSearchParams({ tenant: form.get("tenant"), token: form.get("token") }).toString();
  location.reload();
});
show();
