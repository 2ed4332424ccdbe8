// Hookline outbox: captures wait on the phone (IndexedDB) until the server has them.
//
// One database per user, "hookline-outbox-u<user id>", so one person's captures are never
// uploaded into another person's account. Stores:
//   meta      {key: "seq", value: <last sequence number used>}
//             {key: "sent", value: <highest sequence number ever handed to fetch>}
//   outbox    one change waiting to upload, keyPath "id" (the change UUID):
//             {id, seq, kind: "capture", op: "upsert"|"delete", at: "<ISO 8601 with offset>",
//              data: {...the capture, capture_id...}, device_id, created_ms, attempts, last_error,
//              creates: true on the change that first saved the capture on this phone}
//   attention changes the server rejected, same shape plus {error, rejected_ms}: shown to the
//             user with Retry and Discard; never dropped silently. A rejected badge photo is
//             kept here too, as {id: "photo-<capture_id>", kind: "photo", photo: {...}}.
//   photos    a badge photo taken with a capture, keyPath "capture_id":
//             {capture_id, bytes: ArrayBuffer, type, name, label, created_ms, on_server?}. It
//             is stored in the same transaction as its capture and sent to POST /captures/photo
//             once the server has the capture (404 until then: retried). on_server: true once
//             a change of its capture was acknowledged. Discarding the last rejected change of
//             a capture the server never had removes the photo with it.
// The device id lives in its own database "hookline-device" (store "meta", key "device_id"),
// written once per device.
//
// An entry leaves "outbox" only when the server answers "applied" or "duplicate" for its
// change id, or moves to "attention" when the server answers "rejected". Nothing expires.
// An entry is never changed once stored: an edit or a deletion is a new change (new id, next
// seq) for the same capture_id. The one exception is deleteCapture on a capture that has
// provably never left the phone (see there).
//
// Sync: POST /api/v1/sync with at most 200 changes, in sequence order. 413 splits the batch
// in half; 401/403 and a 400 CSRF failure keep everything and report "login"; 503/429 honour
// Retry-After (a badge photo's in the photos' lane only, see photoBusy); network errors and
// other failures back off exponentially with full jitter.
// An upload that gets no answer within uploadTimeoutMs is given up and counts as a network
// error: the server may have applied it, and the retry then answers "duplicate".

export const DB_PREFIX = "hookline-outbox-u";
export const SYNC_URL = "/api/v1/sync";
export const PHOTO_URL = "/captures/photo";
export const BATCH_MAX = 200;
const DEVICE_DB = "hookline-device";
const BACKOFF_BASE_MS = 2000;
const BACKOFF_CAP_MS = 5 * 60 * 1000;
const UPLOAD_WAIT_MS = 20000;
const UPLOAD_SLOW_BYTES_PER_S = 16 * 1024;

/** Promise for an IDBRequest. */
function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** Promise that resolves only once the transaction has COMPLETED (is durable). */
function committed(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new DOMException("Transaction aborted", "AbortError"));
  });
}

function open(name, upgrade) {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(name, 1);
    request.onupgradeneeded = () => upgrade(request.result);
    request.onsuccess = () => {
      const db = request.result;
      db.onversionchange = () => db.close();
      resolve(db);
    };
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new Error("The outbox database is blocked by another tab."));
  });
}

function strict(db, stores, mode = "readwrite") {
  try {
    return db.transaction(stores, mode, { durability: "strict" });
  } catch {
    return db.transaction(stores, mode);
  }
}

/** Return this device's id, creating and storing it on first use. */
export async function deviceId() {
  const db = await open(DEVICE_DB, (d) => d.createObjectStore("meta", { keyPath: "key" }));
  try {
    const tx = strict(db, ["meta"]);
    const store = tx.objectStore("meta");
    let row = await done(store.get("device_id"));
    if (!row) {
      let legacy = null;
      try {
        legacy = localStorage.getItem("hookline-device-id");
      } catch {
        legacy = null;
      }
      row = { key: "device_id", value: legacy || crypto.randomUUID() };
      store.put(row);
    }
    await committed(tx);
    try {
      localStorage.setItem("hookline-device-id", row.value);
    } catch {
      /* private mode: IndexedDB still has it */
    }
    return row.value;
  } finally {
    db.close();
  }
}

/**
 * A new time-ordered UUID (version 7, RFC 9562) for a change or a capture: the millisecond
 * first, then random bits, so the server's unique indexes take each batch's ids at one end
 * instead of on a random page each.
 */
