// Matchmaker scenarios for scenarios.mjs (which runs them; see its header). The server
// runs its matchmaker every second (matchmaker.interval_sec = 1).
//
//   matchmaker       ten users. A ticket added and removed (and removed again: refused);
//                    a pair with "*" (2..2) matched with one token, each its own ticket
//                    and self, both joining the relayed match by token; four players
//                    4..4 by "+properties.region:europe" matched together while an
//                    asia player ("+properties.region:asia") is not; a numeric range
//                    ("+properties.rank:>=5") matching ranks 7 and 5 but not a rank 2
//                    player (whose own query wants "<=3"). Tickets never matched are
//                    still there to remove at the end.
//   matchmaker_hook  the server's matchmaker_matched hook creates an "arena" match: two
//                    players get its match id (no token) and join it.
//
// What each socket receives (matchmaker_matched, match presences) goes, normalised
// (JSON and protobuf decode differently: absent fields, int64, empty strings), into an
// inbox per socket; the Python side asserts the facts.

import {
  QUIET_MS,
  STEP_MS,
  Inbox,
  check,
  facts,
  newClient,
  newUser,
  openSocket,
  presence,
  rejection,
  setKeys,
  sleep,
  socketError,
  taps,
  within,
} from "./scenarios.mjs";

const MATCH_WAIT_MS = 5000; // a matchmaker interval (1 s) and then some

// --- normalising ------------------------------------------------------------------------

const orNull = (v) => (v === undefined || v === "" ? null : v);

function numbers(map) {
  const out = {};
  for (const [k, v] of Object.entries(map ?? {})) out[k] = Number(v);
  return out;
}

function mmUser(u) {
  return {
    presence: u?.presence ? presence(u.presence) : null,
    party_id: orNull(u?.party_id),
    string_properties: { ...(u?.string_properties ?? {}) },
    numeric_properties: numbers(u?.numeric_properties),
  };
}

const byUsername = (a, b) =>
  (a.presence?.username ?? "").localeCompare(b.presence?.username ?? "");

function matched(m) {
  return {
    ticket: orNull(m.ticket),
    token: orNull(m.token),
    match_id: orNull(m.match_id),
    self: m.self ? mmUser(m.self) : null,
    users: (m.users ?? []).map(mmUser).sort(byUsername),
    keys: setKeys(m),
  };
}

function match(m) {
  return {
    match_id: m?.match_id,
    authoritative: m?.authoritative ?? false,
    label: orNull(m?.label),
    size: m?.size ?? 0,
    self: m?.self ? presence(m.self) : null,
    presences: (m?.presences ?? []).map(presence).sort((a, b) => a.username.localeCompare(b.username)),
  };
}

function userFacts(user) {
  return { custom_id: user.customId, user_id: user.user_id, username: user.username };
}

// --- sockets with a matchmaker inbox -----------------------------------------------------

async function player(client, label, prefix) {
  const user = await newUser(client, prefix);
  const s = openSocket(client, label);
  s.user = user;
  s.matched = new Inbox(`${label}'s matchmaker_matched`);
  s.joins = new Inbox(`${label}'s match presence events`);
  s.socket.onmatchmakermatched = (m) => s.matched.push(matched(m));
  s.socket.onmatchpresence = (e) =>
    s.joins.push({
      match_id: e.match_id,
      joins: (e.joins ?? []).map(presence),
      leaves: (e.leaves ?? []).map(presence),
    });
  await within(s.socket.connect(user.session, false, STEP_MS), `${label} connects`);
  return s;
}

async function add(s, query, min, max, strings, numerics) {
  const t = await within(
    s.socket.addMatchmaker(query, min, max, strings, numerics),
    `${s.label} addMatchmaker ${query}`,
  );
  check(t && typeof t.ticket === "string" && t.ticket.length > 0, `${s.label}'s ticket`, t);
  return t.ticket;
}

/** A socket's match presence events up to the one with a join of `userId`. */
async function untilJoinOf(s, userId, what) {
  const seen = [];
  for (;;) {
    const e = await s.joins.next(`${what} (so far ${JSON.stringify(seen)})`);
    seen.push(e);
    if (e.joins.some((j) => j.user_id === userId)) return seen;
  }
}

async function close(s) {
  s.socket.disconnect(false);
  return s.disconnects.next(`${s.label}'s close`);
}

async function closeAll(sockets) {
  const closes = {};
  for (const s of sockets) closes[s.label] = await close(s);
  return closes;
}

const leftOver = (sockets) =>
  Object.fromEntries(sockets.map((s) => [s.label, s.matched.items.splice(0)]));

// --- matchmaker ---------------------------------------------------------------------------

