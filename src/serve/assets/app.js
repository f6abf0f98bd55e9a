// cbrrel serve: the clinician's page. Plain JavaScript, no build step, nothing loaded from
// elsewhere. Talks to /queries, /queries/<name>, /provenance, /sparql and /health.
"use strict";

const PREFIXES = `PREFIX cb:   <https://w3id.org/cbrrel/ontology#>
PREFIX rdf:  <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX xsd:  <http://www.w3.org/2001/XMLSchema#>
`;

// Chinese titles of the shipped questions (the .rq comments are in English).
const TITLES = {
  body_parts_with_stenosis: "哪些部位狭窄 ≥ 阈值 · Body parts with stenosis ≥ threshold",
  stenosis_in_segment: "某冠脉节段狭窄 ≥ 阈值的报告 · Reports with stenosis in a segment",
  findings_of_body_part: "某部位的发现 · Findings of one body part",
  findings_per_segment: "各冠脉节段的发现 · Findings per coronary segment",
  stenosis_per_segment: "各冠脉节段狭窄 ≥ 阈值的报告数 · Reports with stenosis ≥ threshold per segment",
  symptoms_per_body_part: "各部位的症状与发现 · Findings per body part",
  treatments_per_body_part: "各部位的治疗 · Treatments per body part",
  examinations_and_findings: "检查及其发现 · Examinations and their findings",
  stents_per_vessel: "各血管的支架 · Stents per vessel",
  timi_below_3_after_pci: "介入后 TIMI < 3 · TIMI below 3 after PCI",
  relation_counts: "各关系类型的数量 · Relations per type",
  reports_behind_link: "某关联背后的报告 · Reports behind one link",
};

// Parameter labels.
const PARAM_LABELS = {
  min: "阈值 % · threshold %",
  syntax: "SYNTAX 节段 · segment",
  body_part: "部位 · body part",
  subject: "主体 · subject",
  object: "客体 · object",
  rel: "关系 · relation",
};

// Which columns of a question's rows are the two ends of a link (for the provenance view).
const LINKS = {
  symptoms_per_body_part: ["body_part", "finding"],
  body_parts_with_stenosis: ["body_part", "finding"],
  findings_of_body_part: ["@body_part", "finding"],
  treatments_per_body_part: ["body_part", "treatment"],
  examinations_and_findings: ["examination", "finding"],
  timi_below_3_after_pci: ["where", "finding"],
};

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
};
const SVG = "http://www.w3.org/2000/svg";
const svgEl = (tag, attrs = {}) => {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
};

let QUERIES = [];

async function fetchText(url, options = {}) {
  const r = await fetch(url, options);
  const text = await r.text();
  if (!r.ok) throw new Error(`${r.status}: ${text}`);
  return text;
}
async function fetchJson(url, options = {}) {
  return JSON.parse(await fetchText(url, options));
}
async function sparqlJson(query) {
  return fetchJson("/sparql", {
    method: "POST",
    headers: { "Content-Type": "application/sparql-query", Accept: "application/sparql-results+json" },
    body: query,
  });
}
const value = (b, v) => (b[v] ? b[v].value : "");

// ---------- tabs ----------
for (const t of document.querySelectorAll(".tab")) {
  t.addEventListener("click", () => {
    for (const o of document.querySelectorAll(".tab")) o.classList.toggle("active", o === t);
    for (const p of document.querySelectorAll(".panel")) p.hidden = p.id !== `tab-${t.dataset.tab}`;
    if (t.dataset.tab === "charts") drawCharts();
  });
}

// ---------- results table ----------
function isNumber(s) {
  return s !== "" && !isNaN(Number(s));
}

