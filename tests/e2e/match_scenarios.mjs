// Relayed multiplayer scenarios for scenarios.mjs (which runs them; see its header).
//
//   match_relayed  three users in a relayed match: create (no name), join, presence
//                  events, match data (string and bytes, to all and to listed
//                  presences), a named match created by two users, leave, a socket
//                  going away, joining an unknown match, and listing relayed matches.
//
// What the sockets receive is normalised (JSON and protobuf decode differently: absent
// fields, wrappers, int64 op codes) so both adapters give equal facts, and recorded as
// it arrives: the events a socket got while waiting for an expected one are kept too,
// so the Python side can assert the exact sequence.

import { randomUUID } from "node:crypto";

import {
  QUIET_MS,
  STEP_MS,
  UUID_RE,
  Inbox,
  check,
  checkEqual,
  facts,
  newClient,
  newUser,
  openSocket,
  opts,
  presence,
  rejection,
  sleep,
  socketError,
  taps,
  within,
} from "./scenarios.mjs";

// --- normalising what nakama-js hands over ------------------------------------------------

function bySession(list) {
  return [...list].sort((x, y) => (x.session_id < y.session_id ? -1 : x.session_id > y.session_id ? 1 : 0));
}

/** A Match (answer to match_create / match_join); presences sorted (Nakama: map order). */
function match(m) {
  check(m && typeof m === "object", "a match", m);
  return {
    match_id: m.match_id,
    authoritative: m.authoritative ?? false,
    label: m.label ?? null,
    size: m.size ?? 0,
    self: m.self ? presence(m.self) : null,
    presences: bySession((m.presences ?? []).map(presence)),
  };
}

function matchEvent(e) {
  return {
    match_id: e.match_id,
    joins: bySession((e.joins ?? []).map(presence)),
    leaves: bySession((e.leaves ?? []).map(presence)),
  };
}

function hex(bytes) {
  if (bytes === undefined || bytes === null) return "";
  return Buffer.from(bytes).toString("hex");
}

function matchData(d) {
  return {
    match_id: d.match_id,
    op_code: Number(d.op_code ?? 0),
    data: hex(d.data),
    presence: d.presence ? presence(d.presence) : null,
    reliable: d.reliable ?? false,
  };
}

/** A listed match (ApiMatch over HTTP): absent fields made explicit. */
function listed(m) {
  return {
    match_id: m.match_id,
    authoritative: m.authoritative ?? false,
    label: m.label ?? null,
    size: m.size ?? 0,
  };
}

function userFacts(user) {
  return { custom_id: user.customId, user_id: user.user_id, username: user.username };
}

// --- sockets with match inboxes -------------------------------------------------------------

function openMatchSocket(client, label) {
  const s = openSocket(client, label);
  s.data = new Inbox(`${label}'s match data`);
  s.events = new Inbox(`${label}'s match presence events`);
  s.socket.onmatchdata = (d) => s.data.push(matchData(d));
  s.socket.onmatchpresence = (e) => s.events.push(matchEvent(e));
  return s;
}

/** The events of an inbox up to and including the first one `wanted` accepts. */
async function until(inbox, wanted, what) {
  const seen = [];
  for (;;) {
    const item = await inbox.next(`${what} (so far ${JSON.stringify(seen)})`);
    seen.push(item);
    if (wanted(item)) return seen;
  }
}

const joinOf = (matchId, p) => (e) =>
  e.match_id === matchId && e.joins.some((j) => j.session_id === p.session_id);
const leaveOf = (matchId, p) => (e) =>
  e.match_id === matchId && e.leaves.some((l) => l.session_id === p.session_id);

async function close(s) {
  s.socket.disconnect(false);
  return s.disconnects.next(`${s.label}'s close`);
}

// --- match_relayed ----------------------------------------------------------------------------

