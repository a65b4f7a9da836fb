// JSON columns of the driving table: their keys sampled from a shard the analyst picks (or
// from the lake when it cannot be reached), flatten entries, the explode and its item columns.
"use strict";

function jsonColumns() {
  return ((state.sourceInfo || {}).columns || []).filter((c) => c.json).map((c) => c.name);
}

function renderJsonColumns(table, info) {
  for (const c of info.columns.filter((x) => x.json)) {
    const out = el("div", { "data-json": c.name });
    const shard = el("select", { class: "shard-pick" }, ...info.shards.map((s) => el("option", { value: s }, s)));
    const button = el("button", { type: "button", class: "sample" }, `Sample the keys of ${c.name}`);
    button.addEventListener("click", () => sampleKeys(table, c.name, shard.value, out));
    $("#json-columns").append(el("h3", {}, `JSON column ${c.name}`),
      el("div", { class: "row" }, el("label", {}, "from shard ", shard), button), out);
  }
  renderFlatten(state.form.flatten || []);
  renderExplode(state.form.explode || null);
}

async function sampleKeys(table, column, shard, out) {
  out.replaceChildren(el("p", { class: "hint" }, `sampling the latest rows of ${shard}…`));
  const url = `/api/tables/${encodeURIComponent(table)}/json/${encodeURIComponent(column)}?shard=${encodeURIComponent(shard)}`;
  const { ok, data } = await api("GET", url);
  if (!ok) { out.replaceChildren(el("p", { class: "err" }, data.error)); return; }
  state.samples[column] = data;
  const t = el("table", { class: "keys" },
    el("tr", {}, ...["path", "seen in", "JSON types", "name in view", "type", "", ""].map((h) => el("th", {}, h))));
  for (const k of data.keys) {
    const name = el("input", { class: "name", value: k.name, size: 14 });
    const type = el("input", { class: "type", value: k.type, size: 14 });
    const add = el("button", { type: "button", class: "add" }, "add");
    add.addEventListener("click", () => send([{ op: "add_column", name: name.value, spec: { json: column, path: k.path, type: type.value } }]));
    const explode = k.items ? el("button", { type: "button", class: "explode", title: "one row per element" }, "explode") : "";
    if (explode) explode.addEventListener("click", () => send([{ op: "set_explode", json: column, path: k.path, index_column: $("#ex-index").value || "item_index" }]));
    t.append(el("tr", { "data-path": k.path },
      el("td", {}, k.path), el("td", {}, `${k.count} / ${k.rows}`), el("td", {}, k.kinds.join(", ")),
      el("td", {}, name), el("td", {}, type), el("td", {}, add), el("td", {}, explode)));
  }
  out.replaceChildren(el("p", { class: `hint sample-source from-${data.from}` }, `Sampled from ${data.source}.`), t);
  renderExplode(state.form.explode || null);
}

// The JSON columns a select offers; a column the YAML names that the table has not stays
// selectable, so its error shows beside it.
function jsonOptions(select, current) {
  columnOptions(select, jsonColumns(), current || "", select.dataset.none);
}

function renderFlatten(entries) {
  const table = $("#flatten");
  table.replaceChildren(el("tr", {}, ...["JSON column", "prefix", "depth", "", ""].map((h) => el("th", {}, h))));
  entries.forEach((entry, index) => {
    const json = el("select", { class: "json" });
    jsonOptions(json, entry.json);
    const prefix = el("input", { class: "prefix", value: entry.prefix || "", size: 14 });
    const depth = el("input", { class: "depth", type: "number", min: 1, max: 8, value: entry.max_depth ?? "", placeholder: "2", style: "width:4em" });
    const change = () => send([{ op: "set_flatten", index, json: json.value, prefix: prefix.value, max_depth: depth.value }]);
    for (const input of [json, prefix, depth]) input.addEventListener("change", change);
    table.append(el("tr", { "data-field": `attributes.flatten.${index}`, "data-flatten": index },
      el("td", {}, json), el("td", {}, prefix), el("td", {}, depth),
      el("td", {}, el("button", { type: "button", class: "remove", onclick: () => send([{ op: "remove_flatten", index }]) }, "remove")),
      el("td", { class: "err-slot" })));
  });
  jsonOptions($("#fl-json"), $("#fl-json").value);
}

function renderExplode(explode) {
  const e = explode || {};
  jsonOptions($("#ex-json"), e.json);
  setValue($("#ex-path"), e.path);
  setValue($("#ex-index"), e.index_column);
  const sample = state.samples[e.json || $("#ex-json").value];
  const arrays = sample ? sample.keys.filter((k) => k.items) : [];
  $("#ex-paths").replaceChildren(...arrays.map((k) => el("option", { value: k.path })));
  const box = $("#ex-items");
  box.replaceChildren();
  $("#it-manual").hidden = !explode;
  if (!explode) return;
  const array = arrays.find((k) => k.path === e.path);
  if (!array || !array.items.length) {
    const why = sample ? `the sample of ${e.json} holds no objects under ${e.path}` : `sample the keys of ${e.json} above to list its elements' keys`;
    box.append(el("p", { class: "hint" }, `Item columns: ${why}, or type a key path below.`));
    return;
  }
  const t = el("table", { class: "keys" },
    el("tr", {}, ...["item key", "seen in", "JSON types", "name in view", "type", ""].map((h) => el("th", {}, h))));
  for (const k of array.items) {
    const name = el("input", { class: "name", value: k.name, size: 14 });
    const type = el("input", { class: "type", value: k.type, size: 14 });
    const add = el("button", { type: "button", class: "add" }, "add");
    add.addEventListener("click", () => send([{ op: "add_column", name: name.value, spec: { item: k.path, type: type.value } }]));
    t.append(el("tr", { "data-item-path": k.path },
      el("td", {}, k.path), el("td", {}, `${k.count} / ${k.rows} elements`), el("td", {}, k.kinds.join(", ")),
      el("td", {}, name), el("td", {}, type), el("td", {}, add)));
  }
  box.append(el("p", { class: "hint" }, `Keys of the elements of ${e.json} → ${e.path}:`), t);
}

function wireJson() {
  const explode = () => send([{ op: "set_explode", json: $("#ex-json").value, path: $("#ex-path").value, index_column: $("#ex-index").value }]);
  for (const id of ["#ex-json", "#ex-path", "#ex-index"]) $(id).addEventListener("change", explode);
  $("#fl-add").addEventListener("click", () => {
    send([{ op: "add_flatten", json: $("#fl-json").value, prefix: $("#fl-prefix").value, max_depth: $("#fl-depth").value }])
      .then(() => { $("#fl-prefix").value = ""; $("#fl-depth").value = "2"; });
  });
  $("#it-add").addEventListener("click", () => {
    const name = $("#it-name").value.trim();
    send([{ op: "add_column", name, spec: { item: $("#it-path").value.trim(), type: $("#it-type").value.trim() } }])
      .then(() => { if ((state.form.columns || {})[name]) for (const id of ["#it-name", "#it-path", "#it-type"]) $(id).value = ""; });
  });
}
