// Scenarios across two nodes of one cluster, for scenarios.mjs (see its header): user A's
// client talks to --port, user B's to --other-port, and they meet as on one server.
//
//   cluster_chat   a room: B sees A among its presences, both see the other's join, each
//                  gets the other's messages, A sees B leave when B's socket closes.
//   cluster_match  a relayed match created on A's node, joined on B's: presences, events
//                  and match data both ways.
//   cluster_authoritative  the authoritative match --match-id runs on B's node (its
//                  handler echoes data as op + 100 to everyone): A joins it from the
//                  other node with a password, data both ways, A leaves.
//   cluster_party  A's closed party, on A's node: B asks from the other node, A accepts,
//                  data both ways, A promotes B, B closes it.
//   cluster_matchmaker  A and B add tickets on their nodes; the cluster's one matchmaker
//                  matches them together, and both join the match by its token.
//   cluster_three  A, B and C on three nodes (--port, --other-port, --third-port): B and C
//                  follow A's status, all three share a party and a chat room.
//
// What one node tells the others crosses Redis; a short pause lets it arrive before the
// other node is asked about it (SETTLE_MS).

import { randomUUID } from "node:crypto";

import { Inbox, STEP_MS, checkEqual, facts, newClient, newUser, openSocket, opts, sleep, within } from "./scenarios.mjs";

const ROOM = 1;
const SETTLE_MS = 250;

function names(presences) {
  return (presences ?? []).map((p) => p.username).sort();
}

/** Chat content as an object: the JSON adapter parses it, the protobuf one does not. */
function content(m) {
  return typeof m.content === "string" ? JSON.parse(m.content) : m.content;
}

async function twoUsersOnTwoNodes() {
  if (!opts["other-port"]) throw new Error("--other-port (the second node) is required");
  const here = newClient();
  const there = newClient(opts["other-port"]);
  const [a, b] = await Promise.all([newUser(here, "ca"), newUser(there, "cb")]);
  const sa = openSocket(here, "A");
  const sb = openSocket(there, "B");
  for (const s of [sa, sb]) {
    s.messages = new Inbox(`${s.label}'s channel messages`);
    s.channelEvents = new Inbox(`${s.label}'s channel presence events`);
    s.matchData = new Inbox(`${s.label}'s match data`);
    s.matchEvents = new Inbox(`${s.label}'s match presence events`);
    s.party = new Inbox(`${s.label}'s party messages`);
    s.matched = new Inbox(`${s.label}'s matchmaker matches`);
    s.socket.onmatchmakermatched = (m) => s.matched.push(m);
    s.socket.onchannelmessage = (m) => s.messages.push(m);
    s.socket.onchannelpresence = (e) => s.channelEvents.push(e);
    s.socket.onmatchdata = (m) => s.matchData.push(m);
    s.socket.onmatchpresence = (e) => s.matchEvents.push(e);
    s.socket.onpartyjoinrequest = (r) => s.party.push({ type: "join_request", ...r });
    s.socket.onpartypresence = (e) => s.party.push({ type: "presence", ...e });
    s.socket.onpartydata = (d) => s.party.push({ type: "data", ...d });
    s.socket.onpartyleader = (l) => s.party.push({ type: "leader", ...l });
    s.socket.onpartyclose = (c) => s.party.push({ type: "close", ...c });
  }
  await within(sa.socket.connect(a.session, false, STEP_MS), "A connects to the first node");
  await within(sb.socket.connect(b.session, false, STEP_MS), "B connects to the second node");
  return { a, b, sa, sb };
}

