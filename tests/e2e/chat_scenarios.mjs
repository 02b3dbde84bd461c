// Chat and notification scenarios for scenarios.mjs (which runs them; see its header).
//
//   chat_room      two users in a room: channel, presence events, send/update/remove,
//                  history paging with cursors, bad input, leave and disconnect.
//   chat_dm_group  a DM (with its live "wants to chat" notification), listing and
//                  deleting notifications, a group channel (membership rules and the
//                  join message), and friend request/accept notifications.
//
// Socket events are normalised (JSON and protobuf decode differently: absent fields,
// Date objects, wrappers) before they are compared, so both adapters give equal facts.

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

// ChannelJoin.type
const ROOM = 1;
const DIRECT_MESSAGE = 2;
const GROUP = 3;

// --- normalising what nakama-js hands over ------------------------------------------------

/** A time as epoch milliseconds: JSON gives RFC 3339 text, protobuf a Date. */
function ms(value) {
  if (value === undefined || value === null) return null;
  if (value instanceof Date) return value.getTime();
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? `unparsable ${value}` : parsed;
}

/** JSON values with object keys sorted: Nakama keeps content as JSONB, which reorders keys. */
function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical(value[k])]),
    );
  }
  return value;
}

/** Where a channel is: the room name, group id or the two DM user ids ("" when unset). */
function place(x) {
  return {
    room_name: x.room_name ?? "",
    group_id: x.group_id ?? "",
    user_id_one: x.user_id_one ?? "",
    user_id_two: x.user_id_two ?? "",
  };
}

function channel(c) {
  check(c && typeof c === "object", "a channel", c);
  return {
    id: c.id,
    ...place(c),
    self: presence(c.self ?? {}),
    presences: (c.presences ?? []).map(presence),
  };
}

function channelEvent(e) {
  return {
    channel_id: e.channel_id,
    ...place(e),
    joins: (e.joins ?? []).map(presence),
    leaves: (e.leaves ?? []).map(presence),
  };
}

/** A channel message, live (either adapter) or from the history call. */
function chatMessage(m) {
  return {
    channel_id: m.channel_id,
    message_id: m.message_id,
    code: m.code ?? 0,
    sender_id: m.sender_id ?? "",
    username: m.username ?? "",
    content: canonical(m.content),
    create_time: ms(m.create_time),
    update_time: ms(m.update_time),
    persistent: m.persistent ?? false,
    ...place(m),
  };
}

function messageAck(a) {
  check(a && typeof a === "object", "a channel_message_ack", a);
  return {
    channel_id: a.channel_id,
    message_id: a.message_id,
    code: a.code ?? 0,
    username: a.username ?? "",
    create_time: ms(a.create_time),
    update_time: ms(a.update_time),
    persistent: a.persistent ?? false,
    ...place(a),
  };
}

function notification(n) {
  return {
    id: n.id,
    subject: n.subject ?? "",
    content: canonical(n.content ?? null),
    code: n.code ?? 0,
    sender_id: n.sender_id ?? "",
    persistent: n.persistent ?? false,
    create_time: ms(n.create_time),
  };
}

/** A notification without its time: Nakama stamps the live copy with its own clock,
 * truncated to the second, and the kept one with the database's, a moment later. */
function timeless(n) {
  return { ...n, create_time: null };
}

function checkClose(a, b, what) {
  const close = typeof a === "number" && typeof b === "number" && Math.abs(a - b) <= 1000;
  check(close, `${what}: more than 1 s apart`, [a, b]);
}

/** The ack expected for a message (its id and times taken from the ack itself). */
function ackOf(channelId, where, user, ack, code = 0) {
  return {
    channel_id: channelId,
    message_id: ack.message_id,
    code,
    username: user.username,
    create_time: ack.create_time,
    update_time: ack.update_time,
    persistent: true,
    ...where,
  };
}

/** The channel message expected for an ack: what the members and the history get. */
function messageOf(channelId, where, user, ack, content) {
  return {
    channel_id: channelId,
    message_id: ack.message_id,
    code: ack.code,
    sender_id: user.user_id,
    username: user.username,
    content: canonical(content),
    create_time: ack.create_time,
    update_time: ack.update_time,
    persistent: true,
    ...where,
  };
}

