#!/usr/bin/env node
// End-to-end scenarios: the official nakama-js client against a running nakama_rt server.
//
//   node scenarios.mjs --host 127.0.0.1 --port 7350 --server-key defaultkey \
//        --adapter json|protobuf --scenario session|ping|status|chat_room|chat_dm_group|match_relayed|party|matchmaker|matchmaker_hook|storage|account|leaderboard_pages|leaderboard_operators|
//        leaderboard_around|leaderboard_refusals|leaderboard_reset|cluster_chat|cluster_match|
//        cluster_authoritative|cluster_party|cluster_matchmaker|cluster_three|
//        resume_match|resume_party
//        [--room lobby] [--other-port 7351] [--grace-ms 1500]
//
// Each scenario asserts what it observes and, on success, prints exactly one JSON line of
// facts on stdout (for tests/test_e2e_nakama_js.py to check against the server) and exits
// with 0. On failure it prints "e2e FAIL ..." and the facts gathered so far on stderr and
// exits with 1. Every wait is bounded, and a watchdog ends the run after --timeout-ms.
//
// The chat and notification scenarios live in chat_scenarios.mjs, the relayed match ones
// in match_scenarios.mjs, the party one in party_scenarios.mjs, the matchmaker ones in
// matchmaker_scenarios.mjs, the storage engine's in storage_scenarios.mjs, accounts and
// links in account_scenarios.mjs, leaderboards in leaderboard_scenarios.mjs (the server's
// runtime must have tests/leaderboard_modules' RPCs), session resume in
// resume_scenarios.mjs (the server's session.resume_grace_ms given as --grace-ms), the two-node
// ones (--other-port) in cluster_scenarios.mjs;
// they import the helpers exported here (an import cycle: they
// are only used once main() runs).

import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";

import { Client, Session, WebSocketAdapterText } from "@heroiclabs/nakama-js";
import { WebSocketAdapterPb } from "@heroiclabs/nakama-js-protobuf";
import WebSocket from "ws";

import { scenarioChatDmGroup, scenarioChatRoom } from "./chat_scenarios.mjs";
import {
  scenarioClusterAuthoritative,
  scenarioClusterChat,
  scenarioClusterMatch,
  scenarioClusterMatchmaker,
  scenarioClusterParty,
  scenarioClusterThree,
} from "./cluster_scenarios.mjs";
import { scenarioMatchRelayed } from "./match_scenarios.mjs";
import { scenarioMatchmaker, scenarioMatchmakerHook } from "./matchmaker_scenarios.mjs";
import { scenarioParty } from "./party_scenarios.mjs";
import { scenarioRuntimeArena, scenarioRuntimeRpc } from "./runtime_scenarios.mjs";
import { scenarioAccount } from "./account_scenarios.mjs";
import { scenarioResumeMatch, scenarioResumeParty } from "./resume_scenarios.mjs";
import { scenarioStorage } from "./storage_scenarios.mjs";
import {
  scenarioLeaderboardAround,
  scenarioLeaderboardOperators,
  scenarioLeaderboardPages,
  scenarioLeaderboardRefusals,
  scenarioLeaderboardReset,
} from "./leaderboard_scenarios.mjs";

export const STEP_MS = 4000; // bound of any single request or event wait
export const QUIET_MS = 600; // how long "nothing arrives" is watched for

// --- command line -----------------------------------------------------------------------

export const { values: opts } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    // cluster scenarios: the second node's port, and the authoritative match it runs
    "other-port": { type: "string" },
    "third-port": { type: "string" },
    "match-id": { type: "string" },
    "server-key": { type: "string", default: "defaultkey" },
    adapter: { type: "string", default: "json" },
    scenario: { type: "string" },
    "timeout-ms": { type: "string", default: "9000" },
    // the chat room of chat_room: a unique one when the server's history is not fresh
    room: { type: "string", default: "lobby" },
    // resume scenarios: the server's session.resume_grace_ms
    "grace-ms": { type: "string", default: "1500" },
  },
  strict: true,
});