export async function scenarioMatchmaker() {
  const client = newClient();
  const labels = [
    ["S", "solo"], ["A", "pa"], ["B", "pb"],
    ["E1", "eu1"], ["E2", "eu2"], ["E3", "eu3"], ["E4", "eu4"], ["X", "asia"],
    ["R1", "rk1"], ["R2", "rk2"], ["R3", "rk3"],
  ];
  const sockets = await Promise.all(labels.map(([label, prefix]) => player(client, label, prefix)));
  const by = Object.fromEntries(sockets.map((s) => [s.label, s]));
  facts.users = Object.fromEntries(sockets.map((s) => [s.label, userFacts(s.user)]));

  // A ticket added and removed; removing it again is refused, the socket stays usable.
  const S = by.S;
  facts.solo_ticket = await add(S, "+properties.mode:nobody", 2, 2, { mode: "solo" }, {});
  const removed = await within(S.socket.removeMatchmaker(facts.solo_ticket), "S removes its ticket");
  facts.solo_remove_answer = removed ? setKeys(removed) : null;
  facts.solo_remove_again = socketError(
    await rejection(S.socket.removeMatchmaker(facts.solo_ticket), "S removes its ticket again"),
  );
  const pong = await within(S.socket.send({ ping: {} }), "S pings after the refusal");
  facts.solo_ok_after = pong.pong !== undefined && S.socket.adapter.isOpen();

  // A pair with "*": one token, each its own ticket and self, both users listed.
  const { A, B } = by;
  facts.pair_tickets = {
    A: await add(A, "*", 2, 2, { mode: "duel" }, { skill: 10 }),
    B: await add(B, "*", 2, 2, { mode: "duel", side: "b" }, { skill: 12.5 }),
  };
  facts.pair_matched = {
    A: await A.matched.next("A matched", MATCH_WAIT_MS),
    B: await B.matched.next("B matched", MATCH_WAIT_MS),
  };
  // Both join the relayed match by token and see each other.
  const token = facts.pair_matched.A.token;
  facts.pair_join = { A: match(await within(A.socket.joinMatch(undefined, token), "A joins by token")) };
  facts.pair_join.B = match(
    await within(B.socket.joinMatch(undefined, facts.pair_matched.B.token), "B joins by token"),
  );
  facts.pair_a_events = await untilJoinOf(A, B.user.user_id, "A sees B join");
  facts.pair_b_events = await untilJoinOf(B, B.user.user_id, "B's own join");

  // Region (4..4, strings) and rank (2..2, numeric range) at once; their queries are
  // disjoint, so the two groups cannot mix.
  const europe = ["E1", "E2", "E3", "E4"].map((l) => by[l]);
  const ranks = { R1: 7, R2: 5, R3: 2 };
  facts.region_tickets = {};
  for (const s of europe) {
    facts.region_tickets[s.label] = await add(s, "+properties.region:europe", 4, 4, { region: "europe" }, {});
  }
  facts.region_tickets.X = await add(by.X, "+properties.region:asia", 4, 4, { region: "asia" }, {});
  facts.rank_tickets = {
    R1: await add(by.R1, "+properties.rank:>=5", 2, 2, {}, { rank: ranks.R1 }),
    R2: await add(by.R2, "+properties.rank:>=5", 2, 2, {}, { rank: ranks.R2 }),
    R3: await add(by.R3, "+properties.rank:<=3", 2, 2, {}, { rank: ranks.R3 }),
  };
  facts.region_matched = {};
  for (const s of europe) facts.region_matched[s.label] = await s.matched.next(`${s.label} matched`, MATCH_WAIT_MS);
  facts.rank_matched = {};
  for (const l of ["R1", "R2"]) facts.rank_matched[l] = await by[l].matched.next(`${l} matched`, MATCH_WAIT_MS);
  // The four join by token, one after the other.
  facts.region_joins = {};
  for (const s of europe) {
    const m = facts.region_matched[s.label];
    facts.region_joins[s.label] = match(
      await within(s.socket.joinMatch(undefined, m.token), `${s.label} joins by token`),
    );
  }
  // Another matchmaker round: X and R3 stay unmatched, their tickets still there.
  await sleep(1200 + QUIET_MS);
  facts.left_unmatched = leftOver(sockets);
  facts.unmatched_remove = {};
  for (const l of ["X", "R3"]) {
    const ticket = l === "X" ? facts.region_tickets.X : facts.rank_tickets.R3;
    const answer = await within(by[l].socket.removeMatchmaker(ticket), `${l} removes its ticket`);
    facts.unmatched_remove[l] = answer ? setKeys(answer) : null;
  }

  facts.closes = await closeAll(sockets);
  facts.frames = taps;
}

// --- matchmaker_hook ------------------------------------------------------------------------

export async function scenarioMatchmakerHook() {
  const client = newClient();
  const [H1, H2] = await Promise.all([player(client, "H1", "hk1"), player(client, "H2", "hk2")]);
  facts.users = { H1: userFacts(H1.user), H2: userFacts(H2.user) };
  facts.tickets = {
    H1: await add(H1, "*", 2, 2, { mode: "arena" }, {}),
    H2: await add(H2, "*", 2, 2, { mode: "arena" }, {}),
  };
  facts.matched = {
    H1: await H1.matched.next("H1 matched", MATCH_WAIT_MS),
    H2: await H2.matched.next("H2 matched", MATCH_WAIT_MS),
  };
  const mid = facts.matched.H1.match_id;
  check(typeof mid === "string" && mid.length > 0, "a match id", facts.matched.H1);
  facts.joins = {
    H1: match(await within(H1.socket.joinMatch(mid, undefined, { team: "red" }), "H1 joins")),
  };
  facts.joins.H2 = match(await within(H2.socket.joinMatch(mid, undefined, { team: "blue" }), "H2 joins"));
  facts.h1_events = await untilJoinOf(H1, H2.user.user_id, "H1 sees H2 join");
  facts.left_unmatched = leftOver([H1, H2]);
  facts.closes = await closeAll([H1, H2]);
  facts.frames = taps;
}
