// The storage engine through nakama-js's own calls, for scenarios.mjs (which runs it; see
// its header). HTTP only, so both adapters give the same facts.
//
//   storage   alice saves a private and a public object, reads them back, lists them;
//             bob sees only the public one (read and list); a create-only write of an
//             existing key is refused with Nakama's message and writes nothing; a write
//             with the current version replaces the value; alice deletes an object.

import { check, checkEqual, describe, facts, newClient, newUser, rejection, within } from "./scenarios.mjs";

/** A failed HTTP call: nakama-js rejects with the fetch Response; its JSON body is read. */
async function httpError(reason) {
  check(reason instanceof Response, "an HTTP error response", describe(reason));
  return { status: reason.status, body: await within(reason.json(), "the error body") };
}

function stored(o) {
  return {
    collection: o.collection,
    key: o.key,
    user_id: o.user_id,
    value: o.value,
    version: o.version,
    permission_read: o.permission_read,
    permission_write: o.permission_write,
  };
}

export async function scenarioStorage() {
  const client = newClient();
  const alice = await newUser(client, "sa");
  const bob = await newUser(client, "sb");
  facts.alice = alice.user_id;
  facts.bob = bob.user_id;

  const saves = [
    { collection: "saves", key: "slot1", value: { level: 3, items: ["sword"] }, permission_read: 1, permission_write: 1 },
    { collection: "saves", key: "profile", value: { title: "Knight" }, permission_read: 2, permission_write: 1 },
  ];
  const acks = await within(client.writeStorageObjects(alice.session, saves), "alice's write");
  facts.acks = (acks.acks ?? []).map((a) => ({ collection: a.collection, key: a.key, version: a.version, user_id: a.user_id }));

  const ids = saves.map((s) => ({ collection: s.collection, key: s.key, user_id: alice.user_id }));
  const mine = await within(client.readStorageObjects(alice.session, { object_ids: ids }), "alice's read");
  facts.alice_reads = mine.objects.map(stored);
  const theirs = await within(client.readStorageObjects(bob.session, { object_ids: ids }), "bob's read");
  facts.bob_reads = theirs.objects.map(stored);

  const listed = await within(client.listStorageObjects(alice.session, "saves", alice.user_id, 10), "alice's list");
  facts.alice_lists = { keys: listed.objects.map((o) => o.key), cursor: listed.cursor ?? null };
  const listedByBob = await within(client.listStorageObjects(bob.session, "saves", alice.user_id, 10), "bob's list");
  facts.bob_lists = { keys: listedByBob.objects.map((o) => o.key), cursor: listedByBob.cursor ?? null };

  const again = { ...saves[0], value: { level: 99 }, version: "*" };
  facts.create_only = await httpError(await rejection(client.writeStorageObjects(alice.session, [again]), "a create-only write"));
  const slot = facts.acks.find((a) => a.key === "slot1");
  const update = { ...saves[0], value: { level: 4 }, version: slot.version };
  const updated = await within(client.writeStorageObjects(alice.session, [update]), "a versioned write");
  facts.updated_version = updated.acks[0].version;
  const after = await within(client.readStorageObjects(alice.session, { object_ids: [ids[0]] }), "the read after");
  facts.after_update = after.objects.map((o) => o.value);

  const deleted = await within(
    client.deleteStorageObjects(alice.session, { object_ids: [{ collection: "saves", key: "profile" }] }),
    "alice's delete",
  );
  checkEqual(deleted, true, "the delete answered");
  const gone = await within(client.readStorageObjects(bob.session, { object_ids: [ids[1]] }), "bob's read after");
  facts.after_delete = gone.objects.length;
}
