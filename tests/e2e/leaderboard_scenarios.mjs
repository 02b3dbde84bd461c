// Leaderboards through nakama-js's own calls, for scenarios.mjs (which runs them; see its
// header). HTTP only, so both adapters give the same facts. The boards are made by game
// code: the server's runtime must have the RPCs of tests/leaderboard_modules
// (lb_create, lb_write; leaderboards.py for nakama_rt, leaderboards.lua for Nakama). Every
// run makes boards of its own (a random suffix), so a long-lived reference can run them.
//
//   leaderboard_pages      three players write scores with subscores and metadata; pages
//                          of 2 are followed by next_cursor and back by prev_cursor, with
//                          ranks, rank_count and the records of the owners asked for.
//   leaderboard_operators  a "best" board keeps the better score, an "incr" board adds;
//                          the operator override (ApiOperator) of a write.
//   leaderboard_around     five players on an ascending "set" board: the records around
//                          an owner; a player deletes their own record.
//   leaderboard_refusals   an authoritative board refuses a player's write and delete
//                          (403), takes the server's (lb_write); a missing board is 404.
//   leaderboard_reset      a daily reset gives records an expiry_time, which selects the
//                          period a listing reads.
//
// What nakama-js 2.8.0 gives a game (dist/nakama-js.esm.mjs): its Client turns score,
// subscore, rank, num_score, max_num_score and rank_count into numbers (absent: 0), parses
// metadata, drops create_time, and passes update_time and expiry_time on as the server's
// RFC 3339 strings. Client.writeLeaderboardRecord sends metadata, score and subscore only
// (an `operator` is dropped), ApiOperator is a type (api.gen.d.ts) and not exported at
// run time, and the Client has no deleteLeaderboardRecord: a game reaches both through
// the generated API the Client holds (client.apiClient), which passes the body as is and
// answers the server's JSON (int64 fields as strings).

import { randomUUID } from "node:crypto";

import { check, checkEqual, describe, facts, newClient, newUser, rejection, within } from "./scenarios.mjs";

/** nakama-js's ApiOperator (api.gen.d.ts: a TypeScript enum, not in the bundle). */
const ApiOperator = { NO_OVERRIDE: 0, BEST: 1, SET: 2, INCREMENT: 3, DECREMENT: 4 };

const RFC3339_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const MAX_NUM_SCORE = 1000000; // Nakama's default for a board without a limit

/** A failed HTTP call: nakama-js rejects with the fetch Response; its JSON body is read. */
async function httpError(reason) {
  check(reason instanceof Response, "an HTTP error response", describe(reason));
  return { status: reason.status, body: await within(reason.json(), "the error body") };
}

function boardId(name) {
  return `e2e-${name}-${randomUUID().slice(0, 8)}`;
}

async function createBoard(client, session, spec) {
  const answer = await within(client.rpc(session, "lb_create", spec), `lb_create ${spec.id}`);
  checkEqual(answer.payload, {}, `lb_create ${spec.id} answered`);
}

/** A record as nakama-js's Client gives it, checked for its board and times and kept
 * without them (update_time is this second's; a board without reset has no expiry). */
function record(r, board, what) {
  checkEqual(r.leaderboard_id, board, `${what}: leaderboard_id`);
  check(RFC3339_SECONDS.test(r.update_time), `${what}: update_time in RFC 3339`, r.update_time);
  const age = Math.abs(Date.now() - Date.parse(r.update_time));
  check(age < 300000, `${what}: update_time is now`, r.update_time);
  check(r.create_time === undefined, `${what}: nakama-js drops create_time`, r.create_time);
  return {
    owner_id: r.owner_id,
    username: r.username,
    score: r.score,
    subscore: r.subscore,
    num_score: r.num_score,
    max_num_score: r.max_num_score,
    rank: r.rank,
    metadata: r.metadata ?? null,
    expiry_time: r.expiry_time ?? null,
  };
}

/** A page as nakama-js's Client gives it; cursors are opaque, so only their presence. */
function page(p, board, what) {
  return {
    records: p.records.map((r, i) => record(r, board, `${what}: record ${i}`)),
    owner_records: p.owner_records.map((r, i) => record(r, board, `${what}: owner record ${i}`)),
    next: typeof p.next_cursor === "string" && p.next_cursor.length > 0,
    prev: typeof p.prev_cursor === "string" && p.prev_cursor.length > 0,
    rank_count: p.rank_count,
  };
}

