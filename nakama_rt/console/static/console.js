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

function disconnectForm(sessionId, node, csrf) {
  const form = document.createElement("form");
  form.method = "post";
  form.action = "/sessions/disconnect";
  const fields = [["csrf", csrf], ["session_id", sessionId], ["node", node], ["back", "/"]];
  for (const [name, value] of fields) {
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
    // (the columns of site.py's _SESSION_COLUMNS, in order)
    const status = s.status === null ? "(appears offline)" : s.status || "online";
    const connection = s.kept_for === null ? "open" : `dropped, kept ${s.kept_for} s more`;
    for (const text of [
      s.username, s.user_id, s.session_id, s.node, s.format, s.address, connection, status,
      s.following.join(", "), s.channels.join(", "), s.matches.join(", "),
      s.parties.join(", "), s.tickets.join(", "),
    ]) {
      row.appendChild(cell(text));
    }
    const last = document.createElement("td");
    last.appendChild(disconnectForm(s.session_id, s.node, csrf.value));
    row.appendChild(last);
  }
}

function showNodes(rows) {
  const table = document.getElementById("live-nodes");
  if (!table) return;
  while (table.rows.length > 1) table.deleteRow(1);
  for (const r of rows) {
    const row = table.insertRow();
    row.dataset.node = r.node;
    row.appendChild(cell(r.node));
    if (r.problem) {
      const td = cell(r.problem);
      td.colSpan = 6;
      td.className = "error";
      row.appendChild(td);
      continue;
    }
    for (const value of [
      r.sessions, r.presences, r.cpu_percent, r.rss_megabytes,
      r.messages_in_per_sec, r.messages_out_per_sec,
    ]) {
      row.appendChild(cell(show(value)));
    }
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
    if (figures.node_rows) showNodes(figures.node_rows);
    if (figures.live_sessions) showSessions(figures.live_sessions);
    document.body.dataset.updated = String(figures.sessions);
  };
});
