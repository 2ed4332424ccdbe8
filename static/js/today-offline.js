// The Today screen on the phone, online or not: what waits in the outbox (new captures, edits,
// deletions) is shown over the server's list, and any capture listed can be edited or deleted
// right here. The editor is the capture form (templates/capture/_phone_edit.html), filled from
// the newest change waiting on the phone, else a rejected change being fixed, else the capture
// as the server last sent it (each row's data-capture JSON, which the service worker caches
// with the page). Every save or delete is a NEW change in the outbox for the same capture_id.
import {
  captureItem,
  captureLabel,
  clearErrors,
  fillCapture,
  readableError,
  readCapture,
  showErrors,
  validateCapture,
} from "./capture-offline.js";

const EDIT_HASH = /^#edit=([0-9a-fA-F-]{36})$/;
const TODAY_URL = "/today";

/**
 * Group waiting changes by capture, oldest change first. Each item:
 * {captureId, data: the newest upsert's capture, deleted, creates, changes, ids, firstSeq}.
 */
export function pendingByCapture(entries) {
  const byId = new Map();
  for (const entry of [...entries].sort((a, b) => a.seq - b.seq)) {
    const id = entry.data && entry.data.capture_id;
    if (!id) continue;
    let item = byId.get(id);
    if (!item) {
      item = { captureId: id, data: null, deleted: false, creates: false, changes: 0, ids: [] };
      item.firstSeq = entry.seq;
      byId.set(id, item);
    }
    item.changes += 1;
    item.ids.push(entry.id);
    if (entry.creates) item.creates = true;
    if (entry.op === "delete") item.deleted = true;
    else if (!item.deleted) item.data = entry.data;
  }
  return byId;
}

/** The capture's fields in a comparable form (hooks by type), to tell an edit from no edit. */
export function sameCapture(a, b) {
  const norm = (d) => {
    const out = {};
    for (const k of ["name", "org", "title", "email", "phone", "url", "note", "offer", "ask"]) {
      out[k] = (d[k] || "").trim();
    }
    out.rating = d.rating || null;
    out.hooks = (d.hooks || [])
      .map((h) => [h.type, (h.detail || "").trim(), h.owed_by === "them" ? "them" : "me"])
      .sort((x, y) => (x[0] < y[0] ? -1 : 1));
    return JSON.stringify(out);
  };
  return norm(a) === norm(b);
}

function rowData(row) {
  try {
    return JSON.parse(row.dataset.capture || "null");
  } catch {
    return null;
  }
}

function badge(text, kind) {
  const node = document.createElement("span");
  node.className = `badge ${kind}`;
  node.textContent = text;
  return node;
}