export function uuid7(now = Date.now()) {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let ms = Math.floor(now);
  for (let i = 5; i >= 0; i -= 1) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x70; // version 7
  bytes[8] = (bytes[8] & 0x3f) | 0x80; // the RFC variant
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The device's local time with its UTC offset, e.g. 2026-11-21T16:04:05+01:00. */
export function localIso(date = new Date()) {
  const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, "0");
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `${sign}${pad(offset / 60)}:${pad(offset % 60)}`
  );
}

/** Delay before retry number attempt (1, 2, ...): full jitter over an exponential cap. */
export function backoffDelay(attempt, random = Math.random) {
  const cap = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(random() * cap);
}

/**
 * How long an upload of this many bytes may go unanswered before it counts as lost:
 * UPLOAD_WAIT_MS, plus a second per UPLOAD_SLOW_BYTES_PER_S so that a slow uplink still gets
 * there (a batch of 200 changes, ~100 KB: 27 s; a 10 MB badge photo: 11 min). Without it, a
 * network that takes the request and never answers (conference Wi-Fi, a dead hotspot) holds
 * the outbox until the browser gives up, minutes later, and nothing saved meanwhile uploads.
 */
export function uploadTimeoutMs(bytes) {
  return UPLOAD_WAIT_MS + Math.ceil(bytes / UPLOAD_SLOW_BYTES_PER_S) * 1000;
}

/** An AbortSignal that fires after ms (a plain timer, as the backoff's), and its off switch. */
function deadline(ms) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  return { signal: controller.signal, ms, clear: () => clearTimeout(timer) };
}

/** The status for an upload given up on: "offline" first, so the status line says Offline. */
function noAnswer(limit) {
  return `offline or the server is unreachable: no answer in ${Math.round(limit.ms / 1000)} s`;
}

/** Seconds or HTTP-date in a Retry-After header, as milliseconds (null when absent/bad). */
export function retryAfterMs(value, now = Date.now()) {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const when = Date.parse(value);
  return Number.isNaN(when) ? null : Math.max(0, when - now);
}

/** Human age: "just now", "5 min", "2 h", "3 days". */
export function ageText(ms) {
  const min = Math.floor(ms / 60000);
  if (min < 1) return "just now";
  if (min < 60) return `${min} min`;
  const hours = Math.floor(min / 60);
  if (hours < 48) return `${hours} h`;
  return `${Math.floor(hours / 24)} days`;
}