export async function scenarioClusterChat() {
  const { a, b, sa, sb } = await twoUsersOnTwoNodes();
  const room = `cluster-${randomUUID()}`;
  await within(sa.socket.joinChat(room, ROOM, false, false), "A joins");
  await sa.channelEvents.next("A's own join");
  await sleep(SETTLE_MS);
  const joined = await within(sb.socket.joinChat(room, ROOM, false, false), "B joins");
  facts.b_sees = names(joined.presences);
  checkEqual(facts.b_sees, [a.username], "B's channel lists A, on the other node");
  await sb.channelEvents.next("B's own join");
  const seen = await sa.channelEvents.next("B's join, seen by A");
  facts.a_sees_join = names(seen.joins);
  checkEqual(facts.a_sees_join, [b.username], "A sees B join");

  await within(sa.socket.writeChatMessage(joined.id, { text: "from A" }), "A writes");
  const atB = await sb.messages.next("A's message, at B");
  facts.b_got = { username: atB.username, content: content(atB) };
  checkEqual(facts.b_got, { username: a.username, content: { text: "from A" } }, "B gets A's message");
  await sa.messages.next("A's own message");
  await within(sb.socket.writeChatMessage(joined.id, { text: "from B" }), "B writes");
  const atA = await sa.messages.next("B's message, at A");
  facts.a_got = { username: atA.username, content: content(atA) };
  checkEqual(facts.a_got, { username: b.username, content: { text: "from B" } }, "A gets B's message");

  sb.socket.disconnect(false);
  const left = await sa.channelEvents.next("B's leave, seen by A");
  facts.a_sees_leave = names(left.leaves);
  checkEqual(facts.a_sees_leave, [b.username], "A sees B leave");
  sa.socket.disconnect(false);
}

export async function scenarioClusterMatch() {
  const { a, b, sa, sb } = await twoUsersOnTwoNodes();
  const match = await within(sa.socket.createMatch(), "A creates a match");
  await sleep(SETTLE_MS);
  const joined = await within(sb.socket.joinMatch(match.match_id), "B joins it on the other node");
  facts.b_sees = names(joined.presences);
  checkEqual(facts.b_sees, [a.username], "B's match lists A");
  let seen = await sa.matchEvents.next("B's join, seen by A");
  if (names(seen.joins).includes(a.username)) {
    seen = await sa.matchEvents.next("B's join, seen by A (after A's own)");
  }
  facts.a_sees_join = names(seen.joins);
  checkEqual(facts.a_sees_join, [b.username], "A sees B join");
  await sleep(SETTLE_MS);

  await within(sa.socket.sendMatchState(match.match_id, 7, "from A"), "A sends");
  const atB = await sb.matchData.next("A's data, at B");
  facts.b_got = { op_code: Number(atB.op_code), sender: atB.presence.username };
  checkEqual(facts.b_got, { op_code: 7, sender: a.username }, "B gets A's data");
  await within(sb.socket.sendMatchState(match.match_id, 8, "from B"), "B sends");
  const atA = await sa.matchData.next("B's data, at A");
  facts.a_got = { op_code: Number(atA.op_code), sender: atA.presence.username };
  checkEqual(facts.a_got, { op_code: 8, sender: b.username }, "A gets B's data");
  sa.socket.disconnect(false);
  sb.socket.disconnect(false);
}

/** The next item of ``inbox`` that ``wanted`` accepts (others are skipped). */
async function nextWhere(inbox, wanted, what) {
  for (;;) {
    const item = await inbox.next(what);
    if (wanted(item)) return item;
  }
}

export async function scenarioClusterAuthoritative() {
  if (!opts["match-id"]) throw new Error("--match-id (a match on the second node) is required");
  const { a, b, sa, sb } = await twoUsersOnTwoNodes();
  const matchId = opts["match-id"];
  const refused = await sa.socket.joinMatch(matchId, undefined, { password: "guess" }).then(
    () => null,
    (error) => error,
  );
  facts.a_refused = refused ? { code: refused.code, message: refused.message } : null;
  checkEqual(facts.a_refused, { code: 5, message: "wrong password" }, "B's node refuses A");
  const joinedB = await within(sb.socket.joinMatch(matchId, undefined, { password: "open sesame" }), "B joins");
  const joinedA = await within(
    sa.socket.joinMatch(matchId, undefined, { password: "open sesame" }),
    "A joins from the other node",
  );
  facts.a_sees = names(joinedA.presences);
  facts.a_match = { authoritative: joinedA.authoritative, label: joinedA.label, id: joinedA.match_id };
  checkEqual(facts.a_sees, [b.username], "A's match lists B");
  const seen = await nextWhere(sb.matchEvents, (e) => names(e.joins).includes(a.username), "A's join, at B");
  facts.b_sees_join = names(seen.joins);
  await sleep(SETTLE_MS);

  await within(sa.socket.sendMatchState(matchId, 7, "from A"), "A sends");
  const atB = await sb.matchData.next("the handler's echo of A's data, at B");
  const atA = await sa.matchData.next("the handler's echo of A's data, at A");
  facts.echo_of_a = [Number(atB.op_code), atB.presence.username, Number(atA.op_code)];
  checkEqual(facts.echo_of_a, [107, a.username, 107], "both get the echo of A's data");
  await within(sb.socket.sendMatchState(matchId, 8, "from B"), "B sends");
  const atA2 = await sa.matchData.next("the handler's echo of B's data, at A");
  facts.echo_of_b = [Number(atA2.op_code), atA2.presence.username];
  checkEqual(facts.echo_of_b, [108, b.username], "A gets the echo of B's data");

  await within(sa.socket.leaveMatch(matchId), "A leaves");
  const left = await nextWhere(sb.matchEvents, (e) => (e.leaves ?? []).length > 0, "A's leave, at B");
  facts.b_sees_leave = names(left.leaves);
  checkEqual(facts.b_sees_leave, [a.username], "B sees A leave");
  void joinedB;
  sa.socket.disconnect(false);
  sb.socket.disconnect(false);
}

