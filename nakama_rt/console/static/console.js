// The console's live figures: one EventSource on /events, whose events carry the
// overview's figures as JSON. Values are set as text (never as markup).
"use strict";

function show(value) {
  if (value === null || value === undefined) return "-";
  if (Array.isArray(value)) return value.join(", ") || "-";
  if (typeof value === "object") {
    const parts = Object.entries(value).map(([k, v]) => `${k}: ${v}`);
    return parts.length ? parts.join(", ") : "none";
  }
  return String(value);
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function disconnectForm(sessionId, csrf) {
  const form = document.createElement("form");
  form.method = "post";
  form.action = "/sessions/disconnect";
  for (const [name, value] of [["csrf", csrf], ["session_id", sessionId], ["back", "/"]]) {
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }
  const button = document.createElement("button");
  button.type = "submit";
  button.textContent = "Disconnect";
  form.appendChild(button);
  return form;
}

function showSessions(sessions) {
  const table = document.querySelector("#live-sessions table");
  const csrf = document.querySelector("input[name=csrf]");
  if (!table || !csrf) return;
  while (table.rows.length > 1) table.deleteRow(1);
  for (const s of sessions) {
    const row = table.insertRow();
    row.dataset.session = s.session_id;
    for (const text of [
      s.username, s.user_id, s.session_id, s.format, s.address,
      s.channels.join(", "), s.matches.join(", "), s.parties.join(", "), s.tickets.join(", "),
    ]) {
      row.appendChild(cell(text));
    }
    const last = document.createElement("td");
    last.appendChild(disconnectForm(s.session_id, csrf.value));
    row.appendChild(last);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  if (!document.querySelector("[data-figure]")) return;
  const events = new EventSource("/events");
  events.onmessage = (message) => {
    const figures = JSON.parse(message.data);
    for (const element of document.querySelectorAll("[data-figure]")) {
      element.textContent = show(figures[element.dataset.figure]);
    }
    if (figures.live_sessions) showSessions(figures.live_sessions);
    document.body.dataset.updated = String(figures.sessions);
  };
});
