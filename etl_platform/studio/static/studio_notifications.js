// Notification rules: each field of a rule and of its channel is a control; a change sends
// that one key, so the rule's other keys (and their comments) stay as they are.
"use strict";

// [key, label, control, attributes]: the rule's fields in the order the page shows them.
const RULE_FIELDS = [
  ["name", "Name", "input", { size: 18 }],
  ["description", "Description", "input", { size: 56 }],
  ["when", "When (a condition over the view's columns)", "textarea", { rows: 2, cols: 56, placeholder: "status = 'shipped'" }],
  ["template", "Template (Jinja2 over the row's fields)", "textarea", { rows: 3, cols: 56, placeholder: "Order {{ order_id }} shipped to {{ city }}" }],
  ["once_per", "Once per", "select", {}],
  ["rate_per_minute", "Rate per minute", "input", { size: 6, placeholder: "60" }],
  ["window", "Window", "input", { size: 5, placeholder: "1d" }],
  ["attempts", "Attempts", "input", { size: 3, placeholder: "4" }],
  ["timeout_seconds", "Timeout (s)", "input", { size: 4, placeholder: "10" }],
  ["dead_letter_alert_ratio", "Dead-letter alert ratio", "input", { size: 5, placeholder: "0.1" }],
];
const ONCE_PER = [["", "(default: version)"], ["version", "version: each matching version"], ["key", "key: once per row, ever"]];
// The channels' text fields; every address, host and secret is an environment variable's name.
const CHANNEL_FIELDS = {
  webhook: [
    ["url_env", "URL from variable", { size: 40, placeholder: "SHIPPING_WEBHOOK_URL" }],
    ["headers_env", "Headers from variables", { size: 44, placeholder: "Authorization: SHIPPING_WEBHOOK_AUTH" }],
  ],
  smtp: [
    ["host_env", "Host from variable", { size: 20, placeholder: "SMTP_HOST" }],
    ["port", "Port", { size: 5, placeholder: "587" }],
    ["user_env", "User from variable", { size: 16 }],
    ["password_env", "Password from variable", { size: 16 }],
    ["from", "From", { size: 26, placeholder: "shop@example.com" }],
    ["subject", "Subject (a template)", { size: 44, placeholder: "Order {{ order_id }} shipped" }],
  ],
};

function fieldText(value) {
  if (value === undefined || value === null) return "";
  if (typeof value === "object") return Object.entries(value).map(([k, v]) => `${k}: ${v}`).join(", ");
  return String(value);
}

// One labelled control with its error slot; `onchange` gets the control.
function ruleControl(where, key, label, kind, attrs, value, onchange) {
  let control;
  if (kind === "select") {
    control = el("select", { class: `nf-${key}` }, ...ONCE_PER.map(([v, text]) => el("option", { value: v }, text)));
    control.value = value || "";
  } else {
    control = el(kind, { class: `nf-${key}`, autocomplete: "off", spellcheck: "false", ...attrs });
    control.value = fieldText(value);
  }
  control.addEventListener("change", () => onchange(control));
  return el("label", { class: "nf", "data-field": `${where}.${key}` }, `${label} `, control, el("div", { class: "err-slot" }));
}

function channelControls(index, channel) {
  const where = `attributes.notifications.${index}.channel`;
  const kind = channel.type || "webhook";
  const set = (values) => send([{ op: "set_notification_channel", index, values }]);
  const type = el("select", { class: "nf-type" }, ...["webhook", "smtp"].map((k) => el("option", { value: k }, k)));
  if (!["webhook", "smtp"].includes(kind)) type.append(el("option", { value: kind }, kind));
  type.value = kind;
  type.addEventListener("change", () => set({ type: type.value }));
  const controls = (CHANNEL_FIELDS[kind] || []).map(([key, label, attrs]) =>
    ruleControl(where, key, label, "input", attrs, channel[key], (c) => set({ [key]: c.value })));
  if (kind === "smtp") {
    const toColumn = typeof channel.to === "object" && channel.to !== null;
    const toKind = el("select", { class: "nf-to-kind" },
      el("option", { value: "address" }, "an address"), el("option", { value: "column" }, "a column of the row"));
    toKind.value = toColumn ? "column" : "address";
    const to = el("input", { class: "nf-to", size: 24, value: toColumn ? channel.to.column || "" : channel.to || "",
      placeholder: "ops@example.com or customer_email", list: "nf-outputs" });
    const change = () => set({ to: toKind.value === "column" ? { column: to.value } : to.value });
    toKind.addEventListener("change", change);
    to.addEventListener("change", change);
    const starttls = el("input", { type: "checkbox", class: "nf-starttls" });
    starttls.checked = channel.starttls !== false;
    starttls.addEventListener("change", () => set({ starttls: starttls.checked }));
    controls.splice(4, 0,
      el("label", { class: "nf", "data-field": `${where}.starttls` }, starttls, " STARTTLS", el("div", { class: "err-slot" })));
    controls.push(el("label", { class: "nf", "data-field": `${where}.to` }, "To ", toKind, " ", to, el("div", { class: "err-slot" })));
  }
  return el("fieldset", { class: "channel", "data-field": where },
    el("legend", {}, "Channel ", type), ...controls, el("div", { class: "err-slot" }));
}

function renderNotifications(rules) {
  $("#nf-outputs").replaceChildren(...state.outputs.map((o) => el("option", { value: o.name })));
  const box = $("#notifications");
  box.replaceChildren();
  rules.forEach((rule, index) => {
    const where = `attributes.notifications.${index}`;
    const set = (key, value) => send([{ op: "set_notification", index, values: { [key]: value } }]);
    const fields = RULE_FIELDS.map(([key, label, kind, attrs]) =>
      ruleControl(where, key, label, kind, attrs, rule[key], (c) => set(key, c.value)));
    box.append(el("div", { class: "rule", "data-field": where, "data-notification": index },
      el("div", { class: "row" }, el("strong", {}, `${index}: ${rule.name || "(no name)"}`),
        el("button", { type: "button", class: "remove", onclick: () => send([{ op: "remove_notification", index }]) }, "remove")),
      el("div", { class: "err-slot" }),
      el("div", { class: "nf-grid" }, ...fields.slice(0, 4)),
      channelControls(index, rule.channel || {}),
      el("div", { class: "row nf-numbers" }, ...fields.slice(4))));
  });
}

function wireNotifications() {
  $("#nf-add").addEventListener("click", () => {
    const name = $("#nf-name").value.trim();
    send([{ op: "add_notification", name, channel: $("#nf-channel").value }])
      .then(() => { if ((state.form.notifications || []).some((r) => r.name === name)) $("#nf-name").value = ""; });
  });
}
