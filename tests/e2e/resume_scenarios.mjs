// Session resume scenarios for scenarios.mjs (the server runs with session.resume_grace_ms
// set to --grace-ms; see nakama_rt/socket/resume.py).
//
//   resume_match  A and B share a chat room and a relayed match. A's TCP connection is
//                 reset (no close frame); B sends chat messages and match data; A
//                 reconnects with the same session within the window and gets them all,
//                 in order, none twice; re-joining the room and the match answers as a
//                 fresh join, with the same session id; B sees no presence event. Then
//                 A's connection is reset again and not restored: past the window B sees
//                 exactly one leave in the room and one in the match.
//                 With --other-port, A reconnects through that node of the cluster.
//   resume_party  L leads an open party that M is in. M's connection is reset; L puts
//                 the party in the matchmaker; M reconnects and is told of the ticket,
//                 re-joins and gets the party as a joining member does; L sees no
//                 presence event; a third player S completes the match for all three.
//                 Then M is cut again for good: past the window L sees it leave once.

import {
  QUIET_MS,
  STEP_MS,
  Inbox,
  check,
  checkEqual,
  facts,
  newClient,
  newUser,
  openSocket,
  opts,
  presence,
  sleep,
  within,
} from "./scenarios.mjs";

/** Reset A's TCP connection: what a phone losing its network looks like to the server. */
function cut(s) {
  const ws = s.socket.adapter._socket;
  check(ws && ws._socket, `${s.label}'s WebSocket and its TCP socket`);
  ws._socket.resetAndDestroy();
}

/** A socket whose every pushed event goes, in order, to one inbox. */
function openRecordingSocket(client, label) {
  const s = openSocket(client, label);
  s.events = new Inbox(`${label}'s events`);
  const push = (kind) => (event) => s.events.push({ kind, event });
  s.socket.onchannelmessage = push("channel_message");
  s.socket.onchannelpresence = push("channel_presence");
  s.socket.onmatchdata = push("match_data");
  s.socket.onmatchpresence = push("match_presence");
  s.socket.onpartypresence = push("party_presence");
  s.socket.onparty = push("party");
  s.socket.onpartymatchmakerticket = push("party_matchmaker_ticket");
  s.socket.onmatchmakermatched = push("matchmaker_matched");
  return s;
}

async function connect(s, user) {
  await within(s.socket.connect(user.session, false, STEP_MS), `${s.label} connects`);
}

/** The events an inbox holds after `ms` of quiet, taken out. */
async function drained(inbox, ms = QUIET_MS) {
  await sleep(ms);
  return inbox.items.splice(0);
}

const usernames = (list) => (list ?? []).map((p) => p.username).sort();
const graceMs = () => Number(opts["grace-ms"]);

