// Runtime (server-side Python modules) scenarios for scenarios.mjs (which runs them; see
// its header). The server must load examples/runtime (echo.py and arena.py) with the
// runtime env GREETING=ahoy; a reference Nakama has no Python runtime, so these run
// against nakama_rt only.
//
//   runtime_rpc    RPCs over the socket (echo), over HTTP with a session (whoami, an
//                  async function reading the env) and server to server with the HTTP
//                  key; unknown ids over both, a wrong HTTP key.
//   runtime_arena  an authoritative match created by an RPC (create_arena): a join
//                  refused by match_join_attempt, joins with metadata, moves rebroadcast
//                  by the match loop, the periodic score line, listing by label query,
//                  a leave, and a stream joined and written to by an RPC (arena_news).
//
// What arrives is normalised (JSON and protobuf decode differently: absent fields,
// wrappers, int64 op codes) so both adapters give equal facts.

import {
  QUIET_MS,
  STEP_MS,
  UUID_RE,
  Inbox,
  check,
  checkEqual,
  describe,
  facts,
  newClient,
  newUser,
  openSocket,
  presence,
  rejection,
  sleep,
  socketError,
  taps,
  within,
} from "./scenarios.mjs";

const HTTP_KEY = "defaulthttpkey"; // the server's default runtime.http_key
const OP_MOVE = 1;
const OP_SCORE = 2;
const SCORE_WAIT_MS = 2500; // the arena sends a score line every second (5 ticks at 5 Hz)

// --- normalising ----------------------------------------------------------------------------

function userFacts(user) {
  return { custom_id: user.customId, user_id: user.user_id, username: user.username };
}

/** An RPC answer (socket: ApiRpc; HTTP: nakama-js's RpcResponse, payload JSON-parsed). */
function rpcAnswer(r) {
  return { id: r?.id ?? null, payload: r?.payload ?? null };
}

/** A failed HTTP call: nakama-js rejects with the fetch Response; its JSON body is read. */
async function httpError(reason) {
  check(reason instanceof Response, "an HTTP error response", describe(reason));
  let body;
  try {
    body = await within(reason.json(), "the error body");
  } catch (error) {
    body = `unreadable: ${describe(error)}`;
  }
  return { status: reason.status, body };
}

function bySession(list) {
  return [...list].sort((x, y) => (x.session_id < y.session_id ? -1 : x.session_id > y.session_id ? 1 : 0));
}

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

function matchData(d) {
  return {
    match_id: d.match_id,
    op_code: Number(d.op_code ?? 0),
    text: d.data ? Buffer.from(d.data).toString("utf8") : "",
    presence: d.presence ? presence(d.presence) : null,
    reliable: d.reliable ?? false,
  };
}

function streamData(d) {
  const s = d.stream ?? {};
  return {
    stream: {
      mode: Number(s.mode ?? 0),
      subject: s.subject ?? "",
      subcontext: s.subcontext ?? "",
      label: s.label ?? "",
    },
    sender: d.sender ? presence(d.sender) : null,
    data: d.data ?? "",
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
    tick_rate: m.tick_rate ?? 0,
    handler_name: m.handler_name ?? "",
  };
}

// --- sockets with match and stream inboxes ----------------------------------------------------

function openRuntimeSocket(client, label) {
  const s = openSocket(client, label);
  s.moves = new Inbox(`${label}'s moves (op ${OP_MOVE})`);
  s.scores = new Inbox(`${label}'s scores (op ${OP_SCORE})`);
  s.otherData = new Inbox(`${label}'s other match data`);
  s.events = new Inbox(`${label}'s match presence events`);
  s.news = new Inbox(`${label}'s stream data`);
  s.socket.onmatchdata = (d) => {
    const data = matchData(d);
    if (data.op_code === OP_MOVE) s.moves.push(data);
    else if (data.op_code === OP_SCORE) s.scores.push({ ...data, score: JSON.parse(data.text) });
    else s.otherData.push(data);
  };
  s.socket.onmatchpresence = (e) => s.events.push(matchEvent(e));
  s.socket.onstreamdata = (d) => s.news.push(streamData(d));
  return s;
}