/** What a record of `user` should look like. */
function expected(user, fields) {
  return {
    owner_id: user.user_id,
    username: user.username,
    score: 0,
    subscore: 0,
    num_score: 1,
    max_num_score: MAX_NUM_SCORE,
    rank: 0,
    metadata: {},
    expiry_time: null,
    ...fields,
  };
}

// --- leaderboard_pages --------------------------------------------------------------------

export async function scenarioLeaderboardPages() {
  const client = newClient();
  const alice = await newUser(client, "la");
  const bob = await newUser(client, "lb");
  const carol = await newUser(client, "lc");
  const board = boardId("pages");
  facts.board = board;
  facts.users = Object.fromEntries(
    Object.entries({ alice, bob, carol }).map(([k, u]) => [k, { user_id: u.user_id, username: u.username }]),
  );
  await createBoard(client, alice.session, { id: board });

  // A descending "best" board: a tie on score is broken by the subscore. The write
  // answers the record with its rank at that moment. Scores are int64 strings in
  // nakama-js's types; a number (carol's) is taken as well.
  const write = async (user, body) =>
    record(await within(client.writeLeaderboardRecord(user.session, board, body), `${user.username}'s write`), board, "write");
  const writes = {
    alice: await write(alice, { score: "100", subscore: "5", metadata: { hero: "knight" } }),
    bob: await write(bob, { score: "100", subscore: "9", metadata: { hero: "mage" } }),
    carol: await write(carol, { score: 50 }),
  };
  facts.writes = writes;
  const aliceRec = expected(alice, { score: 100, subscore: 5, metadata: { hero: "knight" } });
  const bobRec = expected(bob, { score: 100, subscore: 9, metadata: { hero: "mage" } });
  const carolRec = expected(carol, { score: 50 });
  checkEqual(writes, { alice: { ...aliceRec, rank: 1 }, bob: { ...bobRec, rank: 1 }, carol: { ...carolRec, rank: 3 } }, "the writes");
  const ranked = { alice: { ...aliceRec, rank: 2 }, bob: { ...bobRec, rank: 1 }, carol: { ...carolRec, rank: 3 } };

  // Page 1 of 2, with carol's record asked for by owner id.
  const first = await within(client.listLeaderboardRecords(alice.session, board, [carol.user_id], 2), "page 1");
  facts.first = page(first, board, "page 1");
  checkEqual(
    facts.first,
    { records: [ranked.bob, ranked.alice], owner_records: [ranked.carol], next: true, prev: false, rank_count: 3 },
    "page 1",
  );
  const second = await within(client.listLeaderboardRecords(alice.session, board, undefined, 2, first.next_cursor), "page 2");
  facts.second = page(second, board, "page 2");
  checkEqual(facts.second, { records: [ranked.carol], owner_records: [], next: false, prev: true, rank_count: 3 }, "page 2");
  const back = await within(client.listLeaderboardRecords(bob.session, board, undefined, 2, second.prev_cursor), "page 1 again");
  facts.back = page(back, board, "page 1 again");
  checkEqual(facts.back, { ...facts.first, owner_records: [] }, "back to page 1");
  checkEqual(back.next_cursor, first.next_cursor, "page 1's next_cursor again");

  // Owners only: two owner ids (one without a record) with a limit of 1.
  const owners = await within(
    client.listLeaderboardRecords(carol.session, board, [alice.user_id, randomUUID()], 1),
    "owner records",
  );
  facts.owners = page(owners, board, "owner records");
  checkEqual(facts.owners, { records: [ranked.bob], owner_records: [ranked.alice], next: true, prev: false, rank_count: 3 }, "owner records");

  // What the generated API (no conversion) gives: int64 fields as strings.
  const raw = await within(client.apiClient.listLeaderboardRecords(alice.session.token, board, [carol.user_id], 1), "raw page");
  facts.raw = {
    score: raw.records[0].score,
    subscore: raw.records[0].subscore,
    rank: raw.records[0].rank,
    metadata: raw.records[0].metadata,
    rank_count: raw.rank_count,
    create_time: RFC3339_SECONDS.test(raw.records[0].create_time),
    carol_subscore: raw.owner_records[0].subscore ?? null,
  };
  checkEqual(
    { ...facts.raw, metadata: JSON.parse(facts.raw.metadata) },
    { score: "100", subscore: "9", rank: "1", metadata: { hero: "mage" }, rank_count: "3", create_time: true, carol_subscore: null },
    "the generated API's page",
  );
}