// A sortable table of SPARQL JSON results; `link(row)` gives the provenance link of a row.
function resultsTable(results, link) {
  const vars = results.head.vars;
  const rows = results.results.bindings;
  const table = el("table", { class: "sortable" });
  const thead = el("tr");
  vars.forEach((v, i) => {
    const th = el("th", { "data-col": v }, v);
    th.addEventListener("click", () => sortBy(table, i, th));
    thead.append(th);
  });
  if (link) thead.append(el("th", {}, "来源 · source"));
  table.append(el("thead", {}, thead));
  const tbody = el("tbody");
  for (const b of rows) {
    const tr = el("tr", { class: "result-row" });
    for (const v of vars) {
      const s = value(b, v);
      tr.append(el("td", isNumber(s) ? { class: "num" } : {}, s));
    }
    if (link) {
      const ends = link(b);
      const td = el("td");
      if (ends) {
        td.append(
          el("a", {
            href: `#provenance`,
            class: "provenance-link",
            "data-subject": ends[0],
            "data-object": ends[1],
            onclick: (e) => { e.preventDefault(); showProvenance(ends[0], ends[1]); },
          }, "报告 · reports"),
        );
      }
      tr.append(td);
    }
    tbody.append(tr);
  }
  table.append(tbody);
  return table;
}

function sortBy(table, col, th) {
  const asc = !th.classList.contains("sorted-asc");
  for (const o of table.querySelectorAll("th")) o.classList.remove("sorted-asc", "sorted-desc");
  th.classList.add(asc ? "sorted-asc" : "sorted-desc");
  const tbody = table.tBodies[0];
  const rows = Array.from(tbody.rows);
  rows.sort((a, b) => {
    const x = a.cells[col].textContent, y = b.cells[col].textContent;
    const c = isNumber(x) && isNumber(y) ? Number(x) - Number(y) : x.localeCompare(y, "zh");
    return asc ? c : -c;
  });
  for (const r of rows) tbody.append(r);
}

// ---------- questions ----------
async function loadQuestions() {
  QUERIES = await fetchJson("/queries");
  const select = $("#query-select");
  for (const q of QUERIES) {
    if (q.name === "reports_behind_link") continue; // the provenance view asks it
    select.append(el("option", { value: q.name }, TITLES[q.name] || q.name));
  }
  select.addEventListener("change", showForm);
  showForm();
  // The example list of the SPARQL box.
  for (const q of QUERIES) $("#sparql-example").append(el("option", { value: q.name }, q.name));
}

async function suggestions(name) {
  // Datalists of the values a parameter can take, from the store itself.
  const lists = {
    syntax: `${PREFIXES}SELECT DISTINCT ?v ?label WHERE { GRAPH <https://w3id.org/cbrrel/graph/segments> { ?s cb:syntaxSegment ?v ; skos:notation ?label } } ORDER BY xsd:integer(?v)`,
    body_part: `${PREFIXES}SELECT DISTINCT ?v WHERE { GRAPH <https://w3id.org/cbrrel/graph/counts> { ?bp cb:hasFinding ?sy } GRAPH <https://w3id.org/cbrrel/graph/entities> { ?bp cb:normalizedText ?v } } ORDER BY ?v`,
    rel: `${PREFIXES}SELECT DISTINCT ?v ?label WHERE { GRAPH <https://w3id.org/cbrrel/graph/ontology> { ?p skos:notation ?n ; rdfs:label ?label . FILTER(LANG(?label) = "zh") BIND(STRAFTER(STR(?p), "#") AS ?v) } } ORDER BY ?v`,
  };
  const q = lists[name] || (name === "subject" ? lists.body_part : null);
  if (!q) return [];
  try {
    const r = await sparqlJson(q);
    return r.results.bindings.map((b) => [value(b, "v"), value(b, "label")]);
  } catch (e) {
    return [];
  }
}

async function showForm() {
  const name = $("#query-select").value;
  const q = QUERIES.find((x) => x.name === name);
  $("#query-description").textContent = q.description;
  const box = $("#params");
  box.replaceChildren();
  for (const p of q.params) {
    const id = `param-${p.name}`;
    const input = el("input", {
      id,
      name: p.name,
      value: p.default.length === 1 ? p.default[0] : "",
      placeholder: p.default.join(", "),
      type: p.kind === "number" ? "number" : "text",
      list: `${id}-list`,
    });
    if (p.kind === "number") input.setAttribute("step", "any");
    const list = el("datalist", { id: `${id}-list` });
    box.append(el("div", { class: "param" }, el("label", { for: id }, PARAM_LABELS[p.name] || p.name), input, list));
    suggestions(p.name).then((vals) => {
      for (const [v, label] of vals) list.append(el("option", { value: v }, label || v));
    });
  }
  updateDownload();
}