function csrfToken() {
  try {
    const headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
    if (headers["X-CSRFToken"]) return headers["X-CSRFToken"];
  } catch {
    /* fall through */
  }
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

/**
 * Uploads of one kind, one run at a time: a call while a run is under way asks it for one
 * more pass instead of starting another, and with the Web Locks API (where present) one tab
 * runs them at a time. A pass that returns "stop" ends the run, and so does more() turning
 * false.
 */
class Lane {
  constructor(lock, pass, more) {
    this.lock = lock;
    this.pass = pass;
    this.more = more;
    this.running = null;
    this.again = false;
  }

  run() {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const work = async () => {
      do {
        this.again = false;
        if ((await this.pass()) === "stop") return;
      } while (this.again && this.more());
    };
    const run = navigator.locks ? () => navigator.locks.request(this.lock, work) : work;
    this.running = run().finally(() => {
      this.running = null;
    });
    return this.running;
  }
}

const channelName = (userId) => `hookline-outbox-u${userId}`;

/**
 * The outbox of one user on this device. Events (on outbox.events, an EventTarget):
 *   "change"  the waiting/attention lists changed
 *   "state"   sync state changed: outbox.state = {syncing, login, retryAt, lastError, uploaded}
 *   "acked"   detail: {ids: [...change ids the server has]}
 */
export class Outbox {
  constructor(userId, { fetch: fetcher, syncUrl = SYNC_URL } = {}) {
    if (!userId) throw new Error("An outbox needs a user id.");
    this.userId = String(userId);
    this.name = DB_PREFIX + this.userId;
    this.syncUrl = syncUrl;
    this.fetch = fetcher || ((...args) => window.fetch(...args));
    this.events = new EventTarget();
    this.state = { syncing: false, login: false, retryAt: 0, lastError: "", uploaded: 0 };
    this.failures = 0;
    this.timer = null;
    this.photoWaitUntil = 0; // a photo upload's Retry-After (photoBusy)
    this.photoTimer = null;
    this.captureLane = new Lane(
      `${this.name}-sync`,
      () => this.flushOnce(),
      () => !this.state.login && !this.timerPending(),
    );
    this.photoLane = new Lane(
      `${this.name}-photos`,
      () => this.sendPhotos(),
      () => !this.state.login && !this.serverWaiting() && !this.photoWaiting(),
    );
    this.channel = "BroadcastChannel" in self ? new BroadcastChannel(channelName(userId)) : null;
    if (this.channel) {
      this.channel.onmessage = () => this.emit("change");
    }
  }

  async db() {
    if (!this._db) {
      this._db = open(this.name, (db) => {
        db.createObjectStore("meta", { keyPath: "key" });
        db.createObjectStore("outbox", { keyPath: "id" });
        db.createObjectStore("attention", { keyPath: "id" });
        db.createObjectStore("photos", { keyPath: "capture_id" });
      });
    }
    return this._db;
  }

  emit(type, detail = {}) {
    this.events.dispatchEvent(new CustomEvent(type, { detail }));
  }

  changed() {
    this.emit("change");
    if (this.channel) this.channel.postMessage("change");
  }

  setState(patch) {
    Object.assign(this.state, patch);
    this.emit("state", { ...this.state });
  }

  /**
   * Put one change in the outbox. Resolves with the stored entry only after the IndexedDB
   * transaction has completed, so the caller may then say "Saved".
   */
  async add({
    kind = "capture",
    op = "upsert",
    data,
    at = localIso(),
    photo = null,
    creates = false,
    settles = [],
  }) {
    if (!data || !data.capture_id) throw new Error("A change needs data.capture_id.");
    const device = await deviceId();
    const db = await this.db();
    const tx = strict(db, ["meta", "outbox", "photos", "attention"]);
    const meta = tx.objectStore("meta");
    const entry = {
      id: uuid7(),
      kind,
      op,
      at,
      data,
      device_id: device,
      created_ms: Date.now(),
      attempts: 0,
      last_error: "",
    };
    if (creates) entry.creates = true;
    const seqRequest = meta.get("seq");
    seqRequest.onsuccess = () => {
      entry.seq = (seqRequest.result ? seqRequest.result.value : 0) + 1;
      meta.put({ key: "seq", value: entry.seq });
      tx.objectStore("outbox").add(entry);
      if (photo) {
        tx.objectStore("photos").put({
          ...photo,
          capture_id: data.capture_id,
          label: photo.label || "",
          created_ms: entry.created_ms,
        });
      }
      // Rejected changes this one replaces (a retry or a fix) leave in the same transaction.
      for (const id of settles) tx.objectStore("attention").delete(id);
    };
    await committed(tx);
    this.changed();
    return entry;
  }

  /**
   * Capture a new person: a fresh capture_id and an upsert change.
   * photo: optional {bytes: ArrayBuffer, type, name, label} kept with it.
   */
  async addCapture(fields, photo = null) {
    const data = { ...fields, capture_id: fields.capture_id || uuid7() };
    return this.add({ kind: "capture", op: "upsert", data, photo, creates: true });
  }

  /**
   * Edit a capture (waiting here or already uploaded): a new upsert with the same capture_id
   * and the full edited capture. settles: ids of rejected changes this edit fixes; creates:
   * true when it fixes the rejected first save of a capture that never reached the server.
   */
  async editCapture(data, { settles = [], creates = false } = {}) {
    return this.add({ kind: "capture", op: "upsert", data, settles, creates });
  }

  /**
   * Delete a capture. Resolves with {removed: true} when the capture had never left this
   * phone and its changes (and badge photo) were simply removed, else {removed: false, entry}
   * with the queued delete change (the server then keeps a tombstone).
   *
   * Removing is only safe while no upload can be under way: it happens under the same Web
   * Lock as flush (taken only if free, never waited for), and only if every change of the
   * capture has a higher seq than any change ever handed to fetch ("sent" in meta), so a
   * change whose answer was lost is never taken back. Otherwise, and in browsers without
   * Web Locks, a delete change is queued after the capture's own changes.
   */
  async deleteCapture(captureId) {
    if (!captureId) throw new Error("Which capture?");
    const device = await deviceId();
    const db = await this.db();
    const attempt = async (mayRemove) => {
      const tx = strict(db, ["meta", "outbox", "photos", "attention"]);
      const meta = tx.objectStore("meta");
      const box = tx.objectStore("outbox");
      const attention = tx.objectStore("attention");
      const [seqRow, sentRow, waiting, rejected] = await Promise.all([
        done(meta.get("seq")),
        done(meta.get("sent")),
        done(box.getAll()),
        done(attention.getAll()),
      ]);
      const sent = sentRow ? sentRow.value : 0;
      const mine = waiting.filter((e) => e.data && e.data.capture_id === captureId);
      const removed = mayRemove && mine.some((e) => e.creates) && mine.every((e) => e.seq > sent);
      let entry = null;
      if (removed) {
        for (const e of mine) box.delete(e.id);
      } else {
        entry = {
          id: uuid7(),
          seq: (seqRow ? seqRow.value : 0) + 1,
          kind: "capture",
          op: "delete",
          at: localIso(),
          data: { capture_id: captureId },
          device_id: device,
          created_ms: Date.now(),
          attempts: 0,
          last_error: "",
        };
        meta.put({ key: "seq", value: entry.seq });
        box.add(entry);
      }
      // A deleted capture's photo must not be posted (its capture is gone), and its rejected
      // changes have nothing left to fix.
      tx.objectStore("photos").delete(captureId);
      for (const r of rejected) {
        if (r.data && r.data.capture_id === captureId) attention.delete(r.id);
      }
      await committed(tx);
      return { removed, entry };
    };
    const outcome = navigator.locks
      ? await navigator.locks.request(`${this.name}-sync`, { ifAvailable: true }, (lock) =>
          attempt(lock !== null),
        )
      : await attempt(false);
    this.changed();
    return outcome;
  }

  /** Remember the highest seq handed to fetch (see deleteCapture). */
  async markSent(seq) {
    const db = await this.db();
    const tx = strict(db, ["meta"]);
    const meta = tx.objectStore("meta");
    const row = await done(meta.get("sent"));
    if (!row || row.value < seq) meta.put({ key: "sent", value: seq });
    await committed(tx);
  }

  async all(store = "outbox") {
    const db = await this.db();
    const tx = db.transaction([store], "readonly");
    const rows = await done(tx.objectStore(store).getAll());
    return rows.sort((a, b) => a.seq - b.seq);
  }

  async count() {
    const db = await this.db();
    const tx = db.transaction(["outbox"], "readonly");
    return done(tx.objectStore("outbox").count());
  }

  /** Number of captures with a change waiting (a capture and its edits count once). */
  async waitingCaptures() {
    return captureCount(await this.all("outbox"));
  }

  /** {waiting (captures), oldestMs, attention, photos} for the status line. */
  async summary() {
    const [waiting, attention, photos] = await Promise.all([
      this.all("outbox"),
      this.all("attention"),
      this.photoCount(),
    ]);
    const oldest = waiting.reduce((min, e) => Math.min(min, e.created_ms), Infinity);
    return {
      waiting: captureCount(waiting),
      oldestMs: waiting.length ? Date.now() - oldest : 0,
      attention: attention.length,
      photos,
    };
  }

  async photoCount() {
    const db = await this.db();
    return done(db.transaction(["photos"], "readonly").objectStore("photos").count());
  }

  /** Apply the server's answers: acked entries leave, rejected ones move to attention. */
  async applyResults(entries, results) {
    const byId = new Map(entries.map((e) => [e.id, e]));
    const db = await this.db();
    const tx = strict(db, ["outbox", "attention", "photos"]);
    const acked = [];
    let rejected = 0;
    for (const result of results || []) {
      const entry = byId.get(result && result.id);
      if (!entry) continue;
      if (result.status === "applied" || result.status === "duplicate") {
        tx.objectStore("outbox").delete(entry.id);
        acked.push(entry.id);
        if (entry.op === "upsert" && entry.data && entry.data.capture_id) {
          markOnServer(tx.objectStore("photos"), entry.data.capture_id);
        }
      } else if (result.status === "rejected") {
        tx.objectStore("outbox").delete(entry.id);
        tx.objectStore("attention").put({
          ...entry,
          error: result.error || "The server could not save this capture.",
          rejected_ms: Date.now(),
        });
        rejected += 1;
      }
    }
    await committed(tx);
    if (acked.length || rejected) this.changed();
    if (acked.length) this.emit("acked", { ids: acked });
    return { acked: acked.length, rejected };
  }

  /** Put a rejected capture back in the outbox as a new change (same capture_id). */
  async retry(id) {
    const db = await this.db();
    const tx = db.transaction(["attention"], "readonly");
    const entry = await done(tx.objectStore("attention").get(id));
    if (!entry) return null;
    if (entry.kind === "photo") {
      const back = strict(db, ["attention", "photos"]);
      back.objectStore("photos").put(entry.photo);
      back.objectStore("attention").delete(id);
      await committed(back);
      this.changed();
      this.flush({ reason: "retry" });
      return entry;
    }
    const fresh = await this.add({
      kind: entry.kind,
      op: entry.op,
      data: entry.data,
      at: entry.at,
      creates: Boolean(entry.creates),
      settles: [id],
    });
    this.flush({ reason: "retry" });
    return fresh;
  }

  /**
   * Drop a rejected change for good. When it was the last change of a capture the server
   * never had, that capture's badge photo goes in the same transaction: it could only ever
   * be refused (404) and would be retried forever. A capture the server has (some change of
   * it was acknowledged: the photo row says so) or may still get (another change of it
   * waits or needs attention) keeps its photo, which uploads as usual.
   */
  async discard(id) {
    const db = await this.db();
    const tx = strict(db, ["outbox", "attention", "photos"]);
    const attention = tx.objectStore("attention");
    const photos = tx.objectStore("photos");
    const entry = await done(attention.get(id));
    attention.delete(id);
    const captureId = entry && entry.kind === "capture" && entry.data && entry.data.capture_id;
    if (captureId) {
      const [waiting, rejected, photo] = await Promise.all([
        done(tx.objectStore("outbox").getAll()),
        done(attention.getAll()),
        done(photos.get(captureId)),
      ]);
      const others = [...waiting, ...rejected].filter(
        (e) => e.id !== id && e.data && e.data.capture_id === captureId,
      );
      if (photo && !photo.on_server && !others.length) photos.delete(captureId);
    }
    await committed(tx);
    this.changed();
  }

  /** Try again soon, after a backoff delay (ms from now). */
  schedule(delay) {
    clearTimeout(this.timer);
    const at = Date.now() + delay;
    this.setState({ retryAt: at });
    this.timer = setTimeout(() => this.flush({ reason: "timer" }), delay);
  }

  /**
   * Upload everything waiting. Safe to call often: concurrent calls coalesce, and across
   * tabs the Web Locks API (where present) lets one tab upload at a time.
   * reason "online" forgets the exponential backoff; Retry-After is always honoured.
   * Resolves once the captures are sent; their badge photos go on beside (uploadPhotos).
   */
  async flush({ reason = "manual" } = {}) {
    if (reason === "online" || reason === "save" || reason === "retry") {
      if (!this.serverWaiting()) {
        this.failures = 0;
      }
    }
    if (this.serverWaiting()) {
      this.schedule(this.serverWaitUntil - Date.now());
      return;
    }
    return this.captureLane.run();
  }

  timerPending() {
    return this.state.retryAt > Date.now();
  }

  /** Whether the server's Retry-After is still running. */
  serverWaiting() {
    return this.serverWaitUntil > Date.now();
  }

  async flushOnce() {
    const entries = await this.all("outbox");
    if (!entries.length) {
      this.setState({ syncing: false, lastError: "" });
      if ((await this.photoCount()) && navigator.onLine !== false) this.uploadPhotos();
      return;
    }
    if (navigator.onLine === false) {
      this.setState({ syncing: false, lastError: "offline" });
      return; // the "online" event flushes again
    }
    this.setState({ syncing: true });
    try {
      for (let i = 0; i < entries.length; i += BATCH_MAX) {
        const outcome = await this.send(entries.slice(i, i + BATCH_MAX));
        if (outcome !== "ok") return;
      }
      this.failures = 0;
      clearTimeout(this.timer);
      this.setState({ login: false, retryAt: 0, lastError: "" });
      this.uploadPhotos();
    } finally {
      this.setState({ syncing: false });
    }
  }

  /** POST one batch. Returns "ok", or "stop" when the rest must wait (login, backoff). */
  async send(batch) {
    const body = JSON.stringify({
      device_id: batch[0].device_id,
      changes: batch.map(({ id, seq, kind, op, at, data }) => ({ id, seq, kind, op, at, data })),
    });
    await this.markSent(Math.max(...batch.map((e) => e.seq)));
    const limit = deadline(uploadTimeoutMs(body.length));
    try {
      return await this.post(batch, body, limit);
    } finally {
      limit.clear();
    }
  }

  /** The request of send(): given up on, as a network error, once limit fires. */
  async post(batch, body, limit) {
    let response;
    try {
      response = await this.fetch(this.syncUrl, {
        method: "POST",
        credentials: "same-origin",
        redirect: "manual",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRFToken": csrfToken(),
        },
        body,
        signal: limit.signal,
      });
    } catch {
      return this.backoff(
        limit.signal.aborted ? noAnswer(limit) : "offline or the server is unreachable",
      );
    }
    if (response.status === 413) {
      if (batch.length === 1) {
        await this.applyResults(batch, [
          { id: batch[0].id, status: "rejected", error: "This capture is too large to upload." },
        ]);
        return "ok";
      }
      const half = Math.ceil(batch.length / 2);
      const first = await this.send(batch.slice(0, half));
      if (first !== "ok") return first;
      return this.send(batch.slice(half));
    }
    if (
      response.status === 401 ||
      response.status === 403 ||
      response.type === "opaqueredirect" ||
      (response.status >= 300 && response.status < 400)
    ) {
      return this.needLogin("Your session has ended.");
    }
    if (response.status === 400) {
      // An expired or missing CSRF token answers 400: same remedy as 403. Any other 400 is
      // a batch the server could not read: keep it, retry later, and show the reason.
      let error = "";
      try {
        error = (await response.clone().json()).error || "";
      } catch {
        if (limit.signal.aborted) return this.backoff(noAnswer(limit));
        error = "";
      }
      if (!error || /csrf|token/i.test(error)) return this.needLogin("This page is out of date.");
      return this.backoff(`The server could not read the upload: ${error}`);
    }
    if (response.status === 503 || response.status === 429) {
      const wait = retryAfterMs(response.headers.get("Retry-After"));
      if (wait !== null) {
        this.serverWaitUntil = Date.now() + wait;
        this.setState({ lastError: "The server is busy." });
        this.schedule(wait + 50); // timers may fire a hair early; never before the server said
        return "stop";
      }
      return this.backoff("The server is busy.");
    }
    if (!response.ok) return this.backoff(`The server answered ${response.status}.`);
    let payload;
    try {
      payload = await response.json();
    } catch {
      if (limit.signal.aborted) return this.backoff(noAnswer(limit)); // the answer stalled
      // An HTML page instead of JSON: most likely the login page after a redirect.
      return this.needLogin("Your session has ended.");
    }
    const { acked } = await this.applyResults(batch, payload.results);
    this.setState({ uploaded: this.state.uploaded + acked, login: false });
    const answered = new Set((payload.results || []).map((r) => r && r.id));
    if (batch.some((e) => !answered.has(e.id))) return this.backoff("Some captures got no answer.");
    return "ok";
  }

  /**
   * Upload the badge photos beside the captures, not in their line: a photo of a few
   * megabytes on a slow uplink takes minutes, and the people met meanwhile (a kilobyte
   * each) go to the server while it does. One photo at a time; calls while one is on its
   * way coalesce into one more pass, which picks up the photos of captures acknowledged
   * meanwhile. With the Web Locks API one tab uploads photos at a time. Resolves when the
   * run (every pass asked for) is over.
   */
  uploadPhotos() {
    return this.photoLane.run();
  }

  /** Send badge photos whose capture the server already has. Returns "ok" or "stop". */
  async sendPhotos() {
    if (this.photoWaiting()) return "stop"; // photoBusy's timer runs the lane again
    const db = await this.db();
    const tx = db.transaction(["photos", "outbox"], "readonly");
    const [photos, waiting] = await Promise.all([
      done(tx.objectStore("photos").getAll()),
      done(tx.objectStore("outbox").getAll()),
    ]);
    const pending = new Set(waiting.map((e) => e.data && e.data.capture_id));
    for (const photo of photos) {
      if (pending.has(photo.capture_id)) continue; // its capture has not reached the server
      const limit = deadline(uploadTimeoutMs(photo.bytes.byteLength));
      try {
        const outcome = await this.sendPhoto(photo, limit);
        if (outcome !== "ok") return outcome;
      } finally {
        limit.clear();
      }
    }
    return "ok";
  }

  /** POST one badge photo. Returns "ok" (sent, or set aside with its reason) or "stop". */
  async sendPhoto(photo, limit) {
    const form = new FormData();
    form.append("capture_id", photo.capture_id);
    form.append("photo", new Blob([photo.bytes], { type: photo.type }), photo.name || "badge.jpg");
    let response;
    try {
      response = await this.fetch(PHOTO_URL, {
        method: "POST",
        credentials: "same-origin",
        redirect: "manual",
        headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
        body: form,
        signal: limit.signal,
      });
    } catch {
      return this.backoff(
        limit.signal.aborted ? noAnswer(limit) : "offline or the server is unreachable",
      );
    }
    if (response.ok) {
      await this.dropPhoto(photo.capture_id);
    } else if ([401, 403, 400].includes(response.status) || response.type === "opaqueredirect") {
      let error = "";
      try {
        error = (await response.json()).error || "";
      } catch {
        if (limit.signal.aborted) return this.backoff(noAnswer(limit));
        error = "";
      }
      if (response.status === 400 && error && !/csrf/i.test(error)) {
        await this.rejectPhoto(photo, error);
        return "ok";
      }
      return this.needLogin("Your session has ended.");
    } else if (response.status === 413 || response.status === 415) {
      let error = "The server did not accept this photo.";
      try {
        error = (await response.json()).error || error;
      } catch {
        if (limit.signal.aborted) return this.backoff(noAnswer(limit));
      }
      await this.rejectPhoto(photo, error);
    } else if (response.status === 503 || response.status === 429) {
      return this.photoBusy(response);
    } else {
      return this.backoff(`The photo upload answered ${response.status}.`);
    }
    return "ok";
  }

  /**
   * A photo upload answered 503 or 429. With a Retry-After, the photos wait exactly that long
   * (the photo endpoint has a rate limit of its own, and a phone back from a day offline may
   * hold more photos than it lets through in a minute), and the captures go on meanwhile:
   * their own answer says whether the server wants them to wait too. Without one, it backs
   * off as any other failure does.
   */
  photoBusy(response) {
    const wait = retryAfterMs(response.headers.get("Retry-After"));
    if (wait === null) return this.backoff("The server is busy.");
    this.photoWaitUntil = Date.now() + wait;
    clearTimeout(this.photoTimer);
    // Timers may fire a hair early; never before the server said.
    this.photoTimer = setTimeout(() => this.uploadPhotos(), wait + 50);
    return "stop";
  }

  /** Whether a photo upload's Retry-After is still running. */
  photoWaiting() {
    return this.photoWaitUntil > Date.now();
  }

  async dropPhoto(captureId) {
    const db = await this.db();
    const tx = strict(db, ["photos"]);
    tx.objectStore("photos").delete(captureId);
    await committed(tx);
    this.changed();
  }

  async rejectPhoto(photo, error) {
    const db = await this.db();
    const tx = strict(db, ["photos", "attention"]);
    tx.objectStore("photos").delete(photo.capture_id);
    tx.objectStore("attention").put({
      id: `photo-${photo.capture_id}`,
      kind: "photo",
      seq: 0,
      created_ms: photo.created_ms,
      data: { name: `Badge photo of ${photo.label || "a capture"}` },
      photo,
      error,
      rejected_ms: Date.now(),
    });
    await committed(tx);
    this.changed();
  }

  needLogin(message) {
    clearTimeout(this.timer);
    this.setState({ login: true, retryAt: 0, lastError: message });
    return "stop";
  }

  backoff(message) {
    this.failures += 1;
    this.setState({ lastError: message });
    this.schedule(backoffDelay(this.failures));
    return "stop";
  }
}

/** Note on a capture's photo that the server has the capture (discard then keeps it). */
function markOnServer(photos, captureId) {
  const request = photos.get(captureId);
  request.onsuccess = () => {
    const photo = request.result;
    if (photo && !photo.on_server) photos.put({ ...photo, on_server: true });
  };
}

/** Number of distinct captures the changes are about. */
function captureCount(entries) {
  return new Set(entries.map((e) => (e.data && e.data.capture_id) || e.id)).size;
}

/** Count waiting captures of a user without keeping the database open (logout warning). */
export async function waitingCount(userId) {
  const box = new Outbox(userId);
  try {
    return await box.waitingCaptures();
  } finally {
    (await box.db()).close();
    if (box.channel) box.channel.close();
  }
}