/** A notification the server sends itself, content {"username": sender's}. */
function notificationOf(sender, code, subject) {
  return {
    id: null,
    subject,
    content: { username: sender.username },
    code,
    sender_id: sender.user_id,
    persistent: true,
    create_time: null,
  };
}

function userFacts(user) {
  return { custom_id: user.customId, user_id: user.user_id, username: user.username };
}

// --- sockets with chat inboxes --------------------------------------------------------------

function openChatSocket(client, label) {
  const s = openSocket(client, label);
  s.messages = new Inbox(`${label}'s channel messages`);
  s.channelEvents = new Inbox(`${label}'s channel presence events`);
  s.notifications = new Inbox(`${label}'s notifications`);
  s.socket.onchannelmessage = (m) => s.messages.push(chatMessage(m));
  s.socket.onchannelpresence = (e) => s.channelEvents.push(channelEvent(e));
  s.socket.onnotification = (n) => s.notifications.push(notification(n));
  return s;
}

async function connect(s, session) {
  await within(s.socket.connect(session, false, STEP_MS), `${s.label} connects`);
}

/** The socket error a request must fail with; the socket must stay usable afterwards. */
async function refused(s, promise, what) {
  const error = socketError(await rejection(promise, what));
  const pong = await within(s.socket.send({ ping: {} }), `${s.label} pings after: ${what}`);
  check(pong.pong !== undefined, `${s.label}'s socket answers after a failed request`, pong);
  check(s.socket.adapter.isOpen(), `${s.label}'s socket stays open after: ${what}`);
  return error;
}

/** Both copies of a broadcast message (sender and the other member) are the same. */
async function delivered(sockets, what) {
  const copies = [];
  for (const s of sockets) copies.push(await s.messages.next(what));
  for (const copy of copies.slice(1)) checkEqual(copy, copies[0], `every member gets ${what}`);
  return copies[0];
}

/** One quiet period for every inbox of every socket. */
async function allQuiet(sockets, what) {
  await sleep(QUIET_MS);
  for (const s of sockets) {
    for (const inbox of [s.messages, s.channelEvents, s.notifications, s.presences]) {
      check(inbox.items.length === 0, `${inbox.name}: expected nothing more (${what}), got`, inbox.items);
    }
  }
}

async function close(s) {
  s.socket.disconnect(false);
  return s.disconnects.next(`${s.label}'s close`);
}

function page(list) {
  return {
    ids: list.messages.map((m) => m.message_id),
    next_cursor: Boolean(list.next_cursor),
    prev_cursor: Boolean(list.prev_cursor),
    cacheable_cursor: Boolean(list.cacheable_cursor),
  };
}

async function history(client, session, channelId, limit, forward, cursor, what) {
  return within(client.listChannelMessages(session, channelId, limit, forward, cursor), what);
}

// --- chat_room ----------------------------------------------------------------------------