// --- leaderboard_operators ----------------------------------------------------------------

export async function scenarioLeaderboardOperators() {
  const client = newClient();
  const user = await newUser(client, "lo");
  const best = boardId("best");
  const incr = boardId("incr");
  facts.user = { user_id: user.user_id, username: user.username };
  facts.boards = { best, incr };
  await createBoard(client, user.session, { id: best, operator: "best" });
  await createBoard(client, user.session, { id: incr, operator: "incr" });
  const write = async (board, body, what) =>
    record(await within(client.writeLeaderboardRecord(user.session, board, body), what), board, what);
  // The generated API: the body as given (the operator too), the answer as the server's JSON.
  const rawWrite = async (board, body, what) => {
    const r = await within(client.apiClient.writeLeaderboardRecord(user.session.token, board, body), what);
    return { score: r.score ?? null, subscore: r.subscore ?? null, num_score: r.num_score, rank: r.rank ?? null, metadata: r.metadata };
  };
  const mine = (fields) => expected(user, { rank: 1, ...fields });

  // best: a worse score changes nothing (not even num_score), a better one replaces the
  // score and counts; a write without metadata keeps the stored metadata.
  facts.best = [
    await write(best, { score: "50", metadata: { run: 1 } }, "best 50"),
    await write(best, { score: "30", metadata: { run: 2 } }, "best 30"),
    await write(best, { score: "70" }, "best 70"),
  ];
  checkEqual(
    facts.best,
    [mine({ score: 50, metadata: { run: 1 } }), mine({ score: 50, metadata: { run: 1 } }), mine({ score: 70, num_score: 2, metadata: { run: 1 } })],
    "the best board",
  );
  // nakama-js's Client drops the operator: "best" still applies.
  facts.best_client_set = await write(best, { score: "10", operator: ApiOperator.SET }, "best 10, operator SET via the Client");
  checkEqual(facts.best_client_set, mine({ score: 70, num_score: 2, metadata: { run: 1 } }), "the Client's operator is not sent");
  // Through the generated API the override is sent: SET replaces the better score.
  facts.best_set = await rawWrite(best, { score: "10", operator: ApiOperator.SET }, "best 10, operator SET");
  checkEqual(facts.best_set, { score: "10", subscore: null, num_score: 3, rank: "1", metadata: '{"run": 1}' }, "the override SET");
  const listed = await within(client.listLeaderboardRecords(user.session, best, [user.user_id], 10), "the best board's list");
  facts.best_list = page(listed, best, "the best board's list");
  const now = mine({ score: 10, num_score: 3, metadata: { run: 1 } });
  checkEqual(facts.best_list, { records: [now], owner_records: [now], next: false, prev: false, rank_count: 1 }, "the best board's list");

  // incr: scores and subscores add up; DECREMENT subtracts; an operator by its enum name
  // (as protojson reads it) works too: SET leaves subscore 0.
  facts.incr = [
    await write(incr, { score: "10", subscore: "1" }, "incr 10"),
    await write(incr, { score: "5", subscore: "2" }, "incr 5"),
  ];
  checkEqual(facts.incr, [mine({ score: 10, subscore: 1 }), mine({ score: 15, subscore: 3, num_score: 2 })], "the incr board");
  facts.incr_decr = await rawWrite(incr, { score: "3", operator: ApiOperator.DECREMENT }, "incr 3, operator DECREMENT");
  checkEqual(facts.incr_decr, { score: "12", subscore: "3", num_score: 3, rank: "1", metadata: "{}" }, "the override DECREMENT");
  facts.incr_set = await rawWrite(incr, { score: "40", operator: "SET" }, "incr 40, operator SET by name");
  checkEqual(facts.incr_set, { score: "40", subscore: null, num_score: 4, rank: "1", metadata: "{}" }, "the override SET by name");
}