function questionUrl() {
  const name = $("#query-select").value;
  const params = new URLSearchParams();
  for (const input of $("#params").querySelectorAll("input")) {
    if (input.value.trim() !== "") params.append(input.name, input.value.trim());
  }
  const s = params.toString();
  return `/queries/${name}${s ? "?" + s : ""}`;
}

function updateDownload() {
  // Same URL; the browser asks for CSV by the Accept header it cannot set on a link, so the
  // link goes through /sparql-less content negotiation: fetch + blob.
  $("#download-csv").onclick = async (e) => {
    e.preventDefault();
    const text = await fetchText(questionUrl(), { headers: { Accept: "text/csv" } });
    const a = el("a", { href: URL.createObjectURL(new Blob([text], { type: "text/csv" })), download: `${$("#query-select").value}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
  };
}

async function runQuestion(e) {
  if (e) e.preventDefault();
  const name = $("#query-select").value;
  const info = $("#result-info");
  const box = $("#results");
  info.textContent = "查询中… · running…";
  info.className = "info";
  box.replaceChildren();
  const t0 = performance.now();
  try {
    const r = await fetchJson(questionUrl(), { headers: { Accept: "application/sparql-results+json" } });
    const ms = Math.round(performance.now() - t0);
    const n = r.results.bindings.length;
    info.textContent = `${n} 行 · ${n} rows · ${ms} ms — 点击列名排序 · click a column to sort`;
    const ends = LINKS[name];
    let link = null;
    if (ends) {
      const fixed = {};
      for (const input of $("#params").querySelectorAll("input")) fixed["@" + input.name] = input.value;
      link = (b) => {
        const [s, o] = ends.map((c) => (c.startsWith("@") ? fixed[c] : value(b, c)));
        return s && o ? [s, o] : null;
      };
    }
    box.append(resultsTable(r, link));
  } catch (err) {
    info.textContent = String(err.message || err);
    info.className = "error";
  }
}

// ---------- provenance ----------
function highlighted(ex) {
  // The sentence with the subject and the object marked (spans in characters).
  const chars = Array.from(ex.sentence);
  const marks = [
    [ex.subject[0], ex.subject[1], "subject"],
    [ex.object[0], ex.object[1], "object"],
  ].sort((a, b) => a[0] - b[0]);
  const out = el("p", { class: "excerpt" });
  let at = 0;
  for (const [s, e, cls] of marks) {
    if (s < at) continue; // overlapping mentions: the first wins
    out.append(chars.slice(at, s).join(""));
    out.append(el("mark", { class: cls, title: cls === "subject" ? "主体 · subject" : "客体 · object" }, chars.slice(s, e).join("")));
    at = e;
  }
  out.append(chars.slice(at).join(""));
  return out;
}

async function showProvenance(subject, object) {
  const box = $("#provenance");
  box.hidden = false;
  $("#provenance-link").textContent = `${subject} → ${object}`;
  const rowsBox = $("#provenance-rows");
  rowsBox.replaceChildren();
  $("#provenance-note").textContent = "查询中… · running…";
  try {
    const p = await fetchJson(`/provenance?subject=${encodeURIComponent(subject)}&object=${encodeURIComponent(object)}`);
    $("#provenance-note").textContent = `${p.rows.length} 条关系 · relations (报告 · report, 片段 · spans, 置信度 · confidence)`;
    const table = el("table", { id: "provenance-table" });
    table.append(el("thead", {}, el("tr", {},
      el("th", {}, "报告 · report"), el("th", {}, "关系 · relation"), el("th", {}, "原文 · sentence"),
      el("th", {}, "片段 · spans"), el("th", {}, "置信度 · confidence"), el("th", {}, "模型 · model"))));
    const tbody = el("tbody");
    for (const r of p.rows) {
      const sentence = el("td", { class: "report-span" });
      if (r.excerpt) sentence.append(highlighted(r.excerpt));
      else sentence.append(el("span", { class: "info" }, r.note || ""));
      tbody.append(el("tr", { class: "provenance-row", id: `report-${r.report_id}` },
        el("td", {}, r.report_id), el("td", {}, r.relation), sentence,
        el("td", {}, `${(r.subject_span || []).join("-")} / ${(r.object_span || []).join("-")}`),
        el("td", { class: "num" }, Number(r.confidence).toFixed(3)), el("td", {}, `${r.model} ${r.time}`)));
    }
    table.append(tbody);
    rowsBox.append(table);
    box.scrollIntoView({ behavior: "instant", block: "start" });
  } catch (err) {
    $("#provenance-note").textContent = String(err.message || err);
  }
}

// ---------- charts ----------
function barChart(container, data, { width = 760, label = (d) => d[0] } = {}) {
  // Horizontal bars: data = [[name, value], …], largest first.
  container.replaceChildren();
  if (!data.length) {
    container.append(el("p", { class: "info" }, "无数据 · no data"));
    return;
  }
  const bar = 20, gap = 6, left = 190, right = 60;
  const height = data.length * (bar + gap) + 10;
  const max = Math.max(...data.map((d) => d[1]));
  const svg = svgEl("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
  data.forEach((d, i) => {
    const y = 5 + i * (bar + gap);
    const w = ((width - left - right) * d[1]) / max;
    const t = svgEl("text", { x: left - 8, y: y + bar * 0.72, "text-anchor": "end" });
    t.textContent = label(d);
    const r = svgEl("rect", { class: "bar", x: left, y, width: Math.max(1, w), height: bar });
    const title = svgEl("title");
    title.textContent = `${label(d)}: ${d[1]}`;
    r.append(title);
    const v = svgEl("text", { x: left + w + 6, y: y + bar * 0.72 });
    v.textContent = d[1];
    svg.append(t, r, v);
  });
  container.append(svg);
}

// A schematic coronary tree (right dominant), AHA/SYNTAX segments as lines.
const TREE = {
  1: [[210, 60], [150, 120]], 2: [[150, 120], [120, 230]], 3: [[120, 230], [170, 320]], 4: [[170, 320], [260, 360]],
  16: [[170, 320], [220, 300]], 5: [[330, 50], [380, 70]], 6: [[380, 70], [430, 130]], 7: [[430, 130], [470, 230]],
  8: [[470, 230], [480, 330]], 9: [[430, 130], [510, 150]], 10: [[470, 230], [540, 250]], 11: [[380, 70], [360, 150]],
  12: [[360, 150], [420, 210]], 13: [[360, 150], [340, 250]], 14: [[340, 250], [390, 300]], 15: [[340, 250], [300, 330]],
};

function treeChart(container, perSegment) {
  container.replaceChildren();
  const svg = svgEl("svg", { width: 640, height: 400, viewBox: "0 0 640 400", role: "img" });
  const max = Math.max(1, ...Object.values(perSegment).map((s) => s.reports));
  for (const [seg, [[x1, y1], [x2, y2]]] of Object.entries(TREE)) {
    const s = perSegment[seg] || { reports: 0, site: "" };
    const shade = s.reports ? 0.2 + (0.8 * s.reports) / max : 0;
    const line = svgEl("line", {
      class: "tree-seg", x1, y1, x2, y2, "data-segment": seg,
      stroke: s.reports ? `rgba(180, 30, 40, ${shade.toFixed(2)})` : "#c9d3dc", "stroke-width": 10,
    });
    const title = svgEl("title");
    title.textContent = `${seg} ${s.site}: ${s.reports}`;
    line.append(title);
    line.addEventListener("click", () => {
      document.querySelector('.tab[data-tab="questions"]').click();
      $("#query-select").value = "stenosis_in_segment";
      showForm().then(() => {
        $("#param-syntax").value = seg;
        runQuestion();
      });
    });
    const t = svgEl("text", { x: (x1 + x2) / 2 + 8, y: (y1 + y2) / 2 });
    t.textContent = seg;
    svg.append(line, t);
  }
  const legend = svgEl("text", { x: 10, y: 390 });
  legend.textContent = "RCA 1–4, 16 · LM 5 · LAD 6–8 · D 9–10 · LCX 11, 13 · OM 12, 14 · 15";
  svg.append(legend);
  container.append(svg);
}

let chartsDrawn = false;
async function drawCharts() {
  if (chartsDrawn) return;
  chartsDrawn = true;
  try {
    const rel = await fetchJson("/queries/relation_counts", { headers: { Accept: "application/sparql-results+json" } });
    barChart($("#chart-relations"), rel.results.bindings.map((b) => [
      `${value(b, "relation")} ${value(b, "label")}`, Number(value(b, "assertions"))]));
    // Reports with ≥ 70 % stenosis per site (each report once per site): the vessel rows
    // (notation without a position) are the bars, the numbered segments the tree.
    const seg = await fetchJson("/queries/stenosis_per_segment", { headers: { Accept: "application/sparql-results+json" } });
    const perVessel = {}, perSegment = {};
    for (const b of seg.results.bindings) {
      const site = value(b, "site"), n = Number(value(b, "reports"));
      if (!site.includes("-")) perVessel[site] = n;
      const syn = value(b, "syntax");
      if (syn && (site.includes("-") || !perSegment[syn])) perSegment[syn] = { reports: n, site };
    }
    barChart($("#chart-vessels"), Object.entries(perVessel).sort((a, b) => b[1] - a[1]));
    treeChart($("#chart-tree"), perSegment);
  } catch (err) {
    $("#chart-relations").replaceChildren(el("p", { class: "error" }, String(err.message || err)));
  }
}

// ---------- SPARQL box ----------
async function runSparql() {
  const info = $("#sparql-info");
  const box = $("#sparql-results");
  box.replaceChildren();
  info.className = "info";
  info.textContent = "查询中… · running…";
  const t0 = performance.now();
  try {
    const r = await fetch("/sparql", {
      method: "POST",
      headers: {
        "Content-Type": "application/x-www-form-urlencoded",
        Accept: "application/sparql-results+json, text/turtle;q=0.9",
      },
      body: new URLSearchParams({ query: $("#sparql-text").value }),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${r.status}: ${text}`);
    const ms = Math.round(performance.now() - t0);
    if ((r.headers.get("content-type") || "").startsWith("text/turtle")) {
      info.textContent = `${ms} ms`;
      box.append(el("pre", {}, text));
      return;
    }
    const j = JSON.parse(text);
    if ("boolean" in j) {
      info.textContent = `${j.boolean} · ${ms} ms`;
      return;
    }
    info.textContent = `${j.results.bindings.length} 行 · rows · ${ms} ms`;
    box.append(resultsTable(j, null));
  } catch (err) {
    info.textContent = String(err.message || err);
    info.className = "error";
  }
}

async function init() {
  $("#endpoint").textContent = `${location.origin}/sparql`;
  $("#sparql-text").value = `${PREFIXES}
SELECT ?body_part ?finding ?reports
WHERE {
  GRAPH <https://w3id.org/cbrrel/graph/counts> {
    ?bp cb:hasFinding ?sy .
    ?c cb:countedLink <<( ?bp cb:hasFinding ?sy )>> ; cb:reports ?reports .
  }
  GRAPH <https://w3id.org/cbrrel/graph/entities> {
    ?bp cb:normalizedText ?body_part .
    ?sy cb:normalizedText ?finding .
  }
}
ORDER BY DESC(?reports)
LIMIT 50`;
  $("#sparql-run").addEventListener("click", runSparql);
  $("#sparql-example").addEventListener("change", (e) => {
    const q = QUERIES.find((x) => x.name === e.target.value);
    if (q) $("#sparql-text").value = q.sparql;
  });
  $("#question-form").addEventListener("submit", runQuestion);
  try {
    const h = await fetchJson("/health");
    $("#status").textContent =
      `${h.reports} 份报告 · reports, ${h.quads} quads · 模型 model ${h.model || "?"} · 最近载入 last load ${h.last_load || "?"}` +
      (h.warning ? ` · ⚠ ${h.warning}` : "");
  } catch (err) {
    $("#status").textContent = String(err.message || err);
  }
  await loadQuestions();
}

init();