export const facts = { scenario: opts.scenario, adapter: opts.adapter };

function die(message) {
  const text = `e2e FAIL [${opts.scenario}/${opts.adapter}]: ${message}\nfacts so far: ${safeJson(facts)}\n`;
  process.stderr.write(text, () => process.exit(1));
}

process.on("unhandledRejection", (reason) => die(`unhandled rejection: ${describe(reason)}`));
process.on("uncaughtException", (error) => die(`uncaught exception: ${describe(error)}`));

// --- a WebSocket for nakama-js, with a tap on the frames ----------------------------------
// Node 20 has no global WebSocket (node 22 has); nakama-js and its protobuf adapter use
// the global one, so the `ws` package stands in. The subclass counts frames per socket.

export const taps = [];

class TapWebSocket extends WebSocket {
  constructor(url, ...rest) {
    super(url, ...rest);
    const parsed = new URL(String(url));
    const query = Object.fromEntries(parsed.searchParams);
    if ("token" in query) query.token = "<token>";
    const tap = { path: parsed.pathname, query, sent: 0, sent_binary: 0, received: 0, received_binary: 0 };
    this._tap = tap;
    taps.push(tap);
    this.addEventListener("message", (evt) => {
      tap.received += 1;
      if (typeof evt.data !== "string") tap.received_binary += 1;
    });
  }

  send(data, ...rest) {
    this._tap.sent += 1;
    if (typeof data !== "string") this._tap.sent_binary += 1;
    return super.send(data, ...rest);
  }
}

globalThis.WebSocket = TapWebSocket;

// --- helpers ------------------------------------------------------------------------------

export class Failure extends Error {}