/** The items of an inbox up to and including the first one `wanted` accepts. */
async function until(inbox, wanted, what, ms = STEP_MS) {
  const seen = [];
  for (;;) {
    const item = await inbox.next(`${what} (so far ${JSON.stringify(seen)})`, ms);
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

async function ping(s, what) {
  const pong = await within(s.socket.send({ ping: {} }), what);
  return pong.pong !== undefined;
}

// --- runtime_rpc ------------------------------------------------------------------------------

export async function scenarioRuntimeRpc() {
  const client = newClient();
  const user = await newUser(client, "rpc");
  facts.user = userFacts(user);

  // Over HTTP with the session, before any socket (the user is offline): whoami is async
  // and reads the runtime env. nakama-js POSTs JSON.stringify(JSON.stringify(input)) and
  // JSON-parses the answer's payload.
  const who = await within(client.rpc(user.session, "whoami", {}), "whoami over HTTP");
  facts.whoami_http = rpcAnswer(who);

  // Server to server: nakama-js 2.8's rpcHttpKey is a GET with the payload in the query;
  // Nakama's /v2/rpc handler reads a payload from a POST body only, so the function gets
  // "" (echo answers "", which nakama-js turns into an absent payload).
  facts.echo_http_key = rpcAnswer(
    await within(client.rpcHttpKey(HTTP_KEY, "echo", { ping: 1 }), "echo with the HTTP key"),
  );
  facts.whoami_http_key = rpcAnswer(
    await within(client.rpcHttpKey(HTTP_KEY, "whoami"), "whoami with the HTTP key"),
  );
  facts.wrong_http_key = await httpError(
    await rejection(client.rpcHttpKey("not-the-key", "echo", {}), "echo with a wrong HTTP key"),
  );
  facts.unknown_http = await httpError(
    await rejection(client.rpc(user.session, "no_such_rpc", {}), "an unknown RPC over HTTP"),
  );

  // Over the socket.
  const s = openSocket(client, "R");
  await within(s.socket.connect(user.session, false, STEP_MS), "R connects");
  facts.echo_socket = rpcAnswer(await within(s.socket.rpc("echo", "hi"), "echo over the socket"));
  checkEqual(facts.echo_socket, { id: "echo", payload: "hi" }, "echo over the socket");
  facts.unknown_socket = socketError(
    await rejection(s.socket.rpc("no_such_rpc", "x"), "an unknown RPC over the socket"),
  );
  // The error keeps the socket: a ping and another RPC still work.
  facts.pong_after_unknown = await ping(s, "ping after the unknown RPC");
  facts.echo_after_unknown = rpcAnswer(
    await within(s.socket.rpc("echo", "still here"), "echo after the unknown RPC"),
  );
  facts.open_after_unknown = s.socket.adapter.isOpen();
  await s.disconnects.quiet("no disconnect after the unknown RPC", 0);

  facts.close = await close(s);
  facts.frames = taps;
}

// --- runtime_arena ----------------------------------------------------------------------------

export async function scenarioRuntimeArena() {
  const client = newClient();
  const [a, b] = await Promise.all([newUser(client, "ra"), newUser(client, "rb")]);
  facts.a = userFacts(a);
  facts.b = userFacts(b);
  const sa = openRuntimeSocket(client, "A");
  const sb = openRuntimeSocket(client, "B");
  await Promise.all(
    [
      [sa, a],
      [sb, b],
    ].map(([s, u]) => within(s.socket.connect(u.session, false, STEP_MS), `${s.label} connects`)),
  );

  // A creates the match from an RPC; the payload is {"match_id": ...}.
  const created = await within(sa.socket.rpc("create_arena", "{}"), "A calls create_arena");
  facts.create_arena = rpcAnswer(created);
  const mid = JSON.parse(created.payload).match_id;
  check(typeof mid === "string" && UUID_RE.test(mid.split(".")[0]), "an authoritative match id", mid);
  facts.match_id = mid;

  // match_join_attempt refuses a join without a team; B's socket stays usable.
  facts.join_without_team = socketError(
    await rejection(sb.socket.joinMatch(mid), "B joins without metadata"),
  );
  facts.b_pong_after_refusal = await ping(sb, "B pings after the refusal");

  // Joins with a team: the answer lists the others already there.
  const aJoined = await within(sa.socket.joinMatch(mid, undefined, { team: "red" }), "A joins (red)");
  facts.a_joined = match(aJoined);
  const aSelf = facts.a_joined.self;
  checkEqual(aSelf?.user_id, a.user_id, "A's self in the match");
  facts.a.session_id = aSelf.session_id;
  const bJoined = await within(sb.socket.joinMatch(mid, undefined, { team: "blue" }), "B joins (blue)");
  facts.b_joined = match(bJoined);
  const bSelf = facts.b_joined.self;
  checkEqual(bSelf?.user_id, b.user_id, "B's self in the match");
  facts.b.session_id = bSelf.session_id;
  facts.a_events_until_b_join = await until(sa.events, joinOf(mid, bSelf), "A sees B join");
  facts.b_events_until_b_join = await until(sb.events, joinOf(mid, bSelf), "B sees its own join");

  // A moves: the match loop rebroadcasts it to everyone, A included, with A as sender.
  await within(sa.socket.sendMatchState(mid, OP_MOVE, "north"), "A sends a move");
  facts.move = { a: await sa.moves.next("A's own move back"), b: await sb.moves.next("A's move at B") };

  // The score line (every 5 ticks) counts the move: the ones before it count none.
  const counted = (item) => item.score.moves === 1;
  for (const s of [sa, sb]) {
    const scores = await until(s.scores, counted, `${s.label} gets a score with the move`, SCORE_WAIT_MS);
    facts[`${s.label.toLowerCase()}_scores`] = scores.map((item) => ({
      match_id: item.match_id,
      score: item.score,
      presence: item.presence,
      reliable: item.reliable,
    }));
  }

  // Listing by a label query over HTTP.
  const found = await within(
    client.listMatches(a.session, 10, true, undefined, undefined, undefined, "+label.mode:arena"),
    "listMatches +label.mode:arena",
  );
  facts.listed = (found.matches ?? []).map(listed);
  const none = await within(
    client.listMatches(a.session, 10, true, undefined, undefined, undefined, "+label.mode:nothing"),
    "listMatches +label.mode:nothing",
  );
  facts.listed_nothing = (none.matches ?? []).map(listed);

  // B leaves: A is told; A's next move (and no score line) reaches B any more.
  await within(sb.socket.leaveMatch(mid), "B leaves the match");
  sb.scores.items.splice(0); // scores sent while B was in (answers come in order)
  facts.a_events_until_b_leave = await until(sa.events, leaveOf(mid, bSelf), "A sees B leave");
  await within(sa.socket.sendMatchState(mid, OP_MOVE, "east"), "A moves again");
  facts.move_after_leave = await sa.moves.next("A's second move back");

  // A stream from an RPC: the caller's socket joins it and gets the hello, before the
  // answer (sent during the RPC); then B does the same and both get B's hello.
  const aNews = await within(sa.socket.rpc("arena_news"), "A calls arena_news");
  facts.a_news_before_answer = sa.news.items.length;
  facts.a_news_reply = rpcAnswer(aNews);
  facts.a_news = [await sa.news.next("A's hello on the stream")];
  const bNews = await within(sb.socket.rpc("arena_news"), "B calls arena_news");
  facts.b_news_before_answer = sb.news.items.length;
  facts.b_news_reply = rpcAnswer(bNews);
  facts.b_news = [await sb.news.next("B's hello on the stream")];
  facts.a_news.push(await sa.news.next("B's hello at A"));

  await within(sa.socket.leaveMatch(mid), "A leaves the match");
  await sleep(QUIET_MS);
  facts.leftover = {};
  for (const s of [sa, sb]) {
    facts.leftover[s.label] = {
      moves: s.moves.items.splice(0),
      other_data: s.otherData.items.splice(0),
      events: s.events.items.splice(0),
      news: s.news.items.splice(0),
    };
  }
  facts.b_scores_after_leave = sb.scores.items.splice(0).map((item) => item.score);
  facts.b_close = await close(sb);
  facts.a_close = await close(sa);
  facts.frames = taps;
}