export async function scenarioChatRoom() {
  const room = opts.room;
  const channelId = `2...${room}`;
  const roomPlace = { room_name: room, group_id: "", user_id_one: "", user_id_two: "" };
  const roomEvent = (joins, leaves) => ({ channel_id: channelId, ...roomPlace, joins, leaves });
  facts.room = room;

  const client = newClient();
  const [a, b] = await Promise.all([newUser(client, "ra"), newUser(client, "rb")]);
  facts.a = userFacts(a);
  facts.b = userFacts(b);
  const sa = openChatSocket(client, "A");
  const sb = openChatSocket(client, "B");
  await connect(sa, a.session);
  await connect(sb, b.session);

  // A joins first: the room is empty, A gets its own join event.
  const aChannel = channel(await within(sa.socket.joinChat(room, ROOM, true, false), "A joins"));
  facts.a_channel = aChannel;
  const aSelf = aChannel.self;
  check(UUID_RE.test(aSelf.session_id), "A's session id", aSelf);
  checkEqual(
    aChannel,
    {
      id: channelId,
      ...roomPlace,
      self: { user_id: a.user_id, session_id: aSelf.session_id, username: a.username, status: null, persistence: true },
      presences: [],
    },
    "A's channel",
  );
  facts.a.session_id = aSelf.session_id;
  facts.a_own_join = await sa.channelEvents.next("A's own join");
  checkEqual(facts.a_own_join, roomEvent([aSelf], []), "A's own join event");

  // B joins: its channel lists A, and both see B's join.
  const bChannel = channel(await within(sb.socket.joinChat(room, ROOM, true, false), "B joins"));
  facts.b_channel = bChannel;
  const bSelf = bChannel.self;
  checkEqual(bSelf.user_id, b.user_id, "B's self");
  checkEqual(bChannel, { id: channelId, ...roomPlace, self: bSelf, presences: [aSelf] }, "B's channel");
  facts.b.session_id = bSelf.session_id;
  facts.b_own_join = await sb.channelEvents.next("B's own join");
  checkEqual(facts.b_own_join, roomEvent([bSelf], []), "B's own join event");
  facts.a_sees_b_join = await sa.channelEvents.next("B's join, seen by A");
  checkEqual(facts.a_sees_b_join, roomEvent([bSelf], []), "A sees B join");

  // A writes: both members get the message, A also the ack.
  const content1 = { text: "hello", n: 1 };
  const ack1 = messageAck(await within(sa.socket.writeChatMessage(channelId, content1), "A writes"));
  facts.ack1 = ack1;
  check(UUID_RE.test(ack1.message_id), "message id", ack1);
  check(typeof ack1.create_time === "number", "ack create_time", ack1);
  checkEqual(ack1.update_time, ack1.create_time, "a new message's times");
  checkEqual(ack1, ackOf(channelId, roomPlace, a, ack1), "ack of a new message");
  const message1 = await delivered([sa, sb], "message 1");
  facts.message1 = message1;
  const sentBy = (user, ack, content) => messageOf(channelId, roomPlace, user, ack, content);
  checkEqual(message1, sentBy(a, ack1, content1), "message 1 as delivered");

  // A edits it (code 1): the create time stays, the update time moves on.
  const content1b = { text: "hello, edited", n: 1 };
  const updateAck = messageAck(
    await within(sa.socket.updateChatMessage(channelId, ack1.message_id, content1b), "A updates"),
  );
  facts.update_ack = updateAck;
  checkEqual(
    { ...updateAck, update_time: null },
    { ...ack1, code: 1, update_time: null },
    "ack of an update: same id and create time, code 1",
  );
  check(updateAck.update_time >= ack1.update_time, "the update time moves on", updateAck);
  facts.update = await delivered([sa, sb], "the update of message 1");
  checkEqual(facts.update, sentBy(a, updateAck, content1b), "the update as delivered");

  // Only the sender may edit or remove a message (as in Nakama: "not found").
  facts.b_updates_a = await refused(
    sb,
    sb.socket.updateChatMessage(channelId, ack1.message_id, { text: "hijack" }),
    "B updates A's message",
  );
  checkEqual(
    facts.b_updates_a,
    { code: 3, message: "Could not find message to update in channel history" },
    "updating someone else's message",
  );
  facts.b_removes_a = await refused(
    sb,
    sb.socket.removeChatMessage(channelId, ack1.message_id),
    "B removes A's message",
  );
  checkEqual(
    facts.b_removes_a,
    { code: 3, message: "Could not find message to remove in channel history" },
    "removing someone else's message",
  );

  // More messages; A removes one of its own (code 2).
  const content2 = { text: "second" };
  const ack2 = messageAck(await within(sb.socket.writeChatMessage(channelId, content2), "B writes"));
  checkEqual(await delivered([sa, sb], "message 2"), sentBy(b, ack2, content2), "message 2");
  const content3 = { text: "doomed" };
  const ack3 = messageAck(await within(sa.socket.writeChatMessage(channelId, content3), "A writes 3"));
  checkEqual(await delivered([sa, sb], "message 3"), sentBy(a, ack3, content3), "message 3");
  const removeAck = messageAck(
    await within(sa.socket.removeChatMessage(channelId, ack3.message_id), "A removes message 3"),
  );
  facts.remove_ack = removeAck;
  checkEqual(removeAck, { ...ack3, code: 2 }, "ack of a removal: the message's own times, code 2");
  facts.removal = await delivered([sa, sb], "the removal of message 3");
  checkEqual(facts.removal, sentBy(a, removeAck, {}), "the removal as delivered (content {})");
  const content4 = { text: "third" };
  const ack4 = messageAck(await within(sb.socket.writeChatMessage(channelId, content4), "B writes 4"));
  checkEqual(await delivered([sa, sb], "message 4"), sentBy(b, ack4, content4), "message 4");
  const content5 = { text: "fourth", list: [1, 2, { deep: true }] };
  const ack5 = messageAck(await within(sa.socket.writeChatMessage(channelId, content5), "A writes 5"));
  checkEqual(await delivered([sa, sb], "message 5"), sentBy(a, ack5, content5), "message 5");
  facts.message_ids = [ack1, ack2, ack3, ack4, ack5].map((x) => x.message_id);

  // Bad input is refused with the request's error; the socket goes on.
  facts.bad_input = {
    string_content: await refused(sa, sa.socket.writeChatMessage(channelId, "just text"), "string content"),
    array_content: await refused(sa, sa.socket.writeChatMessage(channelId, [1, 2]), "array content"),
    not_joined: await refused(sa, sa.socket.writeChatMessage(`2...${room}-x`, { text: "?" }), "not joined"),
  };
  const notObject = { code: 3, message: "Message content must be a valid JSON object" };
  const notJoined = { code: 3, message: "Must join channel before sending messages" };
  checkEqual(
    facts.bad_input,
    { string_content: notObject, array_content: notObject, not_joined: notJoined },
    "bad input",
  );

  // B leaves: A sees it, B cannot write any more.
  await within(sb.socket.leaveChat(channelId), "B leaves");
  facts.a_sees_b_leave = await sa.channelEvents.next("B's leave, seen by A");
  checkEqual(facts.a_sees_b_leave, roomEvent([], [bSelf]), "A sees B leave");
  facts.b_writes_after_leave = await refused(
    sb,
    sb.socket.writeChatMessage(channelId, { text: "still here?" }),
    "B writes after leaving",
  );
  checkEqual(facts.b_writes_after_leave, notJoined, "writing after leaving");

  // B comes back (same session, same presence), then disconnects: A sees both.
  const bAgain = channel(await within(sb.socket.joinChat(room, ROOM, true, false), "B rejoins"));
  checkEqual(bAgain, bChannel, "B's channel when rejoining");
  checkEqual(await sb.channelEvents.next("B's own rejoin"), roomEvent([bSelf], []), "B's rejoin event");
  facts.a_sees_b_rejoin = await sa.channelEvents.next("B's rejoin, seen by A");
  checkEqual(facts.a_sees_b_rejoin, roomEvent([bSelf], []), "A sees B rejoin");
  facts.b_close = await close(sb);
  facts.a_sees_b_disconnect = await sa.channelEvents.next("B's disconnect, seen by A");
  checkEqual(facts.a_sees_b_disconnect, roomEvent([], [bSelf]), "A sees B's socket go");

  // A leaves too (no event: nobody is left to be told).
  await within(sa.socket.leaveChat(channelId), "A leaves");

  // History: message 3 is gone, message 1 is there with its edited content (code 0).
  const expected = [
    sentBy(a, { ...ack1, update_time: updateAck.update_time }, content1b),
    sentBy(b, ack2, content2),
    sentBy(b, ack4, content4),
    sentBy(a, ack5, content5),
  ];
  const expectedIds = expected.map((m) => m.message_id);
  const all = await history(client, a.session, channelId, 100, true, undefined, "full history");
  facts.history = all.messages.map(chatMessage);
  checkEqual(facts.history, expected, "the room's history, oldest first");

  const pages = {};
  const pageOf3 = (forward, cursor, what) => history(client, a.session, channelId, 3, forward, cursor, what);
  pages.forward1 = await pageOf3(true, undefined, "forward page 1");
  pages.forward2 = await pageOf3(true, pages.forward1.next_cursor, "forward page 2");
  pages.forward_back = await pageOf3(true, pages.forward2.prev_cursor, "back from forward page 2");
  pages.backward1 = await pageOf3(false, undefined, "backward page 1");
  pages.backward2 = await pageOf3(false, pages.backward1.next_cursor, "backward page 2");
  pages.backward_back = await pageOf3(false, pages.backward2.prev_cursor, "back from backward page 2");
  pages.after_last = await pageOf3(true, pages.forward1.cacheable_cursor, "after the cacheable cursor");
  facts.pages = Object.fromEntries(Object.entries(pages).map(([k, v]) => [k, page(v)]));
  const [m1, m2, m4, m5] = expectedIds;
  checkEqual(facts.pages.forward1.ids, [m1, m2, m4], "forward page 1");
  checkEqual(facts.pages.forward2.ids, [m5], "forward page 2");
  checkEqual(facts.pages.forward_back.ids, [m1, m2, m4], "previous page of forward page 2");
  checkEqual(facts.pages.backward1.ids, [m5, m4, m2], "backward page 1");
  checkEqual(facts.pages.backward2.ids, [m1], "backward page 2");
  checkEqual(facts.pages.backward_back.ids, [m5, m4, m2], "previous page of backward page 2");
  checkEqual(facts.pages.after_last.ids, [m5], "after the cacheable cursor of page 1");

  await allQuiet([sa, sb], "end of chat_room");
  facts.a_close = await close(sa);
  facts.frames = taps;
}

