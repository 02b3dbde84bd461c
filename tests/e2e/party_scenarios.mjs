// Party scenarios for scenarios.mjs (which runs them; see its header).
//
//   party  four users and two parties. An open party (max 3): create, joins, party data
//          (a string and bytes, never back to the sender), a fourth user refused,
//          promote, the leader leaving (a new leader is announced), close. A closed
//          party: a join request, listing requests, accept, a request declined with
//          removePartyMember, a non-leader refused every leader-only request (its
//          socket stays usable), and a member's socket going away.
//
// Every party message a socket receives goes, normalised (JSON and protobuf decode
// differently: absent fields, int64 op codes, bytes), into one inbox per socket, in
// arrival order, so the Python side can assert exact sequences across message types.

import {
  QUIET_MS,
  STEP_MS,
  UUID_RE,
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

// --- normalising what nakama-js hands over ------------------------------------------------

function hex(bytes) {
  if (bytes === undefined || bytes === null) return "";
  return Buffer.from(bytes).toString("hex");
}

const presences = (list) => (list ?? []).map(presence);

/** A Party (answer to party_create, or pushed on a join). */
function party(p) {
  check(p && typeof p === "object", "a party", p);
  return {
    party_id: p.party_id,
    open: p.open ?? false,
    max_size: p.max_size ?? 0,
    self: p.self ? presence(p.self) : null,
    leader: p.leader ? presence(p.leader) : null,
    presences: presences(p.presences),
  };
}

function userFacts(user) {
  return { custom_id: user.customId, user_id: user.user_id, username: user.username };
}

// --- sockets with a party inbox ---------------------------------------------------------------

function openPartySocket(client, label) {
  const s = openSocket(client, label);
  s.party = new Inbox(`${label}'s party messages`);
  // Raw presences (as the adapter decoded them) to hand back in requests, by user id from
  // presence events: nakama-js-protobuf 2.8 misreads a Nakama 3.x Party (see below).
  s.raw = {};
  const socket = s.socket;
  socket.onparty = (p) =>
    s.party.push({ type: "party", ...party(p), keys: setKeys(p) });
  socket.onpartypresence = (e) => {
    for (const j of e.joins ?? []) s.raw[j.user_id] = j;
    s.party.push({
      type: "presence",
      party_id: e.party_id,
      joins: presences(e.joins),
      leaves: presences(e.leaves),
    });
  };
  socket.onpartyleader = (l) =>
    s.party.push({
      type: "leader",
      party_id: l.party_id,
      presence: l.presence ? presence(l.presence) : null,
    });
  socket.onpartydata = (d) =>
    s.party.push({
      type: "data",
      party_id: d.party_id,
      presence: d.presence ? presence(d.presence) : null,
      op_code: Number(d.op_code ?? 0),
      data: hex(d.data),
    });
  socket.onpartyclose = (c) => s.party.push({ type: "close", party_id: c.party_id });
  socket.onpartyjoinrequest = (r) => {
    s.raw.requests = r.presences ?? [];
    s.party.push({ type: "join_request", party_id: r.party_id, presences: presences(r.presences) });
  };
  socket.onpartymatchmakerticket = (t) =>
    s.party.push({ type: "ticket", party_id: t.party_id, ticket: t.ticket });
  return s;
}

/** The items of an inbox up to the one where every predicate has matched one. */
async function untilAll(inbox, wanted, what) {
  const seen = [];
  const pending = [...wanted];
  while (pending.length) {
    const item = await inbox.next(`${what} (so far ${JSON.stringify(seen)})`);
    seen.push(item);
    const hit = pending.findIndex((p) => p(item));
    if (hit >= 0) pending.splice(hit, 1);
  }
  return seen;
}

const until = (inbox, wanted, what) => untilAll(inbox, [wanted], what);

const isType = (type, pid) => (e) => e.type === type && e.party_id === pid;
const joinOf = (pid, userId) => (e) =>
  e.type === "presence" && e.party_id === pid && e.joins.some((j) => j.user_id === userId);
const leaveOf = (pid, userId) => (e) =>
  e.type === "presence" && e.party_id === pid && e.leaves.some((l) => l.user_id === userId);

/** What a request that succeeds answers: the keys of its envelope (or null). */
function answerKeys(answer) {
  return answer && typeof answer === "object" ? setKeys(answer) : null;
}

/** Whatever is left in each inbox (after a quiet period). */
async function drain(sockets) {
  await sleep(QUIET_MS);
  const left = {};
  for (const s of sockets) left[s.label] = s.party.items.splice(0);
  return left;
}

async function pingOk(s, what) {
  const pong = await within(s.socket.send({ ping: {} }), `${s.label} pings ${what}`);
  return pong.pong !== undefined && s.socket.adapter.isOpen();
}

async function close(s) {
  s.socket.disconnect(false);
  return s.disconnects.next(`${s.label}'s close`);
}

// --- party ------------------------------------------------------------------------------------

export async function scenarioParty() {
  const client = newClient();
  const users = await Promise.all(["pa", "pb", "pc", "pd"].map((p) => newUser(client, p)));
  const [a, b, c] = users;
  const labels = ["A", "B", "C", "D"];
  labels.forEach((label, i) => {
    facts[label.toLowerCase()] = userFacts(users[i]);
  });
  const sockets = labels.map((label) => openPartySocket(client, label));
  const [sa, sb, sc, sd] = sockets;
  await Promise.all(
    sockets.map((s, i) => within(s.socket.connect(users[i].session, false, STEP_MS), `${s.label} connects`)),
  );
  const byUser = new Map(sockets.map((s, i) => [users[i].user_id, s]));

  // --- an open party, max 3 ------------------------------------------------------------------
  const created = await within(sa.socket.createParty(true, 3), "A creates an open party");
  const pid = created.party_id;
  facts.open_created = party(created);
  facts.open_created_keys = setKeys(created);
  check(typeof pid === "string" && UUID_RE.test(pid.split(".")[0]), "party id", pid);
  facts.open_a_until_own_join = await until(sa.party, joinOf(pid, a.user_id), "A's own join");
  facts.a.session_id = sa.raw[a.user_id].session_id;

  // B joins: its answer is empty, then it gets the party; everyone is told.
  facts.open_b_join_answer = answerKeys(await within(sb.socket.joinParty(pid), "B joins"));
  facts.open_b_until_party = await untilAll(
    sb.party,
    [isType("party", pid), joinOf(pid, b.user_id)],
    "B gets the party and its join",
  );
  const rawB = sb.raw[b.user_id];
  facts.b.session_id = rawB.session_id;
  facts.open_a_until_b_join = await until(sa.party, joinOf(pid, b.user_id), "A sees B join");

  facts.open_c_join_answer = answerKeys(await within(sc.socket.joinParty(pid), "C joins"));
  facts.open_c_until_party = await untilAll(
    sc.party,
    [isType("party", pid), joinOf(pid, c.user_id)],
    "C gets the party and its join",
  );
  facts.c.session_id = sc.raw[c.user_id].session_id;
  facts.open_a_until_c_join = await until(sa.party, joinOf(pid, c.user_id), "A sees C join");
  facts.open_b_until_c_join = await until(sb.party, joinOf(pid, c.user_id), "B sees C join");

  // Party data: a string from A (op 1), bytes from B (op 7), to the others only.
  await within(sa.socket.sendPartyData(pid, 1, "hello party"), "A sends op 1");
  facts.open_op1 = {
    b: await until(sb.party, isType("data", pid), "op 1 at B"),
    c: await until(sc.party, isType("data", pid), "op 1 at C"),
  };
  const bytes = Uint8Array.from([0, 1, 2, 127, 128, 255]);
  await within(sb.socket.sendPartyData(pid, 7, bytes), "B sends op 7");
  facts.open_op7 = {
    a: await until(sa.party, isType("data", pid), "op 7 at A (A never gets its own op 1)"),
    c: await until(sc.party, isType("data", pid), "op 7 at C"),
  };

  // A fourth user: the party is full; D's socket stays usable.
  facts.open_d_full = socketError(await rejection(sd.socket.joinParty(pid), "D joins the full party"));
  facts.open_d_ok_after_full = await pingOk(sd, "after the refused join");

  // A promotes B: everyone is told.
  const promoted = await within(sa.socket.promotePartyMember(pid, rawB), "A promotes B");
  facts.open_promote_answer = promoted === undefined ? null : promoted;
  facts.open_leader_b = {};
  for (const s of [sa, sb, sc]) {
    facts.open_leader_b[s.label] = await until(s.party, isType("leader", pid), `${s.label} sees B lead`);
  }

  // The leader (B) leaves: the others get a new leader and B's leave.
  facts.open_b_leave_answer = answerKeys(await within(sb.socket.leaveParty(pid), "B leaves"));
  facts.open_after_b_leaves = {};
  for (const s of [sa, sc]) {
    facts.open_after_b_leaves[s.label] = await untilAll(
      s.party,
      [isType("leader", pid), leaveOf(pid, b.user_id)],
      `${s.label} sees B leave and a new leader`,
    );
  }
  const announced = facts.open_after_b_leaves.A.find((e) => e.type === "leader");
  const leaderSocket = byUser.get(announced?.presence?.user_id);
  check(leaderSocket === sa || leaderSocket === sc, "a remaining member leads", announced);
  facts.open_new_leader = leaderSocket.label;

  // The new leader closes the party: the members get party_close.
  const other = leaderSocket === sa ? sc : sa;
  facts.open_close_answer = answerKeys(await within(leaderSocket.socket.closeParty(pid), "close"));
  facts.open_other_until_close = await until(other.party, isType("close", pid), "party close");
  facts.open_left_after_close = await drain(sockets);
  facts.open_d_join_closed = socketError(
    await rejection(sd.socket.joinParty(pid), "D joins the closed party"),
  );

  // --- a closed party ---------------------------------------------------------------------------
  const closed = await within(sa.socket.createParty(false, 3), "A creates a closed party");
  const cid = closed.party_id;
  facts.closed_created = party(closed);
  facts.closed_a_until_own_join = await until(sa.party, joinOf(cid, a.user_id), "A's own join");

  // B asks to join: the leader gets the request; listing shows it.
  facts.closed_b_join_answer = answerKeys(await within(sb.socket.joinParty(cid), "B asks to join"));
  facts.closed_a_until_b_request = await until(sa.party, isType("join_request", cid), "B's request");
  const rawRequestB = sa.raw.requests[0];
  const listed = await within(sa.socket.listPartyJoinRequests(cid), "A lists the requests");
  facts.closed_listed = { party_id: listed?.party_id, presences: presences(listed?.presences) };

  // B (not the leader) cannot accept itself; its socket stays usable.
  facts.closed_b_accepts_itself = socketError(
    await rejection(sb.socket.acceptPartyMember(cid, rawRequestB), "B accepts itself"),
  );
  facts.closed_b_ok_after_accept = await pingOk(sb, "after its refused accept");

  // A accepts B: B gets the party, both the join.
  facts.closed_accept_answer = answerKeys(
    await within(sa.socket.acceptPartyMember(cid, rawRequestB), "A accepts B"),
  );
  facts.closed_b_until_party = await untilAll(
    sb.party,
    [isType("party", cid), joinOf(cid, b.user_id)],
    "B gets the party and its join",
  );
  facts.closed_a_until_b_join = await until(sa.party, joinOf(cid, b.user_id), "A sees B join");

  // C asks; A declines with removePartyMember: C gets nothing, the list is empty.
  facts.closed_c_join_answer = answerKeys(await within(sc.socket.joinParty(cid), "C asks to join"));
  facts.closed_a_until_c_request = await until(sa.party, isType("join_request", cid), "C's request");
  const rawRequestC = sa.raw.requests[0];
  facts.closed_decline_answer = answerKeys(
    await within(sa.socket.removePartyMember(cid, rawRequestC), "A declines C"),
  );
  const relisted = await within(sa.socket.listPartyJoinRequests(cid), "A lists again");
  facts.closed_relisted = { party_id: relisted?.party_id, presences: presences(relisted?.presences) };

  // B, a member but not the leader: every leader-only request is refused.
  const rawA = sa.raw[a.user_id];
  facts.closed_b_refused = {};
  facts.closed_b_ok_after = {};
  const attempts = {
    accept: () => sb.socket.acceptPartyMember(cid, rawRequestC),
    remove: () => sb.socket.removePartyMember(cid, rawA),
    promote: () => sb.socket.promotePartyMember(cid, rawB),
    close: () => sb.socket.closeParty(cid),
    list: () => sb.socket.listPartyJoinRequests(cid),
  };
  for (const [name, attempt] of Object.entries(attempts)) {
    facts.closed_b_refused[name] = socketError(await rejection(attempt(), `B tries ${name}`));
    facts.closed_b_ok_after[name] = await pingOk(sb, `after its refused ${name}`);
  }
  facts.closed_left_after_refusals = await drain(sockets);

  // B's socket goes away: A is told B left.
  facts.closed_b_close = await close(sb);
  facts.closed_a_until_b_gone = await until(sa.party, leaveOf(cid, b.user_id), "A sees B go");

  // A leaves (the last member: the party ends), then everyone goes.
  facts.closed_a_leave_answer = answerKeys(await within(sa.socket.leaveParty(cid), "A leaves"));
  facts.closed_d_join_ended = socketError(
    await rejection(sd.socket.joinParty(cid), "D joins the ended party"),
  );
  facts.left_at_end = await drain(sockets);
  facts.closes = {};
  for (const s of [sa, sc, sd]) facts.closes[s.label] = await close(s);
  facts.frames = taps;
}