/** Wire the Today screen. Returns {render, refreshList} or null on other pages. */
export function wireToday(outbox) {
  const list = document.querySelector("[data-today-list]");
  const editor = document.querySelector("[data-phone-editor]");
  const form = editor && editor.querySelector("[data-phone-edit-form]");
  if (!list || !form) return null;
  const waitingBox = list.querySelector("[data-outbox-waiting]");
  const notice = list.querySelector("[data-today-notice]");
  const title = editor.querySelector("[data-editor-title]");
  const stateLine = editor.querySelector("[data-editor-state]");
  const deleteButton = editor.querySelector("[data-editor-delete]");
  const deleteHint = editor.querySelector("[data-editor-delete-hint]");
  const saveButton = form.querySelector('button[type="submit"]');
  const held = new Map(); // captures just uploaded, shown as such until the list is fresh
  let pending = new Map();
  let current = null; // {captureId, source}
  let lastNotice = null; // {ids, text} of the last save, to say "uploaded" when it is

  const serverRows = () => [...list.querySelectorAll("#people li[data-capture-id]")];

  function say(text, ids = []) {
    lastNotice = { ids, text };
    notice.textContent = text;
    notice.hidden = false;
    if (editor.hidden) notice.focus({ preventScroll: true }); // focus left with the editor
  }

  /** One capture as the phone has it, with its state badge and an Edit button. */
  function overlay(item, base, row) {
    const data = item.deleted || !item.data ? base || item.data || {} : item.data;
    const li = captureItem({ data });
    li.dataset.overlayFor = item.captureId;
    li.classList.add("is-pending");
    const main = li.querySelector(".row-main");
    if (item.uploaded) {
      main.append(badge("uploaded", "uploaded"));
    } else if (item.deleted) {
      li.classList.add("is-deleted");
      main.append(badge("deleted — waiting to upload", "waiting"));
    } else if (item.creates) {
      // Its first save is not confirmed yet (even if the server's list already shows it).
      main.append(badge("waiting to upload", "waiting"));
      if (item.changes > 1) main.append(badge("edited", "edited"));
    } else {
      main.append(badge("edited — waiting to upload", "waiting"));
    }
    const side = document.createElement("div");
    side.className = "row-side";
    const time = row && row.querySelector("time");
    if (time) side.append(time.cloneNode(true));
    if (!item.deleted && !item.uploaded) {
      const edit = document.createElement("button");
      edit.type = "button";
      edit.className = "button small";
      edit.textContent = "Edit";
      edit.setAttribute("aria-label", `Edit ${captureLabel(data)}`);
      edit.dataset.editCapture = item.captureId;
      side.append(edit);
    }
    li.append(side);
    return li;
  }

  /** Show the outbox over the server's list. entries: the outbox, in seq order. */
  async function render(entries) {
    pending = pendingByCapture(entries);
    const shown = new Map();
    for (const [id, item] of held) if (!pending.has(id)) shown.set(id, item);
    for (const [id, item] of pending) shown.set(id, item);
    for (const old of list.querySelectorAll("[data-overlay-for]")) old.remove();
    const onList = new Set();
    for (const row of serverRows()) {
      const id = row.dataset.captureId;
      onList.add(id);
      const item = shown.get(id);
      row.hidden = Boolean(item);
      if (item && !item.gone) row.after(overlay(item, rowData(row), row));
    }
    if (!waitingBox) return;
    const waiting = [...shown.values()]
      .filter((item) => !onList.has(item.captureId) && !item.gone)
      .sort((a, b) => (b.firstSeq || 0) - (a.firstSeq || 0));
    waitingBox.hidden = waiting.length === 0;
    const heading = waitingBox.querySelector("h2");
    const count = waiting.filter((item) => !item.uploaded).length;
    if (heading) heading.textContent = `Waiting to upload (${count})`;
    let ol = waitingBox.querySelector("ol");
    if (!ol) {
      ol = document.createElement("ol");
      ol.className = "rows";
      waitingBox.append(ol);
    }
    ol.replaceChildren(...waiting.map((item) => overlay(item, null, null)));
  }

  /** Reload the server's list (and so the service worker's copy of /today). */
  async function refreshList() {
    try {
      const response = await fetch(TODAY_URL, { credentials: "same-origin" });
      if (!response.ok || response.redirected) return;
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = doc.getElementById("people");
      const old = document.getElementById("people");
      if (fresh && old) old.replaceWith(document.adoptNode(fresh));
    } finally {
      held.clear();
      await render(await outbox.all("outbox"));
    }
  }

  /** Where the editor's data comes from: waiting change, rejected change, or the server. */
  async function findCapture(captureId) {
    const item = pending.get(captureId) || pendingByCapture(await outbox.all("outbox")).get(captureId);
    if (item && item.deleted) return { deleted: true, data: item.data };
    if (item && item.data) return { data: item.data, waiting: true, creates: item.creates };
    const rejected = (await outbox.all("attention")).filter(
      (e) => e.kind === "capture" && e.op === "upsert" && e.data && e.data.capture_id === captureId,
    );
    if (rejected.length) {
      const newest = rejected.reduce((a, b) => ((b.rejected_ms || 0) >= (a.rejected_ms || 0) ? b : a));
      return {
        data: newest.data,
        error: newest.error,
        settles: rejected.map((e) => e.id),
        creates: rejected.some((e) => e.creates),
      };
    }
    const row = serverRows().find((r) => r.dataset.captureId === captureId);
    const data = row && rowData(row);
    return data ? { data, uploaded: true } : null;
  }

  function disarmDelete() {
    delete deleteButton.dataset.armed;
    deleteButton.textContent = "Delete this capture";
    deleteHint.hidden = true;
  }

  async function open(captureId, { push = true } = {}) {
    const source = await findCapture(captureId);
    if (!source || source.deleted) {
      say(
        source
          ? `${captureLabel(source.data || {})} is deleted; the deletion is waiting to upload.`
          : "That capture is not on this phone any more.",
      );
      hide();
      return;
    }
    current = { captureId, source };
    fillCapture(form, source.data);
    title.textContent = `Edit ${captureLabel(source.data)}`;
    const reason = source.error ? readableError(source.error, source.data, form) : null;
    stateLine.textContent = reason
      ? `The server did not accept it: ${reason.message.replace(/\.?$/, ".")} Fix it and save.`
      : source.waiting
        ? "Waiting to upload. Your changes are kept on this phone until the server has them."
        : "Uploaded. Your changes are kept on this phone and upload when it is online.";
    disarmDelete();
    // The server named a field ("data.note is too long: ..."): mark it as the form would.
    if (reason?.field) showErrors(form, { [reason.field]: reason.message });
    list.hidden = true;
    editor.hidden = false;
    if (push) history.pushState({ hooklineEdit: captureId }, "", `#edit=${captureId}`);
    window.scrollTo(0, 0);
    title.focus({ preventScroll: true });
  }

  function hide() {
    current = null;
    editor.hidden = true;
    list.hidden = false;
  }

  /** Leave the editor, taking its history entry (or hash) with it. */
  function close() {
    if (history.state && history.state.hooklineEdit) {
      history.back(); // its popstate finds no #edit= and hides the editor too
    } else if (EDIT_HASH.test(location.hash)) {
      history.replaceState(null, "", location.pathname);
    }
    hide();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!current || saveButton.disabled) return;
    clearErrors(form);
    const { captureId, source } = current;
    const data = { ...readCapture(form), capture_id: captureId };
    const errors = validateCapture(data);
    if (Object.keys(errors).length) {
      showErrors(form, errors);
      return;
    }
    const label = captureLabel(data);
    if (sameCapture(data, source.data) && !source.settles) {
      close();
      say(`No changes to ${label}.`);
      return;
    }
    saveButton.disabled = true;
    try {
      const entry = await outbox.editCapture(data, {
        settles: source.settles || [],
        creates: Boolean(source.settles && source.creates),
      });
      close();
      say(`Saved changes to ${label} — waiting to upload`, [entry.id]);
      outbox.flush({ reason: "save" });
    } catch (error) {
      showErrors(form, {
        name: `Could not save on this phone: ${(error && error.message) || "storage is not available"}.`,
      });
    } finally {
      saveButton.disabled = false;
    }
  });

  editor.querySelector("[data-editor-cancel]").addEventListener("click", close);

  // Delete takes two taps on the same button, so a thumb can confirm without reaching.
  deleteButton.addEventListener("click", async () => {
    if (!current) return;
    const { captureId, source } = current;
    const label = captureLabel(source.data);
    if (!deleteButton.dataset.armed) {
      deleteButton.dataset.armed = "1";
      deleteButton.textContent = "Tap again to delete";
      deleteHint.textContent = source.uploaded
        ? `${label} will be deleted from Hookline on all your devices, with any follow-up you have not edited.`
        : `${label} will be deleted.`;
      deleteHint.hidden = false;
      return;
    }
    deleteButton.disabled = true;
    try {
      const outcome = await outbox.deleteCapture(captureId);
      close();
      if (outcome.removed) {
        say(`Deleted ${label}. It had not been uploaded, so it is simply gone from this phone.`);
      } else {
        say(`Deleted ${label} — waiting to upload`, [outcome.entry.id]);
        outbox.flush({ reason: "save" });
      }
    } finally {
      deleteButton.disabled = false;
    }
  });

  // Edit buttons of waiting rows, and the Edit links of the server's rows (which open the
  // server's edit page when this script is not running).
  list.addEventListener("click", (event) => {
    const trigger = event.target.closest("[data-edit-capture]");
    if (!trigger || event.ctrlKey || event.metaKey || event.shiftKey || event.button > 0) return;
    // A row without its data (a page cached by an older version) keeps the server's edit page.
    const row = trigger.closest("li[data-capture-id]");
    if (trigger.href && row && !row.dataset.capture && !pending.has(row.dataset.captureId)) return;
    event.preventDefault();
    open(trigger.dataset.editCapture);
  });

  window.addEventListener("popstate", () => {
    const match = EDIT_HASH.exec(location.hash);
    if (match) open(match[1], { push: false });
    else hide();
  });

  outbox.events.addEventListener("acked", (event) => {
    const ids = new Set(event.detail.ids);
    for (const item of pending.values()) {
      if (item.ids.some((id) => ids.has(id))) {
        // Until the fresh list arrives: an uploaded edit or new capture stays as the phone has
        // it, marked "uploaded"; an uploaded deletion is gone.
        held.set(item.captureId, { ...item, uploaded: true, gone: item.deleted });
      }
    }
    if (lastNotice && lastNotice.ids.some((id) => ids.has(id))) {
      notice.textContent = lastNotice.text.replace(/ — waiting to upload$/, " — uploaded");
    }
    refreshList().catch(() => {});
  });

  const match = EDIT_HASH.exec(location.hash);
  if (match) open(match[1], { push: false });

  return { render, refreshList };
}