// --- chat_dm_group ------------------------------------------------------------------------

export async function scenarioChatDmGroup() {
  const client = newClient();
  const [a, b] = await Promise.all([newUser(client, "da"), newUser(client, "db")]);
  facts.a = userFacts(a);
  facts.b = userFacts(b);
  const sa = openChatSocket(client, "A");
  const sb = openChatSocket(client, "B");
  await connect(sa, a.session);
  await connect(sb, b.session);

  // A opens a DM with B: B, online but not in it, gets a "wants to chat" notification.
  const [one, two] = [a.user_id, b.user_id].sort();
  const dmId = `4.${one}.${two}.`;
  const dmPlace = { room_name: "", group_id: "", user_id_one: one, user_id_two: two };
  const dmEvent = (joins, leaves) => ({ channel_id: dmId, ...dmPlace, joins, leaves });
  const aDm = channel(await within(sa.socket.joinChat(b.user_id, DIRECT_MESSAGE, true, false), "A joins the DM"));
  facts.a_dm = aDm;
  const aSelf = aDm.self;
  checkEqual(aSelf.user_id, a.user_id, "A's self in the DM");
  checkEqual(aDm, { id: dmId, ...dmPlace, self: aSelf, presences: [] }, "A's DM channel");
  facts.a.session_id = aSelf.session_id;
  checkEqual(await sa.channelEvents.next("A's own DM join"), dmEvent([aSelf], []), "A's own DM join");

  const invite = await sb.notifications.next("B's DM request");
  facts.dm_invite = invite;
  check(UUID_RE.test(invite.id), "notification id", invite);
  checkEqual(
    { ...invite, id: null, create_time: null },
    notificationOf(a, -1, `${a.username} wants to chat`),
    "the DM request notification",
  );
  check(invite.create_time % 1000 === 0, "notification times are whole seconds", invite);

  const listed = await within(client.listNotifications(b.session, 10), "B lists notifications");
  facts.b_notifications = {
    notifications: listed.notifications.map(notification),
    cacheable_cursor: Boolean(listed.cacheable_cursor),
  };
  checkEqual(
    facts.b_notifications.notifications.map(timeless),
    [timeless(invite)],
    "B's kept notifications",
  );
  checkClose(facts.b_notifications.notifications[0].create_time, invite.create_time, "listed vs live time");
  check(listed.cacheable_cursor, "a cacheable cursor", listed);
  const bCursor = listed.cacheable_cursor;

  // B joins the same DM (A is there: no notification for A); messages flow both ways.
  const bDm = channel(await within(sb.socket.joinChat(a.user_id, DIRECT_MESSAGE, true, false), "B joins the DM"));
  facts.b_dm = bDm;
  const bSelf = bDm.self;
  checkEqual(bSelf.user_id, b.user_id, "B's self in the DM");
  checkEqual(bDm, { id: dmId, ...dmPlace, self: bSelf, presences: [aSelf] }, "B's DM channel");
  facts.b.session_id = bSelf.session_id;
  checkEqual(await sb.channelEvents.next("B's own DM join"), dmEvent([bSelf], []), "B's own DM join");
  facts.a_sees_b_dm_join = await sa.channelEvents.next("B's DM join, seen by A");
  checkEqual(facts.a_sees_b_dm_join, dmEvent([bSelf], []), "A sees B join the DM");

  const dmSent = [];
  for (const [s, user, content] of [
    [sa, a, { text: "hi B" }],
    [sb, b, { text: "hi A" }],
  ]) {
    const written = s.socket.writeChatMessage(dmId, content);
    const ack = messageAck(await within(written, `${s.label} writes in the DM`));
    checkEqual(ack.update_time, ack.create_time, "a new DM message's times");
    checkEqual(ack, ackOf(dmId, dmPlace, user, ack), "DM ack");
    const message = await delivered([sa, sb], `${s.label}'s DM message`);
    const expected = messageOf(dmId, dmPlace, user, ack, content);
    checkEqual(message, expected, "DM message");
    dmSent.push(expected);
  }
  facts.dm_messages = dmSent;
  const dmHistory = await history(client, b.session, dmId, 10, true, undefined, "B lists the DM");
  facts.dm_history = dmHistory.messages.map(chatMessage);
  checkEqual(facts.dm_history, dmSent, "the DM's history");

  // A creates an open group and sits in its channel.
  const request = { name: `g${randomUUID().slice(0, 12)}`, description: "e2e", open: true, max_count: 10 };
  const group = await within(client.createGroup(a.session, request), "A creates a group");
  facts.group = {
    id: group.id,
    name: group.name,
    creator_id: group.creator_id,
    open: group.open,
    edge_count: group.edge_count,
    max_count: group.max_count,
  };
  check(UUID_RE.test(group.id), "group id", group);
  checkEqual(
    { creator_id: group.creator_id, open: group.open, edge_count: group.edge_count },
    { creator_id: a.user_id, open: true, edge_count: 1 },
    "the new group",
  );
  const groupId = `3.${group.id}..`;
  const groupPlace = { room_name: "", group_id: group.id, user_id_one: "", user_id_two: "" };
  const groupEvent = (joins, leaves) => ({ channel_id: groupId, ...groupPlace, joins, leaves });
  const aGroup = channel(await within(sa.socket.joinChat(group.id, GROUP, true, false), "A joins the group channel"));
  facts.a_group_channel = aGroup;
  checkEqual(aGroup, { id: groupId, ...groupPlace, self: aSelf, presences: [] }, "A's group channel");
  checkEqual(await sa.channelEvents.next("A's own group join"), groupEvent([aSelf], []), "A's own group join");

  // B is not a member yet: its join is refused, and its socket goes on.
  facts.b_joins_group_channel_early = await refused(
    sb,
    sb.socket.joinChat(group.id, GROUP, true, false),
    "B joins the group channel before the group",
  );
  checkEqual(
    facts.b_joins_group_channel_early,
    { code: 3, message: "Group not found: Invalid channel target" },
    "joining a group channel as a non-member",
  );

  // B joins the group: the channel gets a join message (code 3), live for A.
  const joined = await within(client.joinGroup(b.session, group.id), "B joins the group");
  check(joined === true, "joinGroup resolves true", joined);
  const joinMessage = await sa.messages.next("the group join message, live for A");
  facts.group_join_message = joinMessage;
  check(UUID_RE.test(joinMessage.message_id), "join message id", joinMessage);
  checkEqual(
    { ...joinMessage, message_id: null, create_time: null, update_time: null },
    messageOf(groupId, groupPlace, b, { message_id: null, code: 3, create_time: null, update_time: null }, {}),
    "the live group join message",
  );
  const groupHistory1 = await history(client, b.session, groupId, 10, true, undefined, "B lists the group channel");
  facts.group_history_after_join = groupHistory1.messages.map(chatMessage);
  checkEqual(
    facts.group_history_after_join.map((m) => ({ ...m, create_time: null, update_time: null })),
    [{ ...joinMessage, create_time: null, update_time: null }],
    "the group channel's history after the join",
  );

  // Now B may join the group channel; a message reaches both.
  const bGroup = channel(await within(sb.socket.joinChat(group.id, GROUP, true, false), "B joins the group channel"));
  facts.b_group_channel = bGroup;
  checkEqual(bGroup, { id: groupId, ...groupPlace, self: bSelf, presences: [aSelf] }, "B's group channel");
  checkEqual(await sb.channelEvents.next("B's own group join"), groupEvent([bSelf], []), "B's own group join");
  checkEqual(await sa.channelEvents.next("B's group join, seen by A"), groupEvent([bSelf], []), "A sees B join");
  const groupContent = { text: "hello group" };
  const groupAck = messageAck(await within(sb.socket.writeChatMessage(groupId, groupContent), "B writes to the group"));
  facts.group_ack = groupAck;
  checkEqual(groupAck.update_time, groupAck.create_time, "a new group message's times");
  checkEqual(groupAck, ackOf(groupId, groupPlace, b, groupAck), "group ack");
  facts.group_message = await delivered([sa, sb], "the group message");
  const expectedGroupMessage = messageOf(groupId, groupPlace, b, groupAck, groupContent);
  checkEqual(facts.group_message, expectedGroupMessage, "the group message");
  const groupHistory2 = await history(client, a.session, groupId, 10, true, undefined, "A lists the group channel");
  facts.group_history = groupHistory2.messages.map(chatMessage);
  checkEqual(
    facts.group_history.map((m) => m.message_id),
    [joinMessage.message_id, groupAck.message_id],
    "the group channel's history",
  );

  // B deletes its DM request.
  const deleted = await within(client.deleteNotifications(b.session, [invite.id]), "B deletes the DM request");
  check(deleted === true, "deleteNotifications resolves true", deleted);
  const afterDelete = await within(client.listNotifications(b.session, 10), "B lists after deleting");
  facts.b_notifications_after_delete = afterDelete.notifications.map(notification);
  checkEqual(facts.b_notifications_after_delete, [], "B's notifications after deleting");

  // Friends: B asks (A is told, code -2), A accepts (B is told, code -3).
  const asked = await within(client.addFriends(b.session, [a.user_id]), "B adds A");
  check(asked === true, "addFriends resolves true", asked);
  const friendRequest = await sa.notifications.next("A's friend request");
  facts.friend_request = friendRequest;
  checkEqual(
    { ...friendRequest, id: null, create_time: null },
    notificationOf(b, -2, `${b.username} wants to add you as a friend`),
    "the friend request notification",
  );
  const friendRow = (user, state) => ({ user_id: user.user_id, username: user.username, state });
  const friendState = async (user, what) => {
    const friends = await within(client.listFriends(user.session), what);
    return (friends.friends ?? []).map((f) => ({
      user_id: f.user?.id,
      username: f.user?.username,
      state: f.state ?? 0,
    }));
  };
  facts.friends_pending = {
    a: await friendState(a, "A lists friends (request received)"),
    b: await friendState(b, "B lists friends (request sent)"),
  };
  checkEqual(
    facts.friends_pending,
    { a: [friendRow(b, 2)], b: [friendRow(a, 1)] },
    "friend states while pending",
  );
  const accepted = await within(client.addFriends(a.session, [b.user_id]), "A accepts B");
  check(accepted === true, "addFriends (accept) resolves true", accepted);
  const acceptance = await sb.notifications.next("B's friend acceptance");
  facts.friend_accept = acceptance;
  checkEqual(
    { ...acceptance, id: null, create_time: null },
    notificationOf(a, -3, `${a.username} accepted your friend request`),
    "the friend accept notification",
  );
  facts.friends = {
    a: await friendState(a, "A lists friends"),
    b: await friendState(b, "B lists friends"),
  };
  checkEqual(
    facts.friends,
    { a: [friendRow(b, 0)], b: [friendRow(a, 0)] },
    "friends",
  );

  // Kept notifications: B's newer than its first cursor, and all of A's.
  const sinceCursor = await within(client.listNotifications(b.session, 10, bCursor), "B lists since its cursor");
  facts.b_notifications_since_cursor = sinceCursor.notifications.map(notification);
  checkEqual(
    facts.b_notifications_since_cursor.map(timeless),
    [timeless(acceptance)],
    "B's notifications since the cursor",
  );
  const aListed = await within(client.listNotifications(a.session, 10), "A lists notifications");
  facts.a_notifications = aListed.notifications.map(notification);
  checkEqual(facts.a_notifications.map(timeless), [timeless(friendRequest)], "A's kept notifications");

  // B goes: A sees it leave both channels it shared with B.
  facts.b_close = await close(sb);
  const leaves = [
    await sa.channelEvents.next("B's disconnect (first channel)"),
    await sa.channelEvents.next("B's disconnect (second channel)"),
  ].sort((x, y) => x.channel_id.localeCompare(y.channel_id));
  facts.a_sees_b_disconnect = leaves;
  checkEqual(leaves, [groupEvent([], [bSelf]), dmEvent([], [bSelf])], "A sees B leave the group channel and the DM");
  await within(sa.socket.leaveChat(dmId), "A leaves the DM");
  await within(sa.socket.leaveChat(groupId), "A leaves the group channel");

  await allQuiet([sa, sb], "end of chat_dm_group");
  facts.a_close = await close(sa);
  facts.frames = taps;
}
