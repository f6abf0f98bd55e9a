// Drives cbrrel serve's page in headless Chromium (Debian's `chromium`, through
// playwright-core: no browser is downloaded). Usage: node page.js BASE_URL ARTIFACT_DIR
// Fills a question's form, reads the result table, sorts it, follows a row to the report
// sentence behind it, opens the charts and the SPARQL box; a screenshot of each step goes to
// ARTIFACT_DIR. Exits non-zero, with the reason, on the first check that fails.
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require("playwright-core");

const [base, artifacts] = process.argv.slice(2);
if (!base || !artifacts) {
  console.error("usage: node page.js BASE_URL ARTIFACT_DIR");
  process.exit(2);
}
const executablePath = process.env.CBRREL_CHROMIUM || "/usr/bin/chromium";

function check(cond, message) {
  if (!cond) throw new Error(`check failed: ${message}`);
}

(async () => {
  fs.mkdirSync(artifacts, { recursive: true });
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    // As root (CI), Chromium's sandbox cannot start.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
  const summary = {};
  const shot = async (page, name) => {
    const file = path.join(artifacts, name);
    await page.screenshot({ path: file, fullPage: true });
    (summary.screenshots = summary.screenshots || []).push(file);
  };
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    await page.goto(base + "/", { waitUntil: "load" });
    await page.waitForSelector("#query-select option[value=body_parts_with_stenosis]", { state: "attached" });
    await page.waitForFunction(() => !document.querySelector("#status").textContent.includes("connecting"));
    const status = await page.textContent("#status");
    check(/报告/.test(status) && /reports/.test(status), `status line: ${status}`);
    await shot(page, "01-questions.png");

    // A question with a threshold: body parts with stenosis ≥ 90 %.
    await page.selectOption("#query-select", "body_parts_with_stenosis");
    await page.waitForSelector("#param-min");
    await page.fill("#param-min", "90");
    await page.click("#run");
    await page.waitForSelector("#results tr.result-row");
    const header = await page.$$eval("#results th", (ths) => ths.map((t) => t.dataset.col || t.textContent));
    const rows = await page.$$eval("#results tr.result-row", (trs) => trs.map((tr) => Array.from(tr.cells).map((c) => c.textContent)));
    const pct = header.indexOf("percent");
    check(pct >= 0, `a percent column: ${header}`);
    check(rows.length > 0, "rows at ≥ 90 %");
    for (const r of rows) check(Number(r[pct]) >= 90, `row below the threshold: ${r}`);
    summary.rows = rows.length;

    // Sort by reports, ascending then descending.
    const rep = header.indexOf("reports");
    await page.click(`#results th[data-col=reports]`);
    let col = await page.$$eval("#results tr.result-row", (trs, i) => trs.map((tr) => Number(tr.cells[i].textContent)), rep);
    check(col.every((v, i) => i === 0 || col[i - 1] <= v), `ascending: ${col}`);
    await page.click(`#results th[data-col=reports]`);
    col = await page.$$eval("#results tr.result-row", (trs, i) => trs.map((tr) => Number(tr.cells[i].textContent)), rep);
    check(col.every((v, i) => i === 0 || col[i - 1] >= v), `descending: ${col}`);
    await shot(page, "02-results.png");

    // Follow the first row to the reports and sentences behind its link.
    const link = await page.$("#results tr.result-row a.provenance-link");
    const subject = await link.getAttribute("data-subject");
    const object = await link.getAttribute("data-object");
    await link.click();
    await page.waitForSelector("#provenance-table tr.provenance-row");
    const marks = await page.$$eval("#provenance-table tr.provenance-row", (trs) => trs.map((tr) => ({
      id: tr.cells[0].textContent,
      subject: (tr.querySelector("mark.subject") || {}).textContent,
      object: (tr.querySelector("mark.object") || {}).textContent,
    })));
    check(marks.length > 0, "provenance rows");
    const norm = (s) => (s || "").normalize("NFKC").toLowerCase().replace(/\s+/g, "");
    for (const m of marks) {
      check(norm(m.subject) === norm(subject), `subject highlighted in report ${m.id}: ${m.subject} vs ${subject}`);
      check(norm(m.object) === norm(object), `object highlighted in report ${m.id}: ${m.object} vs ${object}`);
    }
    summary.provenance = { subject, object, reports: marks.map((m) => m.id) };
    await shot(page, "03-provenance.png");

    // Charts: relation counts and findings per vessel as bars, the coronary tree.
    await page.click('.tab[data-tab="charts"]');
    await page.waitForSelector("#chart-relations svg rect.bar");
    await page.waitForSelector("#chart-vessels svg rect.bar");
    await page.waitForSelector("#chart-tree svg line.tree-seg");
    summary.relation_bars = await page.$$eval("#chart-relations rect.bar", (r) => r.length);
    check(summary.relation_bars >= 5, `relation bars: ${summary.relation_bars}`);
    await shot(page, "04-charts.png");

    // The SPARQL box, prefixes filled in.
    await page.click('.tab[data-tab="sparql"]');
    const text = await page.inputValue("#sparql-text");
    check(text.includes("PREFIX cb:"), "prefixes in the SPARQL box");
    await page.click("#sparql-run");
    await page.waitForSelector("#sparql-results tr.result-row");
    summary.sparql_rows = await page.$$eval("#sparql-results tr.result-row", (r) => r.length);
    await shot(page, "05-sparql.png");

    check(errors.length === 0, `no script errors: ${errors.join("; ")}`);
    console.log(JSON.stringify(summary));
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
