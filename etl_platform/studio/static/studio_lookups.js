// Lookups: the suggested join keys of a related table, its columns with an output name, a
// type and "required" each; then, per lookup, its looked-up columns and its period, editable.
"use strict";

// One looked-up column: the output name, a type (empty: the related column's own) and
// `nullable: false`. The draft writes a plain name when there is neither.
function lookedUpRow(index, column, spec) {
  const o = typeof spec === "string" ? { as: spec } : (spec || {});
  const as = el("input", { class: "as", value: o.as || column, size: 16 });
  const type = el("input", { class: "type", value: o.type || "", size: 12, placeholder: "(as related)" });
  const required = el("input", { type: "checkbox", class: "required" });
  required.checked = o.nullable === false;
  const change = () => send([{ op: "set_lookup_column", index, column, as: as.value, type: type.value, nullable: !required.checked }]);
  for (const input of [as, type, required]) input.addEventListener("change", change);
  return el("tr", { "data-field": `attributes.lookups.${index}.columns.${column}`, "data-looked-up": column },
    el("td", {}, column), el("td", {}, as), el("td", {}, type),
    el("td", {}, el("label", { class: "inline" }, required, " required")),
    el("td", {}, el("button", { type: "button", class: "remove", onclick: () => send([{ op: "remove_lookup_column", index, column }]) }, "remove")),
    el("td", { class: "err-slot" }));
}

// A period: `view` among the view's date and timestamp columns, `from` and `to` among the
// related table's. No `view` and no `from`: no period.
function periodRow(index, lk) {
  const period = lk.period || {};
  const related = state.periods.related[lk.table] || [];
  const view = el("select", { class: "period-view" });
  const from = el("select", { class: "period-from" });
  const to = el("select", { class: "period-to" });
  columnOptions(view, state.periods.view, period.view || "", "(no period)");
  columnOptions(from, related, period.from || "", "(pick)");
  columnOptions(to, related, period.to || "", "(open: until the next from)");
  const change = () => send([{ op: "set_lookup_period", index, view: view.value, from: from.value, to: to.value }]);
  for (const select of [view, from, to]) select.addEventListener("change", change);
  return el("div", { class: "row period", "data-field": `attributes.lookups.${index}.period` },
    el("span", {}, "Period:"), el("label", {}, "view row's date ", view),
    el("label", {}, `${lk.table} from `, from), el("label", {}, "to ", to),
    el("div", { class: "err-slot" }));
}

function renderLookups(lookups) {
  const box = $("#lookups");
  box.replaceChildren();
  lookups.forEach((lk, index) => {
    const on = Object.entries(lk.on || {}).map(([l, r]) => `${l} = ${lk.table}.${r}`).join(", ");
    const columns = el("table", { class: "looked-up" },
      el("tr", {}, ...["column", "as", "type", "", "", ""].map((h) => el("th", {}, h))),
      ...Object.entries(lk.columns || {}).map(([c, spec]) => lookedUpRow(index, c, spec)));
    box.append(el("div", { class: "lookup", "data-field": `attributes.lookups.${index}`, "data-lookup": index },
      el("div", { class: "row" },
        el("strong", {}, `${index}: ${lk.table} on ${on} (${lk.join || "left"})`),
        el("button", { type: "button", onclick: () => send([{ op: "remove_lookup", index }]) }, "remove")),
      el("div", { class: "err-slot" }),
      columns,
      periodRow(index, lk)));
  });
}

async function suggestLookup() {
  const table = $("#lk-table").value;
  $("#lk-keys").replaceChildren();
  $("#lk-columns").replaceChildren();
  $("#lk-add").disabled = true;
  if (!table) return;
  const { ok, data } = await api("POST", "/api/lookup-keys", { yaml: state.yaml, table });
  if (!ok) { $("#lk-keys").append(el("p", { class: "err" }, data.error)); return; }
  const on = el("select", { id: "lk-on" }, ...data.pairs.map((p, i) =>
    el("option", { value: i }, `${p.left} = ${table}.${p.right} (${p.why})`)));
  $("#lk-keys").append(data.pairs.length ? el("label", {}, "Join on ", on)
    : el("p", { class: "err" }, `no column of the view matches a column of ${table} by name and type`));
  const t = $("#lk-columns");
  t.append(el("tr", {}, ...["", "column", "MySQL", "as", "type", ""].map((h) => el("th", {}, h))));
  for (const c of data.columns) {
    t.append(el("tr", { "data-lookup-column": c.name },
      el("td", {}, el("input", { type: "checkbox", class: "pick" })), el("td", {}, c.name),
      el("td", {}, c.mysql), el("td", {}, el("input", { class: "as", value: c.name, size: 16 })),
      el("td", {}, el("input", { class: "type", size: 12, placeholder: "(as related)" })),
      el("td", {}, el("label", { class: "inline" }, el("input", { type: "checkbox", class: "required" }), " required"))));
  }
  $("#lk-add").disabled = !data.pairs.length;
  $("#lk-add").onclick = () => {
    const pair = data.pairs[Number(on.value)];
    const columns = {};
    for (const row of $$("tr[data-lookup-column]", t)) {
      if (!$(".pick", row).checked) continue;
      columns[row.dataset.lookupColumn] = { as: $(".as", row).value, type: $(".type", row).value, nullable: !$(".required", row).checked };
    }
    send([{ op: "add_lookup", table, on: { [pair.left]: pair.right }, columns, join: $("#lk-join").value }]);
  };
}

function wireLookups() {
  $("#lk-table").addEventListener("change", suggestLookup);
}