export async function scenarioResumeMatch() {
  const client = newClient();
  const [a, b] = await Promise.all([newUser(client, "ra"), newUser(client, "rb")]);
  const sa = openRecordingSocket(client, "A");
  const sb = openRecordingSocket(client, "B");
  await Promise.all([connect(sa, a), connect(sb, b)]);
  const room = `resume-${a.username}`;
  const aChannel = await within(sa.socket.joinChat(room, 1, false, false), "A joins the room");
  const bChannel = await within(sb.socket.joinChat(room, 1, false, false), "B joins the room");
  const created = await within(sb.socket.createMatch(), "B creates a match");
  const mid = created.match_id;
  const aMatch = await within(sa.socket.joinMatch(mid), "A joins the match");
  facts.session_id = aMatch.self.session_id;
  checkEqual(aChannel.self.session_id, facts.session_id, "A's one session");
  await drained(sb.events); // A's joins
  await drained(sa.events, 0); // B's

  cut(sa);
  const dropped = await sa.disconnects.next("A's socket reports the reset");
  facts.dropped = { code: dropped.code };
  await sleep(200); // the server has seen the reset
  const sent = [];
  for (let n = 0; n < 3; n++) {
    const ack = await within(sb.socket.writeChatMessage(bChannel.id, { n }), `B's chat ${n}`);
    sent.push(ack.message_id);
    await within(sb.socket.sendMatchState(mid, 10 + n, `move ${n}`), `B's match data ${n}`);
  }

  // With --other-port (a cluster), A comes back through the other node.
  const otherPort = opts["other-port"];
  const again = otherPort ? openRecordingSocket(newClient(otherPort), "A on the other node") : sa;
  facts.other_node = Boolean(otherPort);
  await connect(again, a);
  const replayed = [];
  for (let i = 0; i < 6; i++) replayed.push(await again.events.next(`replayed event ${i}`));
  facts.replayed = replayed.map(({ kind, event }) =>
    kind === "channel_message"
      ? { kind, message_id: event.message_id, content: event.content }
      : kind === "match_data"
        ? { kind, op_code: Number(event.op_code), sender: event.presence?.username ?? null }
        : { kind },
  );
  checkEqual(
    facts.replayed.map((r) => r.kind),
    ["channel_message", "match_data", "channel_message", "match_data", "channel_message", "match_data"],
    "what A missed, in order",
  );
  checkEqual(
    facts.replayed.filter((r) => r.kind === "channel_message").map((r) => r.message_id),
    sent,
    "A's replayed chat messages",
  );
  checkEqual(
    facts.replayed.filter((r) => r.kind === "match_data").map((r) => r.op_code),
    [10, 11, 12],
    "A's replayed match data",
  );
  facts.after_replay = (await drained(again.events)).map((e) => e.kind);
  checkEqual(facts.after_replay, [], "nothing twice");

  // Re-joining answers as a fresh join, on the same session; B sees nothing of it.
  const rejoinedChannel = await within(again.socket.joinChat(room, 1, false, false), "A re-joins the room");
  const rejoinedMatch = await within(again.socket.joinMatch(mid), "A re-joins the match");
  facts.rejoin = {
    channel_self: rejoinedChannel.self.session_id,
    channel_presences: usernames(rejoinedChannel.presences),
    match_self: rejoinedMatch.self.session_id,
    match_presences: usernames(rejoinedMatch.presences),
    match_size: rejoinedMatch.size ?? 0,
  };
  checkEqual(facts.rejoin.channel_self, facts.session_id, "same session in the room");
  checkEqual(facts.rejoin.match_self, facts.session_id, "same session in the match");
  checkEqual(facts.rejoin.channel_presences, [b.username], "the room as a fresh join lists it");
  checkEqual(facts.rejoin.match_presences, [b.username], "the match as a fresh join lists it");
  // (B's own chat messages come back to it, as with Nakama: only presence events count.)
  facts.b_saw_while_resuming = (await drained(sb.events))
    .map((e) => e.kind)
    .filter((kind) => kind.endsWith("_presence"));
  checkEqual(facts.b_saw_while_resuming, [], "B saw no leave or join");

  // Gone for good: past the window B sees one leave in each.
  cut(again);
  await again.disconnects.next("A's socket reports the second reset");
  await sleep(graceMs() / 2);
  checkEqual((await drained(sb.events, 0)).map((e) => e.kind), [], "no leave within the window");
  const leaves = [];
  leaves.push(await sb.events.next("B's first leave event", graceMs() + STEP_MS));
  leaves.push(await sb.events.next("B's second leave event"));
  leaves.push(...(await drained(sb.events)));
  facts.leaves = leaves.map(({ kind, event }) => ({
    kind,
    leaves: usernames(event.leaves),
    joins: usernames(event.joins),
  }));
  checkEqual(
    facts.leaves.map((l) => l.kind).sort(),
    ["channel_presence", "match_presence"],
    "one leave in the room and one in the match",
  );
  for (const l of facts.leaves) {
    checkEqual(l.leaves, [a.username], `${l.kind} leave`);
    checkEqual(l.joins, [], `${l.kind} joins`);
  }
  sb.socket.disconnect(false);
  await sb.disconnects.next("B's close");
}