export async function scenarioClusterParty() {
  const { a, b, sa, sb } = await twoUsersOnTwoNodes();
  const party = await within(sa.socket.createParty(false, 4), "A creates a closed party");
  const pid = party.party_id;
  await sleep(SETTLE_MS);
  await within(sb.socket.joinParty(pid), "B asks to join, from the other node");
  const asked = await nextWhere(sa.party, (m) => m.type === "join_request", "B's request, at A");
  facts.a_asked_by = names(asked.presences);
  checkEqual(facts.a_asked_by, [b.username], "A is asked by B");
  await within(sa.socket.acceptPartyMember(pid, asked.presences[0]), "A accepts B");
  const joined = await nextWhere(
    sb.party,
    (m) => m.type === "presence" && names(m.joins).includes(b.username),
    "B's join, at B",
  );
  facts.b_joined = names(joined.joins);
  const bPresence = joined.joins.find((p) => p.username === b.username);
  await nextWhere(sa.party, (m) => m.type === "presence" && names(m.joins).includes(b.username), "B's join, at A");

  await within(sb.socket.sendPartyData(pid, 3, "from B"), "B sends");
  const atA = await nextWhere(sa.party, (m) => m.type === "data", "B's data, at A");
  facts.a_got = [Number(atA.op_code), atA.presence.username];
  checkEqual(facts.a_got, [3, b.username], "A gets B's data");
  await within(sa.socket.sendPartyData(pid, 4, "from A"), "A sends");
  const atB = await nextWhere(sb.party, (m) => m.type === "data", "A's data, at B");
  facts.b_got = [Number(atB.op_code), atB.presence.username];
  checkEqual(facts.b_got, [4, a.username], "B gets A's data");

  await within(sa.socket.promotePartyMember(pid, bPresence), "A promotes B");
  const leader = await nextWhere(sb.party, (m) => m.type === "leader", "the new leader, at B");
  facts.leader = leader.presence.username;
  checkEqual(facts.leader, b.username, "B leads");
  await within(sb.socket.closeParty(pid), "B closes the party, from the other node");
  const closed = await nextWhere(sa.party, (m) => m.type === "close", "the close, at A");
  facts.a_closed = closed.party_id === pid;
  checkEqual(facts.a_closed, true, "A is told the party closed");
  sa.socket.disconnect(false);
  sb.socket.disconnect(false);
}

export async function scenarioClusterMatchmaker() {
  const { a, b, sa, sb } = await twoUsersOnTwoNodes();
  const mode = `duel-${randomUUID()}`;
  const ticketA = await within(sa.socket.addMatchmaker("*", 2, 2, { mode }), "A adds a ticket");
  await sleep(SETTLE_MS);
  const ticketB = await within(
    sb.socket.addMatchmaker(`+properties.mode:${mode}`, 2, 2, { mode }),
    "B adds a ticket on the other node",
  );
  const atA = await sa.matched.next("A's match");
  const atB = await sb.matched.next("B's match");
  facts.same_token = atA.token === atB.token && atA.token !== "";
  facts.tickets = [atA.ticket === ticketA.ticket, atB.ticket === ticketB.ticket];
  facts.users = names((atA.users ?? []).map((u) => u.presence));
  checkEqual(facts.same_token, true, "A and B get the same match");
  checkEqual(facts.users, [a.username, b.username].sort(), "both are in it");
  const joinedA = await within(sa.socket.joinMatch(undefined, atA.token), "A joins by token");
  await sleep(SETTLE_MS);
  const joinedB = await within(sb.socket.joinMatch(undefined, atB.token), "B joins by token");
  facts.same_match = joinedA.match_id === joinedB.match_id;
  facts.b_sees = names(joinedB.presences);
  checkEqual(facts.same_match, true, "the token names one match");
  checkEqual(facts.b_sees, [a.username], "B's match lists A");
  sa.socket.disconnect(false);
  sb.socket.disconnect(false);
}

