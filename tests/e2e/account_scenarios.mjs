// Accounts, users and links through nakama-js's own calls, for scenarios.mjs (which runs
// it; see its header). HTTP only, so both adapters give the same facts.
//
//   account   alice updates her profile and reads it back; bob finds her by id and by
//             username; alice links a device and an email, is refused a device bob
//             already has, unlinks the device and the email, and is refused unlinking
//             her custom id, the last way left to log in.

import { randomUUID } from "node:crypto";

import { check, checkEqual, describe, facts, newClient, newUser, rejection, within } from "./scenarios.mjs";

async function httpError(reason) {
  check(reason instanceof Response, "an HTTP error response", describe(reason));
  return { status: reason.status, body: await within(reason.json(), "the error body") };
}

function profile(a) {
  return {
    username: a.user?.username ?? a.username,
    display_name: (a.user ?? a).display_name ?? null,
    avatar_url: (a.user ?? a).avatar_url ?? null,
    lang_tag: (a.user ?? a).lang_tag ?? null,
    location: (a.user ?? a).location ?? null,
    timezone: (a.user ?? a).timezone ?? null,
  };
}

export async function scenarioAccount() {
  const client = newClient();
  const alice = await newUser(client, "aa");
  const bob = await newUser(client, "ab");
  facts.alice = { user_id: alice.user_id, custom_id: alice.customId };
  const renamed = `ren${randomUUID().replace(/-/g, "").slice(0, 10)}`;
  facts.renamed = renamed;

  const update = { username: renamed, display_name: "Alice A.", avatar_url: "https://example.com/a.png",
    lang_tag: "fr", location: "Paris", timezone: "Europe/Paris" };
  checkEqual(await within(client.updateAccount(alice.session, update), "updateAccount"), true, "updated");
  const account = await within(client.getAccount(alice.session), "getAccount");
  facts.account = profile(account);
  facts.account_custom_id = account.custom_id ?? null;

  const byId = await within(client.getUsers(bob.session, [alice.user_id]), "getUsers by id");
  const byName = await within(client.getUsers(bob.session, [], [renamed]), "getUsers by username");
  facts.by_id = byId.users.map(profile);
  facts.by_name = byName.users.map((u) => u.id);
  const taken = await rejection(client.updateAccount(bob.session, { username: renamed }), "a taken username");
  facts.taken = await httpError(taken);

  const device = `dev-${randomUUID()}`;
  const email = `${randomUUID().slice(0, 8)}@example.com`;
  checkEqual(await within(client.linkDevice(alice.session, { id: device }), "linkDevice"), true, "linked");
  checkEqual(await within(client.linkEmail(alice.session, { email, password: "password123" }), "linkEmail"), true, "linked");
  const linked = await within(client.getAccount(alice.session), "getAccount after linking");
  facts.linked = { devices: (linked.devices ?? []).map((d) => d.id), email: linked.email ?? null };
  facts.device_elsewhere = await httpError(
    await rejection(client.linkDevice(bob.session, { id: device }), "linking alice's device"),
  );
  const byEmail = await within(client.authenticateEmail(email, "password123", false), "log in by email");
  facts.email_login_user = byEmail.user_id;

  await within(client.unlinkDevice(alice.session, { id: device }), "unlinkDevice");
  await within(client.unlinkEmail(alice.session, { email, password: "password123" }), "unlinkEmail");
  facts.last_way = await httpError(
    await rejection(client.unlinkCustom(alice.session, { id: alice.customId }), "unlinking the last way"),
  );
  const after = await within(client.getAccount(alice.session), "getAccount after unlinking");
  facts.after = { devices: (after.devices ?? []).length, email: after.email ?? null, custom_id: after.custom_id ?? null };
}