// --- leaderboard_around -------------------------------------------------------------------

export async function scenarioLeaderboardAround() {
  const client = newClient();
  const users = [];
  for (let i = 0; i < 5; i++) users.push(await newUser(client, `lr${i}`));
  const board = boardId("around");
  facts.board = board;
  facts.users = users.map((u) => u.user_id);
  await createBoard(client, users[0].session, { id: board, sort: "asc", operator: "set" });
  for (const [i, u] of users.entries()) {
    await within(client.writeLeaderboardRecord(u.session, board, { score: String(10 * (i + 1)) }), `write ${i}`);
  }
  const rec = (i, rank) => expected(users[i], { score: 10 * (i + 1), rank: rank ?? i + 1 });

  // Ascending: the lowest score ranks first. Three around the middle player, then around
  // the first (no earlier records: the page starts at rank 1).
  const around = await within(client.listLeaderboardRecordsAroundOwner(users[0].session, board, users[2].user_id, 3), "around player 2");
  facts.around = page(around, board, "around player 2");
  checkEqual(facts.around, { records: [rec(1), rec(2), rec(3)], owner_records: [], next: true, prev: true, rank_count: 5 }, "around player 2");
  const top = await within(client.listLeaderboardRecordsAroundOwner(users[4].session, board, users[0].user_id, 3), "around player 0");
  facts.around_top = page(top, board, "around player 0");
  checkEqual(facts.around_top, { records: [rec(0), rec(1), rec(2)], owner_records: [], next: true, prev: false, rank_count: 5 }, "around player 0");
  // The cursor of an around page pages on as a listing's does.
  const after = await within(client.listLeaderboardRecords(users[0].session, board, undefined, 3, around.next_cursor), "after around");
  facts.after_around = page(after, board, "after around");
  checkEqual(facts.after_around, { records: [rec(4)], owner_records: [], next: false, prev: true, rank_count: 5 }, "the page after");

  // Player 2 deletes their record: the others move up; nothing is around player 2 now.
  facts.deleted = await within(client.apiClient.deleteLeaderboardRecord(users[2].session.token, board), "player 2's delete");
  checkEqual(facts.deleted, {}, "the delete answered");
  const listed = await within(client.listLeaderboardRecords(users[0].session, board, undefined, 10), "the list after");
  facts.after_delete = page(listed, board, "the list after");
  checkEqual(
    facts.after_delete,
    { records: [rec(0), rec(1), rec(3, 3), rec(4, 4)], owner_records: [], next: false, prev: false, rank_count: 4 },
    "the list after the delete",
  );
  const gone = await within(client.listLeaderboardRecordsAroundOwner(users[0].session, board, users[2].user_id, 3), "around player 2 after");
  facts.around_gone = page(gone, board, "around player 2 after");
  checkEqual(facts.around_gone, { records: [], owner_records: [], next: false, prev: false, rank_count: 0 }, "around a deleted record");
  facts.deleted_again = await within(client.apiClient.deleteLeaderboardRecord(users[2].session.token, board), "a second delete");
  checkEqual(facts.deleted_again, {}, "a second delete answered");
}

// --- leaderboard_refusals -----------------------------------------------------------------