export function safeJson(value) {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

export function describe(value) {
  if (value instanceof Response) return `HTTP ${value.status} ${value.statusText}`;
  if (value instanceof Failure) return value.message;
  if (value instanceof Error) return value.stack || String(value);
  if (value && typeof value === "object" && value.type === "error") {
    return `WebSocket error event: ${value.message ?? value.error ?? "?"}`;
  }
  return safeJson(value);
}

export function check(condition, message, detail) {
  if (!condition) {
    throw new Failure(detail === undefined ? message : `${message}: ${safeJson(detail)}`);
  }
}

export function checkEqual(actual, expected, message) {
  const a = safeJson(actual);
  const e = safeJson(expected);
  if (a !== e) throw new Failure(`${message}: expected ${e}, got ${a}`);
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function within(promise, what, ms = STEP_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Failure(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The rejection reason of a promise that must fail (within the step bound). */
export async function rejection(promise, what, ms = STEP_MS) {
  let value;
  try {
    value = await within(promise, what, ms);
  } catch (reason) {
    if (reason instanceof Failure) throw reason;
    return reason;
  }
  throw new Failure(`${what}: expected a failure, got ${safeJson(value)}`);
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A queue of pushed items (socket events) with bounded waits. */
export class Inbox {
  constructor(name) {
    this.name = name;
    this.items = [];
    this.waiters = [];
  }

  push(item) {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }

  next(what, ms = STEP_MS) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    return new Promise((resolve, reject) => {
      const waiter = (item) => {
        clearTimeout(timer);
        resolve(item);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Failure(`timed out after ${ms} ms waiting for ${this.name}: ${what}`));
      }, ms);
      this.waiters.push(waiter);
    });
  }

  async quiet(what, ms = QUIET_MS) {
    await sleep(ms);
    check(this.items.length === 0, `${this.name}: expected nothing (${what}), got`, this.items);
  }
}

export function newAdapter() {
  if (opts.adapter === "protobuf") return new WebSocketAdapterPb();
  if (opts.adapter === "json") return new WebSocketAdapterText();
  throw new Failure(`unknown adapter ${opts.adapter}`);
}

/** A nakama-js socket whose status events and disconnects go to inboxes. */
export function openSocket(client, label) {
  const socket = client.createSocket(false, false, newAdapter(), STEP_MS);
  const presences = new Inbox(`${label}'s status events`);
  const disconnects = new Inbox(`${label}'s disconnect`);
  socket.onstatuspresence = (event) => presences.push(event);
  socket.ondisconnect = (evt) =>
    disconnects.push({
      code: evt?.code ?? null,
      reason: evt?.reason ?? null,
      was_clean: evt?.wasClean ?? null,
    });
  socket.onheartbeattimeout = () => die(`${label}: nakama-js reported a heartbeat timeout`);
  return { socket, presences, disconnects, label };
}

/** A presence as the tests compare it; status null means the field was absent. */
export function presence(p) {
  return {
    user_id: p.user_id,
    session_id: p.session_id,
    username: p.username,
    status: p.status === undefined ? null : p.status,
    persistence: p.persistence ?? false,
  };
}

/** A status_presence_event (empty lists are omitted in JSON and [] in protobuf). */
export function statusEvent(e) {
  return { joins: (e.joins ?? []).map(presence), leaves: (e.leaves ?? []).map(presence) };
}

/** The keys of an envelope that are set (protobuf decoding leaves the rest undefined). */
export function setKeys(envelope) {
  return Object.keys(envelope)
    .filter((k) => envelope[k] !== undefined)
    .sort();
}

export function socketError(error) {
  check(error && typeof error === "object" && "code" in error, "not a socket error", error);
  return { code: error.code, message: error.message };
}

export function newClient(port = opts.port) {
  // autoRefreshSession off: with the default 60 s tokens nakama-js would refresh before
  // every call (it refreshes within 5 minutes of expiry), hiding what is tested here.
  return new Client(opts["server-key"], opts.host, port, false, STEP_MS, false);
}

export async function newUser(client, prefix) {
  const customId = `e2e-${randomUUID()}`;
  const username = `${prefix}${randomUUID().replace(/-/g, "").slice(0, 12)}`;
  const session = await within(
    client.authenticateCustom(customId, true, username),
    `authenticateCustom ${username}`,
  );
  check(session.user_id && UUID_RE.test(session.user_id), "session user_id", session.user_id);
  checkEqual(session.username, username, "session username");
  return { customId, username, session, user_id: session.user_id };
}

// --- scenarios ----------------------------------------------------------------------------

async function scenarioSession() {
  const client = newClient();
  const user = await newUser(client, "s");
  const { session } = user;
  const now = Date.now() / 1000;
  facts.custom_id = user.customId;
  facts.user_id = session.user_id;
  facts.username = session.username;
  facts.created = session.created;
  facts.expires_in = session.expires_at - Math.floor(now);
  facts.refresh_expires_in = session.refresh_expires_at - Math.floor(now);
  facts.vars = session.vars ?? null;
  check(session.created === true, "a new account gives created=true", session.created);
  check(session.expires_at > now, "expires_at in the future", session.expires_at);
  check(typeof session.refresh_token === "string" && session.refresh_token.length > 0, "refresh token");
  check(session.refresh_expires_at > session.expires_at, "refresh token outlives the token");
  check(!session.isexpired(now), "fresh session not expired");

  const account = await within(client.getAccount(session), "getAccount");
  facts.account = {
    user_id: account.user?.id,
    username: account.user?.username,
    custom_id: account.custom_id,
  };
  checkEqual(account.user?.id, session.user_id, "account user id");
  checkEqual(account.user?.username, user.username, "account username");
  checkEqual(account.custom_id, user.customId, "account custom id");

  const again = await within(client.authenticateCustom(user.customId, false), "authenticate again");
  facts.again = { created: again.created, user_id: again.user_id, username: again.username };
  check(again.created === false, "existing account gives created=false", again.created);
  checkEqual(again.user_id, session.user_id, "same user on re-authentication");

  // Refresh keeps the token id and issue time (as Nakama); a later second changes `exp`.
  const original = { token: session.token, refresh_token: session.refresh_token };
  const originalExpiry = session.expires_at;
  await sleep(1100);
  const refreshed = await within(client.sessionRefresh(session), "sessionRefresh");
  facts.refreshed = {
    token_changed: refreshed.token !== original.token,
    user_id: refreshed.user_id,
    username: refreshed.username,
    expires_later: refreshed.expires_at > originalExpiry,
  };
  check(refreshed.token !== original.token, "sessionRefresh gives a new token");
  checkEqual(refreshed.user_id, session.user_id, "refreshed user id");
  check(refreshed.expires_at > originalExpiry, "refreshed token expires later");
  const account2 = await within(client.getAccount(refreshed), "getAccount with refreshed token");
  checkEqual(account2.user?.id, user.user_id, "account via refreshed token");
  const oldStillValid = await within(
    client.getAccount(Session.restore(original.token, original.refresh_token)),
    "getAccount with the pre-refresh token",
  );
  checkEqual(oldStillValid.user?.id, user.user_id, "pre-refresh token still valid");

  // The socket accepts the live token.
  const live = openSocket(client, "live");
  await within(live.socket.connect(refreshed, false, STEP_MS), "socket connect (live token)");
  const pong = await within(live.socket.send({ ping: {} }), "ping before logout");
  check(pong.pong !== undefined, "pong", pong);
  live.socket.disconnect(false);
  await live.disconnects.next("close of the live socket");

  const loggedOut = await within(
    client.sessionLogout(refreshed, refreshed.token, refreshed.refresh_token),
    "sessionLogout",
  );
  facts.logout = loggedOut;
  check(loggedOut === true, "sessionLogout resolves true", loggedOut);

  const denied = await rejection(client.getAccount(refreshed), "getAccount after logout");
  facts.get_account_after_logout = describe(denied);
  check(denied instanceof Response && denied.status === 401, "getAccount after logout: 401", describe(denied));
  const refreshDenied = await rejection(
    client.sessionRefresh(Session.restore(refreshed.token, refreshed.refresh_token)),
    "sessionRefresh after logout",
  );
  facts.refresh_after_logout = describe(refreshDenied);
  check(refreshDenied instanceof Response && refreshDenied.status === 401, "refresh after logout: 401", describe(refreshDenied));

  // The socket refuses the logged-out token, and the pre-refresh one (same token id).
  facts.refused = {};
  for (const [name, token] of [
    ["logged_out", refreshed.token],
    ["pre_refresh", original.token],
  ]) {
    const s = openSocket(client, `socket with the ${name} token`);
    const reason = await rejection(
      s.socket.connect(Session.restore(token, ""), false, STEP_MS),
      `socket connect with the ${name} token`,
    );
    const closed = await s.disconnects.next("close after the refused upgrade");
    facts.refused[name] = { error: describe(reason), close: closed };
    check(/\b401\b/.test(describe(reason)), "the upgrade is refused with 401", describe(reason));
  }
  facts.frames = taps;
}

async function scenarioPing() {
  const client = newClient();
  const user = await newUser(client, "p");
  facts.custom_id = user.customId;
  facts.user_id = user.user_id;
  const s = openSocket(client, "pinger");
  const heartbeatMs = 300;
  s.socket.setHeartbeatTimeoutMs(heartbeatMs); // nakama-js pings every heartbeat period
  await within(s.socket.connect(user.session, false, STEP_MS), "socket connect");

  const pong = await within(s.socket.send({ ping: {} }), "explicit ping");
  facts.pong_keys = setKeys(pong);
  facts.pong_cid_is_numeric = /^[0-9]+$/.test(pong.cid);
  check(pong.pong !== undefined, "the answer to ping is a pong", pong);

  const watchMs = 2000;
  await sleep(watchMs);
  const tap = taps[0];
  facts.heartbeat_ms = heartbeatMs;
  facts.watch_ms = watchMs;
  facts.frames = { ...tap };
  check(s.socket.adapter.isOpen(), "socket still open after the heartbeat period");
  await s.disconnects.quiet("no disconnect while pinging", 0);
  await s.presences.quiet("no status events with createStatus=false", 0);
  check(tap.sent >= 5, "heartbeat pings were sent", tap);
  check(tap.received >= tap.sent - 1, "every ping but an in-flight one got its pong", tap);

  s.socket.disconnect(false);
  const closed = await s.disconnects.next("ondisconnect after disconnect()");
  facts.close = closed;
  check(closed.was_clean === true, "clean close", closed);
  check(!s.socket.adapter.isOpen(), "socket closed");
  const afterClose = await rejection(s.socket.send({ ping: {} }), "ping after disconnect");
  facts.send_after_close = describe(afterClose);
}

async function scenarioStatus() {
  const client = newClient();
  const [a, b] = await Promise.all([newUser(client, "a"), newUser(client, "b")]);
  facts.a = { custom_id: a.customId, user_id: a.user_id, username: a.username };
  facts.b = { custom_id: b.customId, user_id: b.user_id, username: b.username };

  // B goes online; every session follows its own user, so B sees its own join.
  const sb = openSocket(client, "B");
  await within(sb.socket.connect(b.session, true, STEP_MS), "B connects with status");
  const bOwn = statusEvent(await sb.presences.next("B's own join"));
  facts.b_own_join = bOwn;
  check(bOwn.joins.length === 1 && bOwn.leaves.length === 0, "B's own join", bOwn);
  const bOnline = bOwn.joins[0];
  checkEqual(bOnline.user_id, b.user_id, "B's own join user");
  check(UUID_RE.test(bOnline.session_id), "B's session id", bOnline);
  facts.b.session_id = bOnline.session_id;

  const sa = openSocket(client, "A");
  await within(sa.socket.connect(a.session, true, STEP_MS), "A connects with status");
  const aOwn = statusEvent(await sa.presences.next("A's own join"));
  facts.a_own_join = aOwn;
  check(aOwn.joins.length === 1 && aOwn.joins[0].user_id === a.user_id, "A's own join", aOwn);
  facts.a.session_id = aOwn.joins[0].session_id;

  // A follows B by id: the answer lists B's presence.
  const followed = await within(sa.socket.followUsers([b.user_id]), "A follows B by id");
  facts.followed = (followed?.presences ?? []).map(presence);
  checkEqual(facts.followed, [bOnline], "Status answered to followUsers");
  checkEqual(bOnline.status, "", "a fresh status is the empty string");

  // B sets a status: A (and B itself) get joins=[playing], leaves=[previous].
  await within(sb.socket.updateStatus("playing"), "B updateStatus(playing)");
  const playing = { ...bOnline, status: "playing" };
  const expectedUpdate = { joins: [playing], leaves: [bOnline] };
  facts.update_event = statusEvent(await sa.presences.next("B's status change"));
  checkEqual(facts.update_event, expectedUpdate, "A's event for B's status change");
  facts.b_self_update = statusEvent(await sb.presences.next("B's own status change"));
  checkEqual(facts.b_self_update, expectedUpdate, "B's event for its own change");

  // Following by username (nakama-js 2.8's followUsers takes ids only; send() is public).
  const byName = await within(
    sa.socket.send({ status_follow: { usernames: [b.username] } }),
    "A follows B by username",
  );
  facts.followed_by_username = (byName?.status?.presences ?? []).map(presence);
  checkEqual(facts.followed_by_username, [playing], "Status answered to a follow by username");
  await sa.presences.quiet("no event for following again", 0);

  // B goes offline: A gets the leave, once.
  sb.socket.disconnect(false);
  facts.b_close = await sb.disconnects.next("B's close");
  facts.leave_event = statusEvent(await sa.presences.next("B's leave"));
  checkEqual(facts.leave_event, { joins: [], leaves: [playing] }, "A's event for B going offline");

  // A unfollows B: B coming back online is not reported to A.
  const unfollowed = await within(sa.socket.unfollowUsers([b.user_id]), "A unfollows B");
  facts.unfollow_answer_keys = setKeys(unfollowed ?? {});
  const sb2 = openSocket(client, "B again");
  await within(sb2.socket.connect(b.session, true, STEP_MS), "B reconnects");
  const bAgain = statusEvent(await sb2.presences.next("B's own join after reconnecting"));
  facts.b_rejoin = bAgain;
  check(bAgain.joins.length === 1 && bAgain.joins[0].user_id === b.user_id, "B's rejoin", bAgain);
  check(bAgain.joins[0].session_id !== bOnline.session_id, "a new socket is a new session");
  facts.b.session_id_2 = bAgain.joins[0].session_id;
  await sa.presences.quiet("A unfollowed B", QUIET_MS);
  facts.events_after_unfollow = sa.presences.items.length;

  // A malformed user id: the request fails with the server's error and, as in Nakama,
  // A's socket stays open.
  const bad = await rejection(sa.socket.followUsers(["not-a-user-id"]), "follow a malformed id");
  facts.bad_follow_error = socketError(bad);
  checkEqual(facts.bad_follow_error, { code: 3, message: "Invalid user identifier" }, "error");
  const stillOpen = await within(sa.socket.send({ ping: {} }), "A pings after its error");
  check(stillOpen.pong !== undefined, "A's socket stays open", stillOpen);
  await sa.disconnects.quiet("A is not closed", 0);
  facts.a_open_after_error = sa.socket.adapter.isOpen();

  // B's new socket is unaffected.
  const pong = await within(sb2.socket.send({ ping: {} }), "B pings after A's error");
  check(pong.pong !== undefined, "pong", pong);
  await sb2.presences.quiet("B does not follow A", 0);
  sb2.socket.disconnect(false);
  facts.b2_close = await sb2.disconnects.next("B's second close");
  facts.frames = taps;
}

const SCENARIOS = {
  session: scenarioSession,
  ping: scenarioPing,
  status: scenarioStatus,
  chat_room: scenarioChatRoom,
  chat_dm_group: scenarioChatDmGroup,
  match_relayed: scenarioMatchRelayed,
  party: scenarioParty,
  matchmaker: scenarioMatchmaker,
  matchmaker_hook: scenarioMatchmakerHook,
  runtime_rpc: scenarioRuntimeRpc,
  runtime_arena: scenarioRuntimeArena,
  storage: scenarioStorage,
  account: scenarioAccount,
  leaderboard_pages: scenarioLeaderboardPages,
  leaderboard_operators: scenarioLeaderboardOperators,
  leaderboard_around: scenarioLeaderboardAround,
  leaderboard_refusals: scenarioLeaderboardRefusals,
  leaderboard_reset: scenarioLeaderboardReset,
  cluster_chat: scenarioClusterChat,
  cluster_match: scenarioClusterMatch,
  cluster_authoritative: scenarioClusterAuthoritative,
  cluster_party: scenarioClusterParty,
  cluster_matchmaker: scenarioClusterMatchmaker,
  cluster_three: scenarioClusterThree,
  resume_match: scenarioResumeMatch,
  resume_party: scenarioResumeParty,
};

// --- main ---------------------------------------------------------------------------------

async function main() {
  const run = SCENARIOS[opts.scenario];
  if (!run) throw new Failure(`unknown scenario ${opts.scenario}; one of ${Object.keys(SCENARIOS)}`);
  if (!opts.port) throw new Failure("--port is required");
  newAdapter(); // validates --adapter
  await run();
}

const watchdog = setTimeout(
  () => die(`the scenario did not finish within ${opts["timeout-ms"]} ms`),
  Number(opts["timeout-ms"]),
);

main().then(
  () => {
    clearTimeout(watchdog);
    // nakama-js leaves timers behind (request timeouts, heartbeats): exit explicitly.
    process.stdout.write(`${JSON.stringify({ ok: true, ...facts })}\n`, () => process.exit(0));
  },
  (error) => {
    clearTimeout(watchdog);
    die(describe(error));
  },
);