export async function scenarioResumeParty() {
  const client = newClient();
  const [l, m, s] = await Promise.all([
    newUser(client, "pl"),
    newUser(client, "pm"),
    newUser(client, "ps"),
  ]);
  const sl = openRecordingSocket(client, "L");
  const sm = openRecordingSocket(client, "M");
  const ss = openRecordingSocket(client, "S");
  await Promise.all([connect(sl, l), connect(sm, m), connect(ss, s)]);
  const party = await within(sl.socket.createParty(true, 2), "L creates an open party");
  await within(sm.socket.joinParty(party.party_id), "M joins the party");
  const joined = await sm.events.next("M's party");
  checkEqual(joined.kind, "party", "M is told of the party");
  await drained(sl.events);
  await drained(sm.events);

  cut(sm);
  await sm.disconnects.next("M's socket reports the reset");
  await sleep(200);
  const ticket = await within(
    sl.socket.addMatchmakerParty(party.party_id, "*", 3, 3),
    "L puts the party in the matchmaker",
  );
  facts.ticket = ticket.ticket;

  await connect(sm, m);
  const told = await sm.events.next("M is told of the party's ticket");
  checkEqual(told.kind, "party_matchmaker_ticket", "M's replayed event");
  checkEqual(told.event.ticket, facts.ticket, "the party's ticket");
  await within(sm.socket.joinParty(party.party_id), "M re-joins the party");
  const again = await sm.events.next("M's party after re-joining");
  checkEqual(again.kind, "party", "M gets the party again");
  if (opts.adapter === "json") {
    // (nakama-js-protobuf 1.4 decodes Party with an older field layout: see
    // tests/test_e2e_party.py; its content is checked in JSON only.)
    facts.rejoined = {
      leader: again.event.leader.username,
      presences: usernames(again.event.presences),
      self: again.event.self.username,
    };
    checkEqual(facts.rejoined.presences, [l.username, m.username].sort(), "the party's members");
    checkEqual(facts.rejoined.leader, l.username, "the party's leader");
  }
  facts.l_saw = (await drained(sl.events)).map((e) => e.kind);
  checkEqual(facts.l_saw, [], "L saw no leave or join");

  await within(ss.socket.addMatchmaker("*", 3, 3), "S joins the matchmaker");
  facts.matched = {};
  for (const [label, sock] of [
    ["L", sl],
    ["M", sm],
    ["S", ss],
  ]) {
    let event;
    do {
      event = await sock.events.next(`${label}'s match`, STEP_MS * 2);
    } while (event.kind !== "matchmaker_matched");
    facts.matched[label] = {
      users: event.event.users.map((u) => u.presence.username).sort(),
      match: event.event.token ? "token" : event.event.match_id,
    };
    checkEqual(facts.matched[label].users, [l.username, m.username, s.username].sort(), `${label}'s match`);
  }

  // M is cut again and does not come back: past the window L sees it leave, once.
  await drained(sl.events, 0);
  cut(sm);
  await sm.disconnects.next("M's socket reports the second reset");
  await sleep(graceMs() / 2);
  checkEqual((await drained(sl.events, 0)).map((e) => e.kind), [], "no leave within the window");
  const left = await sl.events.next("L's party presence event", graceMs() + STEP_MS);
  const after = await drained(sl.events);
  facts.m_left = {
    kind: left.kind,
    leaves: usernames(left.event.leaves),
    joins: usernames(left.event.joins),
    after: after.map((e) => e.kind),
  };
  checkEqual(facts.m_left.kind, "party_presence", "L is told of M's leave");
  checkEqual(facts.m_left.leaves, [m.username], "M leaves the party");
  checkEqual(facts.m_left.after, [], "once");
  for (const sock of [sl, ss]) {
    sock.socket.disconnect(false);
    await sock.disconnects.next(`${sock.label}'s close`);
  }
}