export async function scenarioMatchRelayed() {
  const client = newClient();
  const [a, b, c] = await Promise.all([newUser(client, "ma"), newUser(client, "mb"), newUser(client, "mc")]);
  facts.a = userFacts(a);
  facts.b = userFacts(b);
  facts.c = userFacts(c);
  const sa = openMatchSocket(client, "A");
  const sb = openMatchSocket(client, "B");
  const sc = openMatchSocket(client, "C");
  await Promise.all(
    [
      [sa, a],
      [sb, b],
      [sc, c],
    ].map(([s, u]) => within(s.socket.connect(u.session, false, STEP_MS), `${s.label} connects`)),
  );

  // A creates a relayed match (no name): "<uuid>.", A itself, size 1.
  const created = await within(sa.socket.createMatch(), "A creates a match");
  const mid = created.match_id;
  facts.created = match(created);
  check(typeof mid === "string" && mid.endsWith(".") && UUID_RE.test(mid.slice(0, -1)), "match id", mid);
  const aSelf = facts.created.self;
  checkEqual(aSelf.user_id, a.user_id, "A's self in the match");
  check(UUID_RE.test(aSelf.session_id), "A's session id", aSelf);
  facts.a.session_id = aSelf.session_id;

  // B joins: its match lists A; A is told of B's join.
  const bJoined = await within(sb.socket.joinMatch(mid), "B joins the match");
  facts.b_joined = match(bJoined);
  const bSelf = facts.b_joined.self;
  const bRawSelf = bJoined.self;
  checkEqual(bSelf.user_id, b.user_id, "B's self in the match");
  facts.b.session_id = bSelf.session_id;
  facts.a_events_until_b_join = await until(sa.events, joinOf(mid, bSelf), "A sees B join");

  // C joins: its match lists A and B; both are told.
  const cJoined = await within(sc.socket.joinMatch(mid), "C joins the match");
  facts.c_joined = match(cJoined);
  const cSelf = facts.c_joined.self;
  checkEqual(cSelf.user_id, c.user_id, "C's self in the match");
  const cRawSelf = cJoined.self;
  facts.c.session_id = cSelf.session_id;
  facts.a_events_until_c_join = await until(sa.events, joinOf(mid, cSelf), "A sees C join");
  facts.b_events_until_c_join = await until(sb.events, joinOf(mid, cSelf), "B sees C join");

  // Data to everyone else: a string from A (op 1), bytes from B (op 2).
  const text = "hello match";
  await within(sa.socket.sendMatchState(mid, 1, text), "A sends op 1 (string)");
  facts.op1 = {
    b: await sb.data.next("op 1 at B"),
    c: await sc.data.next("op 1 at C"),
  };
  const bytes = Uint8Array.from([0, 1, 2, 127, 128, 255]);
  await within(sb.socket.sendMatchState(mid, 2, bytes, undefined, true), "B sends op 2 (bytes, reliable)");
  facts.op2 = {
    a: await sa.data.next("op 2 at A (the first data A gets: none of its own op 1)"),
    c: await sc.data.next("op 2 at C"),
  };
  facts.sent = { text_hex: Buffer.from(text).toString("hex"), bytes_hex: hex(bytes) };

  // Data to listed presences: op 3 from A to B only, then op 4 to everyone: C's next data
  // is op 4 (op 3 never reached it); B gets op 3 then op 4.
  await within(sa.socket.sendMatchState(mid, 3, "for B", [bRawSelf]), "A sends op 3 to B");
  await within(sa.socket.sendMatchState(mid, 4, "for all"), "A sends op 4");
  facts.op3_op4 = {
    b: [await sb.data.next("op 3 at B"), await sb.data.next("op 4 at B")],
    c: [await sc.data.next("op 4 at C")],
  };

  // A sender that lists itself gets its own data (as in Nakama): op 5 from A to [A, C],
  // then op 6 (no data) from C to everyone: A gets op 5 and op 6, B (not listed) op 6 only.
  await within(sa.socket.sendMatchState(mid, 5, "for A and C", [created.self, cRawSelf]), "A sends op 5");
  facts.op5_op6 = { c: [await sc.data.next("op 5 at C")] };
  await within(sc.socket.sendMatchState(mid, 6, ""), "C sends op 6 (no data)");
  facts.op5_op6.a = [await sa.data.next("op 5 at A, its own"), await sa.data.next("op 6 at A")];
  facts.op5_op6.b = [await sb.data.next("op 6 at B")];

  // A named match, created by A then B: in Nakama the id is derived from the name (a
  // UUID v5), so both get the same match. nakama-js-protobuf 2.8's MatchCreate has no
  // `name` field (its encoder writes nothing): over protobuf each gets a new match.
  const name = `arena-${randomUUID()}`;
  facts.name = name;
  const namedA = await within(sa.socket.createMatch(name), "A creates the named match");
  facts.named_a = match(namedA);
  const nid = namedA.match_id;
  const namedB = await within(sb.socket.createMatch(name), "B creates the named match");
  facts.named_b = match(namedB);
  const sameNamed = namedB.match_id === nid;
  if (opts.adapter === "json") {
    facts.a_events_until_b_named_join = await until(
      sa.events,
      joinOf(nid, facts.named_b.self),
      "A sees B join the named match",
    );
  } else {
    check(!sameNamed, "nakama-js-protobuf sends no match name: two matches", [nid, namedB.match_id]);
    facts.a_events_until_b_named_join = await until(
      sa.events,
      joinOf(nid, facts.named_a.self),
      "A's own join of its named match",
    );
  }

  // Listing relayed matches (authoritative=false): the matches, with their sizes.
  const ours = new Set([mid, nid, namedB.match_id]);
  const list = await within(client.listMatches(a.session, 100, false), "listMatches");
  const all = (list.matches ?? []).map(listed);
  facts.listed = all.filter((m) => ours.has(m.match_id));
  facts.listed_others = all.length - facts.listed.length;

  // B leaves the named match, then A: A is told of B's leave.
  await within(sb.socket.leaveMatch(namedB.match_id), "B leaves the named match");
  if (sameNamed) {
    facts.a_events_until_b_named_leave = await until(
      sa.events,
      leaveOf(nid, facts.named_b.self),
      "A sees B leave the named match",
    );
  }
  await within(sa.socket.leaveMatch(nid), "A leaves the named match");

  // B leaves the first match: A and C are told.
  await within(sb.socket.leaveMatch(mid), "B leaves the match");
  facts.a_events_until_b_leave = await until(sa.events, leaveOf(mid, bSelf), "A sees B leave");
  facts.c_events_until_b_leave = await until(sc.events, leaveOf(mid, bSelf), "C sees B leave");

  // Joining a match that does not exist fails (MATCH_NOT_FOUND); B's socket stays usable.
  const unknown = `${randomUUID()}.`;
  facts.unknown_join = socketError(await rejection(sb.socket.joinMatch(unknown), "B joins an unknown match"));
  const pong = await within(sb.socket.send({ ping: {} }), "B pings after the failed join");
  facts.b_pong_after_unknown = pong.pong !== undefined;
  facts.b_open_after_unknown = sb.socket.adapter.isOpen();

  // C's socket goes away: A is told C left.
  facts.c_close = await close(sc);
  facts.a_events_until_c_disconnect = await until(sa.events, leaveOf(mid, cSelf), "A sees C go");

  // B, out of the match, sends to it: ignored (A's next data would be op 7). Then A leaves and everyone goes.
  await within(sb.socket.sendMatchState(mid, 7, "outsider"), "B sends to a match it left");
  await within(sa.socket.leaveMatch(mid), "A leaves the match");
  await sleep(QUIET_MS);
  facts.leftover = {};
  for (const s of [sa, sb, sc]) {
    facts.leftover[s.label] = { data: s.data.items.splice(0), events: s.events.items.splice(0) };
  }
  facts.b_close = await close(sb);
  facts.a_close = await close(sa);
  facts.frames = taps;
}