export async function scenarioLeaderboardRefusals() {
  const client = newClient();
  const user = await newUser(client, "lf");
  const board = boardId("auth");
  facts.board = board;
  facts.user = { user_id: user.user_id, username: user.username };
  await createBoard(client, user.session, { id: board, authoritative: true });

  facts.client_write = await httpError(
    await rejection(client.writeLeaderboardRecord(user.session, board, { score: "5" }), "a player's write to an authoritative board"),
  );
  checkEqual(
    facts.client_write,
    { status: 403, body: { code: 7, message: "Leaderboard only allows authoritative score submissions." } },
    "a player's write to an authoritative board",
  );
  facts.client_delete = await httpError(
    await rejection(client.apiClient.deleteLeaderboardRecord(user.session.token, board), "a player's delete on an authoritative board"),
  );
  checkEqual(
    facts.client_delete,
    { status: 403, body: { code: 7, message: "Leaderboard only allows authoritative score deletions." } },
    "a player's delete on an authoritative board",
  );
  // The server writes (lb_write); the players read.
  const payload = { id: board, owner_id: user.user_id, username: user.username, score: 42, subscore: 1, metadata: { by: "server" } };
  checkEqual((await within(client.rpc(user.session, "lb_write", payload), "lb_write")).payload, {}, "lb_write answered");
  const listed = await within(client.listLeaderboardRecords(user.session, board, [user.user_id], 10), "the authoritative board's list");
  facts.listed = page(listed, board, "the authoritative board's list");
  const rec = expected(user, { score: 42, subscore: 1, rank: 1, metadata: { by: "server" } });
  checkEqual(facts.listed, { records: [rec], owner_records: [rec], next: false, prev: false, rank_count: 1 }, "the server's record");

  // A board nobody made: every call is 404.
  const missing = boardId("missing");
  const notFound = { status: 404, body: { code: 5, message: "Leaderboard not found." } };
  facts.missing = {
    write: await httpError(await rejection(client.writeLeaderboardRecord(user.session, missing, { score: "5" }), "a write to a missing board")),
    list: await httpError(await rejection(client.listLeaderboardRecords(user.session, missing, undefined, 10), "a missing board's list")),
    around: await httpError(
      await rejection(client.listLeaderboardRecordsAroundOwner(user.session, missing, user.user_id, 10), "around on a missing board"),
    ),
    delete: await httpError(await rejection(client.apiClient.deleteLeaderboardRecord(user.session.token, missing), "a delete on a missing board")),
  };
  checkEqual(facts.missing, { write: notFound, list: notFound, around: notFound, delete: notFound }, "a missing board");
}

// --- leaderboard_reset --------------------------------------------------------------------

/** The next midnight (UTC) after `ms`, in whole seconds. */
function nextMidnight(ms) {
  const day = 86400;
  return (Math.floor(ms / 1000 / day) + 1) * day;
}

export async function scenarioLeaderboardReset() {
  const client = newClient();
  const user = await newUser(client, "lx");
  const board = boardId("reset");
  const plain = boardId("plain");
  facts.board = board;
  facts.user = { user_id: user.user_id, username: user.username };
  await createBoard(client, user.session, { id: board, reset: "0 0 * * *" });
  await createBoard(client, user.session, { id: plain });

  const before = nextMidnight(Date.now());
  const written = await within(client.writeLeaderboardRecord(user.session, board, { score: "5" }), "a write to a daily board");
  const after = nextMidnight(Date.now());
  facts.written = record(written, board, "the daily board's write");
  const expiry = Math.floor(Date.parse(facts.written.expiry_time) / 1000);
  facts.expiry = expiry;
  check(expiry === before || expiry === after, "the record expires at the next midnight (UTC)", { expiry, before, after });
  const rec = expected(user, { score: 5, rank: 1, expiry_time: new Date(expiry * 1000).toISOString().replace(".000Z", "Z") });
  checkEqual(facts.written, rec, "the daily board's record");

  // The current period, and the same period asked for by its expiry; the period before is empty.
  const one = { records: [rec], owner_records: [], next: false, prev: false, rank_count: 1 };
  const none = { records: [], owner_records: [], next: false, prev: false, rank_count: 0 };
  const list = (exp, what) => within(client.listLeaderboardRecords(user.session, board, undefined, 10, undefined, exp), what);
  facts.current = page(await list(undefined, "the current period"), board, "the current period");
  checkEqual(facts.current, one, "the current period");
  facts.by_expiry = page(await list(String(expiry), "the period by its expiry"), board, "the period by its expiry");
  checkEqual(facts.by_expiry, one, "the period by its expiry");
  facts.previous = page(await list(String(expiry - 86400), "the period before"), board, "the period before");
  checkEqual(facts.previous, none, "the period before");
  const around = await within(
    client.listLeaderboardRecordsAroundOwner(user.session, board, user.user_id, 10, String(expiry)),
    "around, by expiry",
  );
  facts.around = page(around, board, "around, by expiry");
  checkEqual(facts.around, one, "around, by expiry");

  // A board without a reset: no expiry_time.
  const kept = await within(client.writeLeaderboardRecord(user.session, plain, { score: "5" }), "a write to a board without reset");
  facts.plain = record(kept, plain, "a board without reset");
  checkEqual(facts.plain, { ...rec, expiry_time: null }, "no expiry without a reset");
}