export async function scenarioClusterThree() {
  if (!opts["other-port"] || !opts["third-port"]) throw new Error("--other-port and --third-port");
  const clients = [newClient(), newClient(opts["other-port"]), newClient(opts["third-port"])];
  const [a, b, c] = await Promise.all(clients.map((client, i) => newUser(client, `t${i}`)));
  const sockets = clients.map((client, i) => openSocket(client, "ABC"[i]));
  for (const s of sockets) {
    s.party = new Inbox(`${s.label}'s party messages`);
    s.messages = new Inbox(`${s.label}'s channel messages`);
    s.socket.onpartypresence = (e) => s.party.push({ type: "presence", ...e });
    s.socket.onpartydata = (d) => s.party.push({ type: "data", ...d });
    s.socket.onchannelmessage = (m) => s.messages.push(m);
  }
  const [sa, sb, sc] = sockets;
  await within(sb.socket.connect(b.session, true, STEP_MS), "B connects to the second node");
  await within(sc.socket.connect(c.session, true, STEP_MS), "C connects to the third node");
  await within(sa.socket.connect(a.session, true, STEP_MS), "A connects to the first node");
  await sleep(SETTLE_MS);

  // Status: B and C follow A, on another node each; A's update reaches both.
  for (const s of [sb, sc]) {
    const followed = await within(s.socket.followUsers([a.user_id]), `${s.label} follows A`);
    checkEqual(names(followed.presences), [a.username], `${s.label} sees A online`);
  }
  await within(sa.socket.updateStatus("playing"), "A updates its status");
  facts.status_seen = [];
  for (const s of [sb, sc]) {
    for (;;) {
      const event = await s.presences.next(`A's status, at ${s.label}`);
      const joined = (event.joins ?? []).find((p) => p.user_id === a.user_id);
      if (joined && joined.status === "playing") break;
    }
    facts.status_seen.push(s.label);
  }

  // A party of three nodes: C's data reaches A and B.
  const party = await within(sa.socket.createParty(true, 3), "A creates an open party");
  await sleep(SETTLE_MS);
  await within(sb.socket.joinParty(party.party_id), "B joins");
  await within(sc.socket.joinParty(party.party_id), "C joins");
  await nextWhere(sa.party, (m) => m.type === "presence" && names(m.joins).includes(c.username), "C's join, at A");
  await sleep(SETTLE_MS);
  await within(sc.socket.sendPartyData(party.party_id, 5, "from C"), "C sends party data");
  facts.party_data = [];
  for (const s of [sa, sb]) {
    const data = await nextWhere(s.party, (m) => m.type === "data", `C's data, at ${s.label}`);
    facts.party_data.push([s.label, Number(data.op_code), data.presence.username === c.username]);
  }
  checkEqual(facts.party_data, [["A", 5, true], ["B", 5, true]], "A and B get C's party data");

  // A room of three nodes: C's message reaches A and B.
  const room = `three-${randomUUID()}`;
  const channels = [];
  for (const s of sockets) {
    channels.push(await within(s.socket.joinChat(room, ROOM, false, false), `${s.label} joins the room`));
    await sleep(SETTLE_MS);
  }
  await within(sc.socket.writeChatMessage(channels[2].id, { text: "from C" }), "C writes");
  facts.room = [];
  for (const s of [sa, sb]) {
    const m = await s.messages.next(`C's message, at ${s.label}`);
    facts.room.push([s.label, m.username === c.username, content(m).text]);
  }
  checkEqual(facts.room, [["A", true, "from C"], ["B", true, "from C"]], "A and B get C's message");
  for (const s of sockets) s.socket.disconnect(false);
}
