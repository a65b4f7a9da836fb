// The studio page: every edit goes to the server with the YAML text, which answers with the
// new text, the form's values and the validator's problems. No build step, no framework:
// studio_lookups.js, studio_json.js and studio_notifications.js add their sections' controls
// to the same globals.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
const state = {
  yaml: "", form: {}, outputs: [], periods: { view: [], related: {} },
  source: null, sourceInfo: null, samples: {}, busy: 0,
};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return node;
}

async function api(method, url, body) {
  state.busy++;
  document.body.dataset.busy = state.busy;
  try {
    const response = await fetch(url, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    const data = await response.json().catch(() => ({ error: response.statusText }));
    return { ok: response.ok, data };
  } finally {
    state.busy--;
    document.body.dataset.busy = state.busy;
  }
}

// Edits run one after the other, each on the text the one before it left: two quick edits
// must not both start from the same text and drop one of them.
let queue = Promise.resolve();
function send(ops) {
  queue = queue.then(async () => {
    const { ok, data } = await api("POST", "/api/draft", { yaml: state.yaml, ops });
    if (!ok) { renderProblems(data.problems || [["", data.error]]); return; }
    apply(data);
  });
  return queue;
}

function apply(data) {
  state.yaml = data.yaml;
  const area = $("#yaml");
  if (document.activeElement !== area) area.value = data.yaml;
  state.form = data.form || {};
  state.outputs = data.outputs || [];
  state.periods = data.periods || { view: [], related: {} };
  renderForm();
  renderProblems(data.problems || []);
}

function setValue(input, value) {
  if (document.activeElement !== input) input.value = value ?? "";
}

function renderForm() {
  const f = state.form;
  for (const name of ["name", "description", "domain", "schedule", "max_reject_ratio"]) setValue($(`#f-${name}`), f[name]);
  setValue($("#f-source"), f.source || "");
  setValue($("#f-unique_key"), (f.unique_key || []).join(", "));
  setValue($("#f-owners"), (f.owners || []).join(", "));
  for (const box of $$(".dest")) box.checked = (f.destinations || []).includes(box.value);
  setValue($("#f-warn_after"), (f.freshness || {}).warn_after);
  setValue($("#f-fail_after"), (f.freshness || {}).fail_after);
  renderDeclared(f.columns || {});
  renderComputed(f.columns || {});
  renderLookups(f.lookups || []);
  renderFlatten(f.flatten || []);
  renderExplode(f.explode || null);
  renderNotifications(f.notifications || []);
  renderReport(f);
  renderHistoryAndRefresh(f);
  if ((f.source || null) !== state.source) loadSource(f.source || null);
}

function describe(c) {
  if (c.from) return `from ${c.from}`;
  if (c.json) return `${c.json} → ${c.path}`;
  if (c.item) return `item ${c.item}`;
  if (c.expr) return `= ${c.expr}`;
  return "";
}

// A checkbox for `nullable: false`: a row whose value is NULL becomes a reject.
function requiredBox(name, c) {
  const box = el("input", { type: "checkbox", class: "required", title: "required: a NULL is a reject" });
  box.checked = c.nullable === false;
  box.addEventListener("change", () => send([{ op: "set_column_nullable", name, nullable: !box.checked }]));
  return el("label", { class: "inline" }, box, " required");
}

function renderDeclared(columns) {
  const table = $("#declared");
  table.replaceChildren(el("tr", {}, ...["column", "reads", "type", "", "", ""].map((h) => el("th", {}, h))));
  for (const [name, c] of Object.entries(columns)) {
    if (c.expr) continue; // in the computed columns' table
    const type = el("input", { value: c.type || "", size: 14, class: "type" });
    type.addEventListener("change", () => send([{ op: "set_column_type", name, type: type.value }]));
    table.append(el("tr", { "data-field": `attributes.columns.${name}`, "data-column": name },
      el("td", {}, name), el("td", {}, describe(c)), el("td", {}, type), el("td", {}, requiredBox(name, c)),
      el("td", {}, el("button", { type: "button", class: "remove", onclick: () => send([{ op: "remove_column", name }]) }, "remove")),
      el("td", { class: "err-slot" })));
  }
}

function renderComputed(columns) {
  const table = $("#computed");
  table.replaceChildren(el("tr", {}, ...["column", "expression", "type", "", ""].map((h) => el("th", {}, h))));
  for (const [name, c] of Object.entries(columns)) {
    if (!c.expr) continue;
    const expr = el("input", { value: c.expr, size: 36, class: "expr" });
    expr.addEventListener("change", () => send([{ op: "set_column_expr", name, expr: expr.value }]));
    const type = el("input", { value: c.type || "", size: 12, class: "type" });
    type.addEventListener("change", () => send([{ op: "set_column_type", name, type: type.value }]));
    table.append(el("tr", { "data-field": `attributes.columns.${name}`, "data-computed": name },
      el("td", {}, name),
      el("td", { "data-field": `attributes.columns.${name}.expr` }, expr, el("div", { class: "err-slot" })),
      el("td", {}, type, el("div", { class: "err-slot" })), el("td", {}, requiredBox(name, c)),
      el("td", {}, el("button", { type: "button", class: "remove", onclick: () => send([{ op: "remove_column", name }]) }, "remove"))));
  }
}

// Options of a select over the view's output columns; a value the YAML names that is not
// one of them stays selectable, so its error shows beside it.
function columnOptions(select, names, current, none) {
  const all = current && !names.includes(current) ? [...names, current] : names;
  select.replaceChildren(...(none === undefined ? [] : [el("option", { value: "" }, none)]),
    ...all.map((n) => el("option", { value: n }, n)));
  if (document.activeElement !== select) select.value = all.includes(current) ? current : (none === undefined ? all[0] || "" : "");
}

function renderReport(f) {
  const names = state.outputs.map((o) => o.name);
  const grain = f.grain || [];
  const box = $("#grain");
  box.replaceChildren(...[...names, ...grain.filter((g) => !names.includes(g))].map((n) => {
    const check = el("input", { type: "checkbox", class: "grain", value: n });
    check.checked = grain.includes(n);
    // The grain keeps the order in which columns were picked: it is the report's column order.
    check.addEventListener("change", () => send([{ op: "set_list", field: "grain",
      values: check.checked ? [...grain, n] : grain.filter((g) => g !== n) }]));
    return el("label", {}, check, ` ${n}`);
  }));
  const table = $("#measures");
  table.replaceChildren(el("tr", {}, ...["measure", "function", "column", "", ""].map((h) => el("th", {}, h))));
  for (const [name, text] of Object.entries(f.measures || {})) {
    const m = /^\s*([a-z_]+)\s*\(\s*([A-Za-z0-9_]*)\s*\)\s*$/.exec(String(text)) || [null, String(text), ""];
    const fn = el("select", { class: "fn" }, ...Array.from($("#ms-fn").options).map((o) => el("option", { value: o.value }, o.value)));
    fn.value = m[1];
    const column = el("select", { class: "column" });
    columnOptions(column, names, m[2], "(none: count())");
    const change = () => send([{ op: "set_measure", name, function: fn.value, column: fn.value === "count" ? "" : column.value }]);
    fn.addEventListener("change", change);
    column.addEventListener("change", change);
    table.append(el("tr", { "data-field": `attributes.measures.${name}`, "data-measure": name },
      el("td", {}, name), el("td", {}, fn), el("td", {}, column),
      el("td", {}, el("button", { type: "button", class: "remove", onclick: () => send([{ op: "remove_measure", name }]) }, "remove")),
      el("td", { class: "err-slot" })));
  }
  columnOptions($("#ms-column"), names, $("#ms-column").value, "(none: count())");
  $("#f-across_shards").checked = f.across_shards === true;
  const dated = state.outputs.filter((o) => o.kind === "date" || o.kind === "timestamp").map((o) => o.name);
  columnOptions($("#f-partition_by"), dated, f.partition_by || "", "(none)");
  columnOptions($("#f-dist_key"), names, f.dist_key || "", "(none: DISTSTYLE AUTO)");
}

function renderHistoryAndRefresh(f) {
  const option = $("#f-source").selectedOptions[0];
  const cdc = option && option.dataset.mode === "cdc";
  $("#history-field").hidden = !(cdc || f.history === false);
  $("#f-history").checked = f.history !== false;
  const fieldset = $("#refresh-field");
  const providers = fieldset.dataset.providers ? fieldset.dataset.providers.split(",") : [];
  const refresh = f.refresh || [];
  const all = [...providers, ...refresh.filter((r) => !providers.includes(r))];
  fieldset.hidden = !all.length;
  $("#refresh").replaceChildren(...all.map((n) => {
    const check = el("input", { type: "checkbox", class: "refresh", value: n });
    check.checked = refresh.includes(n);
    check.addEventListener("change", () => send([{ op: "set_list", field: "refresh",
      values: check.checked ? [...refresh, n] : refresh.filter((r) => r !== n) }]));
    return el("label", {}, check, ` ${n}`);
  }));
}

function renderProblems(problems) {
  for (const slot of $$(".err-dyn")) slot.remove();
  const list = $("#problems");
  list.replaceChildren();
  const fields = $$("[data-field]").map((node) => node.dataset.field);
  for (const [field, reason] of problems) {
    const text = `${field || "<top level>"}: ${reason}`;
    list.append(el("li", {}, text));
    // Beside the most precise field the page shows for it; a channel's fields are shown
    // without its kind (the validator says `channel.webhook.url_env`).
    const at = field.replace(/\.channel\.(webhook|smtp)(?=\.|$)/, ".channel");
    const match = fields.filter((f) => at === f || at.startsWith(f + ".")).sort((a, b) => b.length - a.length)[0];
    if (match) {
      const host = $(`[data-field="${CSS.escape(match)}"]`);
      const slot = $(".err-slot", host) || host;
      slot.append(el("div", { class: "err err-dyn" }, text));
    }
  }
  if (!problems.length) list.append(el("li", { class: "ok" }, "no problems: the platform would load this view"));
}

async function loadSource(table) {
  state.source = table;
  state.sourceInfo = null;
  state.samples = {};
  $("#columns-table").replaceChildren();
  $("#json-columns").replaceChildren();
  if (!table) return;
  const { ok, data } = await api("GET", `/api/tables/${encodeURIComponent(table)}`);
  if (!ok) { $("#json-columns").append(el("p", { class: "err" }, data.error)); return; }
  state.sourceInfo = data;
  const t = $("#columns-table");
  t.append(el("tr", {}, ...["column", "MySQL", "Arrow", "", "name in view", "type", ""].map((h) => el("th", {}, h))));
  for (const c of data.columns) {
    const name = el("input", { class: "name", value: c.name === "updated_at" ? "source_updated_at" : c.name, size: 14 });
    const type = el("input", { class: "type", value: c.type || "", size: 14 });
    const add = el("button", { type: "button", class: "add" }, "add");
    add.addEventListener("click", () => send([{ op: "add_column", name: name.value, spec: { from: c.name, type: type.value } }]));
    t.append(el("tr", { "data-source-column": c.name },
      el("td", {}, c.name), el("td", {}, c.mysql), el("td", {}, c.arrow || "(not read)"),
      el("td", {}, c.key ? "key" : c.json ? "JSON" : ""),
      el("td", {}, c.json ? "" : name), el("td", {}, c.json ? "" : type), el("td", {}, c.json ? "" : add)));
  }
  renderJsonColumns(table, data);
  const day = $("#pv-day");
  day.replaceChildren(...data.days.map((d) => el("option", { value: d }, d)));
  $("#pv-shards").replaceChildren(...data.shards.map((s) =>
    el("label", {}, el("input", { type: "checkbox", class: "shard", value: s, checked: "" }), ` ${s}`)));
}

function cellsTable(header, rows) {
  return el("div", { class: "wide" }, el("table", {},
    el("tr", {}, ...header.map((h) => el("th", {}, h))),
    ...rows.map((r) => el("tr", {}, ...r.map((v) => el("td", {}, v ?? "NULL"))))));
}

async function preview() {
  const out = $("#pv-out");
  out.replaceChildren(el("p", { class: "hint" }, "running the view's transform on the day…"));
  const shards = $$(".shard").filter((b) => b.checked).map((b) => b.value);
  const { ok, data } = await api("POST", "/api/preview", { yaml: state.yaml, day: $("#pv-day").value, shards });
  if (!ok) {
    out.replaceChildren(el("p", { class: "err", id: "pv-error" }, data.error));
    if (data.problems) renderProblems(data.problems);
    return;
  }
  const c = data.counts;
  out.replaceChildren(
    el("p", { id: "pv-counts" }, `${data.day} on ${data.shards.join(", ")} in ${data.seconds} s: ` +
      `in ${c.in}, out ${c.out}, rejected ${c.rejected}, duplicates ${c.duplicates}, orphans ${c.orphans}`),
    ...Object.entries(data.missing).map(([s, m]) => el("p", { class: "err" }, `${s} left out: ${m.join(", ")} missing`)),
    el("h3", {}, "Column types"),
    cellsTable(["column", "type"], data.columns.map((x) => [x.name, x.type])),
    el("h3", {}, "First rows"),
    cellsTable(data.columns.map((x) => x.name), data.rows),
    el("h3", {}, `Rejects (${c.rejected})`),
    cellsTable(data.reject_columns, data.rejects));
}

function showDiff(diff) {
  const pre = $("#pub-diff");
  pre.replaceChildren(...(diff || "(no change)").split("\n").map((line) =>
    el("div", { class: line.startsWith("+") ? "diff-add" : line.startsWith("-") ? "diff-del" : "" }, line)));
}

async function publish(dryRun) {
  const status = $("#pub-status");
  const { ok, data } = await api("POST", dryRun ? "/api/diff" : "/api/publish", { yaml: state.yaml });
  showDiff(data.diff);
  status.className = ok ? "ok" : "err";
  if (!ok) status.textContent = data.error;
  else if (dryRun) status.textContent = `diff against ${data.path}`;
  else status.textContent = `published ${data.path}; ${data.reload}`;
  if (data.problems) renderProblems(data.problems);
  if (ok && !dryRun) listViews();
}

async function listViews() {
  const { data } = await api("GET", "/api/views");
  const select = $("#existing");
  const kept = select.value;
  select.replaceChildren(el("option", { value: "" }, "(a new view)"), ...(data.views || []).map((v) => el("option", { value: v }, v)));
  select.value = kept;
}

async function loadView() {
  const name = $("#existing").value;
  if (!name) return;
  const { ok, data } = await api("GET", `/api/views/${encodeURIComponent(name)}`);
  if (!ok) { renderProblems([["", data.error]]); return; }
  $("#yaml").value = data.yaml;
  apply(data);
}

let typing = null;
function wire() {
  for (const input of $$("[data-set]")) {
    input.addEventListener("change", () => send([{ op: "set", field: input.dataset.set, value: input.value }]));
  }
  $("#f-unique_key").addEventListener("change", (e) =>
    send([{ op: "set_list", field: "unique_key", values: e.target.value.split(",") }]));
  $("#f-owners").addEventListener("change", (e) =>
    send([{ op: "set_list", field: "owners", values: e.target.value.split(",") }]));
  for (const field of ["partition_by", "dist_key"]) {
    const select = $(`#f-${field}`);
    select.addEventListener("change", () => send([{ op: "set", field, value: select.value }]));
  }
  for (const field of ["across_shards", "history"]) {
    const box = $(`#f-${field}`);
    box.addEventListener("change", () => send([{ op: "set_flag", field, value: box.checked }]));
  }
  $("#cc-add").addEventListener("click", () => {
    const name = $("#cc-name").value.trim();
    send([{ op: "add_column", name, spec: { expr: $("#cc-expr").value.trim(), type: $("#cc-type").value.trim() } }])
      .then(() => { if (state.form.columns && state.form.columns[name]) for (const id of ["#cc-name", "#cc-expr", "#cc-type"]) $(id).value = ""; });
  });
  $("#ms-add").addEventListener("click", () => {
    const name = $("#ms-name").value.trim();
    send([{ op: "set_measure", name, function: $("#ms-fn").value, column: $("#ms-fn").value === "count" ? "" : $("#ms-column").value }])
      .then(() => { if ((state.form.measures || {})[name]) $("#ms-name").value = ""; });
  });
  for (const box of $$(".dest")) {
    box.addEventListener("change", () =>
      send([{ op: "set_list", field: "destinations", values: $$(".dest").filter((b) => b.checked).map((b) => b.value) }]));
  }
  for (const input of $$(".fresh")) {
    input.addEventListener("change", () =>
      send([{ op: "set_freshness", warn_after: $("#f-warn_after").value, fail_after: $("#f-fail_after").value }]));
  }
  $("#yaml").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.yaml = $("#yaml").value; send([]); }, 400);
  });
  $("#preview").addEventListener("click", preview);
  $("#diff").addEventListener("click", () => publish(true));
  $("#publish").addEventListener("click", () => publish(false));
  $("#load").addEventListener("click", loadView);
  $("#new").addEventListener("click", () => { state.yaml = ""; $("#yaml").value = ""; send([]); });
  wireLookups();
  wireJson();
  wireNotifications();
  listViews();
  send([]);
}

// After every script of the page has defined its functions.
document.addEventListener("DOMContentLoaded", wire);
