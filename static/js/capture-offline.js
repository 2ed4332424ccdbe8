// Wire the capture form to the outbox: with JavaScript, "Save contact" stores the capture on
// the phone (IndexedDB) first and uploads it in the background; without JavaScript the form
// still posts to the server as before.
//
// The form opts in with data-offline-capture; data-event-id carries the current event's
// UUID. Validation mirrors the server's essentials (webapp/capture/forms.py) so a capture
// that waits offline is one the server will accept.

export const MISSING_IDENTITY =
  "Add a name, an email, a phone or a link, so you can find this person again.";

const LIMITS = {
  name: [200, "Name"],
  org: [200, "Company"],
  title: [200, "Title"],
  email: [254, "Email"],
  phone: [60, "Phone"],
  url: [300, "Link"],
  note: [4000, "The note"],
  offer: [1000, "The offer"],
  ask: [1000, "This field"],
  raw: [4096, "The scanned text"],
};
const DETAIL_LIMIT = 500;
const RATINGS = { hot: "Hot", warm: "Warm", cold: "Cold" };
const TEXT_FIELDS = ["name", "org", "title", "email", "phone", "url", "note", "offer", "ask"];
const PHONE_CHARS = /^[0-9+()\-./ ]*$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s.]+$/;

const length = (value) => [...value].length;
const tooLong = (label, max) =>
  `${label} is too long: keep it under ${max.toLocaleString("en-US")} characters.`;

/** Return value as an http(s) link, adding https:// to a bare domain (like the server). */
export function normalizeUrl(value) {
  const v = (value || "").trim();
  if (v && !v.includes("://") && !/^(mailto:|tel:)/i.test(v)) return "https://" + v;
  return v;
}

function valueOf(form, name) {
  const field = form.elements.namedItem(name);
  if (!field) return "";
  if (field instanceof RadioNodeList) return field.value || "";
  return field.value || "";
}

/** Read the form into the sync contract's capture data (without capture_id). */
export function readCapture(form) {
  const data = {};
  for (const name of TEXT_FIELDS) data[name] = valueOf(form, name).trim();
  data.email = data.email.toLowerCase();
  data.url = normalizeUrl(data.url);
  data.raw = valueOf(form, "raw").trim() || null;
  data.rating = valueOf(form, "rating") || null;
  data.event_id = form.dataset.eventId || null;
  data.hooks = [];
  for (const toggle of form.querySelectorAll('input[type="checkbox"][name^="hook_"]')) {
    if (!toggle.checked) continue;
    const type = toggle.name.slice("hook_".length);
    data.hooks.push({
      type,
      detail: valueOf(form, `detail_${type}`).trim(),
      owed_by: valueOf(form, `owed_${type}`) === "them" ? "them" : "me",
    });
  }
  return data;
}

/** Check a capture like the server does. Returns {fieldName: message} (empty when valid). */
export function validateCapture(data) {
  const errors = {};
  for (const [name, [max, label]] of Object.entries(LIMITS)) {
    const value = data[name] || "";
    if (length(value) > max) errors[name] = tooLong(label, max);
  }
  if (!errors.email && data.email && !EMAIL.test(data.email)) {
    errors.email = "Enter a valid email.";
  }
  const phone = data.phone || "";
  if (!errors.phone && phone && (!PHONE_CHARS.test(phone) || (phone.match(/\d/g) || []).length < 3)) {
    errors.phone = "That does not look like a phone number.";
  }
  if (!errors.url && data.url) {
    if (!/^https?:\/\//i.test(data.url)) {
      errors.url = "Only http and https links can be saved.";
    } else if (!data.url.split("://", 2)[1].split("/", 1)[0].includes(".")) {
      errors.url = "That does not look like a web address.";
    }
  }
  const identifies = [data.name, data.email, data.phone, data.url, data.raw || ""].some((v) =>
    (v || "").trim(),
  );
  if (!identifies) errors.name = errors.name ? `${errors.name} ${MISSING_IDENTITY}` : MISSING_IDENTITY;
  for (const hook of data.hooks || []) {
    if (length(hook.detail) > DETAIL_LIMIT) {
      errors[`detail_${hook.type}`] = tooLong("The detail", DETAIL_LIMIT);
    } else if (hook.type === "custom" && !hook.detail) {
      errors.detail_custom = "Say what the custom promise is.";
    }
  }
  return errors;
}

/**
 * The server's reason for refusing a change, in the form's words: it names the field as the
 * sync API does ("data.note is too long: ..."), and the phone shows that field's label
 * instead ("“Note” is too long: ..."; a hook's detail by its own label, "Send a resource:
 * detail"; the rating by its legend). A reason that names no field of the form is shown as
 * the server wrote it.
 * Returns {field, message}: field is the form's name for it (null if none).
 */
export function readableError(error, data, form) {
  const match = /^data\.(\w+)(?:\[(\d+)\](?:\.(\w+))?)?/.exec(error || "");
  if (!match || !form) return { field: null, message: error };
  const [whole, key, index, part] = match;
  let name = key;
  if (key === "hooks") {
    const type = index === undefined ? null : data?.hooks?.[Number(index)]?.type;
    name = type ? (part === "detail" ? `detail_${type}` : `hook_${type}`) : null;
  }
  const input = name ? form.elements.namedItem(name) : null;
  // A group of choices (the rating) is named by its legend, not by its first choice's label.
  const label = (
    (input instanceof RadioNodeList
      ? input[0]?.closest("fieldset")?.querySelector("legend")?.textContent
      : input?.labels?.[0]?.textContent) || ""
  ).trim();
  if (!label) return { field: null, message: error };
  return { field: name, message: `“${label}”${error.slice(whole.length)}` };
}

/** A label for "Saved <label>": the name, else email, phone or link. */
export function captureLabel(data) {
  return data.name || data.email || data.phone || data.url || "the scanned badge";
}

/** Check the radio button of a group whose value is wanted (RadioNodeList.value = "" does not). */
function checkRadio(form, name, wanted) {
  for (const radio of form.querySelectorAll(`input[type="radio"][name="${name}"]`)) {
    radio.checked = radio.value === wanted;
  }
}

/** Fill the capture form with a capture (the sync contract's data) for editing. */
export function fillCapture(form, data) {
  clearErrors(form);
  for (const name of TEXT_FIELDS) {
    const field = form.elements.namedItem(name);
    if (field && !(field instanceof RadioNodeList)) field.value = data[name] || "";
  }
  const raw = form.elements.namedItem("raw");
  if (raw && !(raw instanceof RadioNodeList)) raw.value = data.raw || "";
  checkRadio(form, "rating", data.rating || "");
  const hooks = new Map((data.hooks || []).map((h) => [h.type, h]));
  for (const toggle of form.querySelectorAll('input[type="checkbox"][name^="hook_"]')) {
    const type = toggle.name.slice("hook_".length);
    const hook = hooks.get(type);
    toggle.checked = Boolean(hook);
    const detail = form.elements.namedItem(`detail_${type}`);
    if (detail && !(detail instanceof RadioNodeList)) detail.value = hook ? hook.detail || "" : "";
    checkRadio(form, `owed_${type}`, hook && hook.owed_by === "them" ? "them" : "me");
  }
  const twoWay = form.querySelector("details.two-way");
  if (twoWay) twoWay.open = Boolean(data.offer || data.ask);
  form.dataset.eventId = data.event_id || "";
}

export function clearErrors(form) {
  for (const node of form.querySelectorAll(".error")) node.remove();
  for (const node of form.querySelectorAll(".has-error")) node.classList.remove("has-error");
  for (const node of form.querySelectorAll("[aria-invalid]")) {
    node.removeAttribute("aria-invalid");
    node.removeAttribute("aria-describedby");
  }
}

export function showErrors(form, errors) {
  let first = null;
  for (const [name, message] of Object.entries(errors)) {
    const input = form.elements.namedItem(name);
    const target = input instanceof RadioNodeList ? input[0] : input;
    if (!target) continue;
    const holder = target.closest(".field") || target.closest(".hook-extra") || target.parentElement;
    holder.classList.add("has-error");
    const p = document.createElement("p");
    p.className = "error";
    p.id = `${target.id || name}-error`;
    p.textContent = message;
    holder.append(p);
    target.setAttribute("aria-invalid", "true");
    target.setAttribute("aria-describedby", p.id);
    first = first || target;
  }
  if (first) first.focus();
}

function clearForm(form) {
  form.reset();
  for (const name of TEXT_FIELDS) {
    const field = form.elements.namedItem(name);
    if (field && !(field instanceof RadioNodeList)) field.value = "";
  }
  const raw = form.elements.namedItem("raw");
  if (raw && !(raw instanceof RadioNodeList)) raw.value = "";
  for (const box of form.querySelectorAll('input[type="checkbox"]')) box.checked = false;
  const none = form.querySelector('input[name="rating"][value=""]');
  if (none) none.checked = true;
  for (const details of form.querySelectorAll("details[open]")) details.open = false;
}

/** The badge photo picked in the form, read into memory so IndexedDB can keep it. */
async function readPhoto(form, data) {
  const input = form.querySelector('input[type="file"][name="photo"]');
  const file = input && input.files && input.files[0];
  if (!file) return null;
  return {
    bytes: await file.arrayBuffer(),
    type: file.type || "application/octet-stream",
    name: file.name || "badge.jpg",
    label: captureLabel(data),
  };
}

function savedLine(form) {
  for (const old of form.querySelectorAll(".saved:not([data-offline-saved])")) old.remove();
  let line = form.querySelector("[data-offline-saved]");
  if (!line) {
    line = document.createElement("p");
    line.className = "saved";
    line.setAttribute("role", "status");
    line.dataset.offlineSaved = "";
    form.prepend(line);
  }
  line.classList.remove("fade");
  return line;
}

/**
 * Make the capture form save into outbox. Returns a function that detaches it.
 * The htmx post must not also fire: hx-post is removed and the submit is stopped in the
 * capture phase, before htmx's own listener on the form sees it.
 */
export function wireCaptureForm(form, outbox) {
  form.removeAttribute("hx-post");
  form.removeAttribute("hx-target");
  form.removeAttribute("hx-swap");
  form.dataset.offlineReady = "";
  const saveButton = form.querySelector('button[type="submit"]');
  let lastSaved = null;
  let saving = false;

  const onSubmit = async (event) => {
    if (event.target !== form) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    if (saving) return;
    clearErrors(form);
    const data = readCapture(form);
    const errors = validateCapture(data);
    if (Object.keys(errors).length) {
      showErrors(form, errors);
      return;
    }
    saving = true;
    if (saveButton) saveButton.disabled = true;
    try {
      const photo = await readPhoto(form, data);
      const entry = await outbox.addCapture(data, photo); // resolves after tx.oncomplete
      lastSaved = { id: entry.id, label: captureLabel(data) };
      savedLine(form).textContent = `Saved ${lastSaved.label} — waiting to upload`;
      clearForm(form);
      form.dispatchEvent(new CustomEvent("hookline:captured", { bubbles: true, detail: { entry } }));
      const name = form.elements.namedItem("name");
      if (name && name.focus) name.focus();
      outbox.flush({ reason: "save" });
    } catch (error) {
      const line = savedLine(form);
      line.textContent =
        "Could not save on this phone: " +
        (error && error.message ? error.message : "storage is not available") +
        ". What you typed is still here.";
    } finally {
      saving = false;
      if (saveButton) saveButton.disabled = false;
    }
  };
  const onAcked = (event) => {
    if (lastSaved && event.detail.ids.includes(lastSaved.id)) {
      const line = form.querySelector("[data-offline-saved]");
      if (line) line.textContent = `Saved ${lastSaved.label} — uploaded`;
    }
  };
  document.addEventListener("submit", onSubmit, true);
  outbox.events.addEventListener("acked", onAcked);
  return () => {
    document.removeEventListener("submit", onSubmit, true);
    outbox.events.removeEventListener("acked", onAcked);
  };
}

function text(tag, value, className) {
  const node = document.createElement(tag);
  node.textContent = value;
  if (className) node.className = className;
  return node;
}

/** A hook type's name as the form shows it (its chip), else the type itself. */
function hookLabel(type) {
  const chip = document.querySelector(`input[name="hook_${CSS.escape(type)}"]`);
  const label = chip && chip.closest("label");
  return (label && label.textContent.trim()) || type.replace(/_/g, " ");
}

const truncate = (value, max) =>
  [...value].length > max ? [...value].slice(0, max - 1).join("").trimEnd() + "…" : value;

/** One waiting or rejected capture as plain text nodes (never innerHTML with user data). */
export function captureItem(entry) {
  const d = entry.data || {};
  const li = document.createElement("li");
  li.className = "row";
  const main = document.createElement("div");
  main.className = "row-main";
  main.append(text("strong", captureLabel(d), "row-title"));
  if (RATINGS[d.rating]) main.append(text("span", RATINGS[d.rating], `badge rating-${d.rating}`));
  const sub = [d.title, d.org].filter(Boolean).join(" · ");
  if (sub) main.append(text("p", sub, "row-sub"));
  const ids = [d.email, d.phone, d.url].filter(Boolean).join(" · ");
  if (ids) main.append(text("p", ids, "row-sub"));
  if (d.note) main.append(text("p", truncate(d.note, 140), "row-note"));
  if (d.hooks && d.hooks.length) {
    const tags = document.createElement("ul");
    tags.className = "tags";
    tags.setAttribute("aria-label", "Follow-up hooks");
    for (const h of d.hooks) {
      const detail = h.detail ? `: ${truncate(h.detail, 40)}` : "";
      const owed = h.owed_by === "them" ? " (they owe)" : "";
      tags.append(text("li", hookLabel(h.type) + detail + owed, `tag owed-${h.owed_by === "them" ? "them" : "me"}`));
    }
    main.append(tags);
  }
  li.append(main);
  return li;
}

/** Entries whose Discard was tapped once: the list is redrawn on every outbox change (a
 * background retry, say), and a first tap must not be forgotten when it is. */
const armedDiscards = new Set();

/** The "Needs attention" list: rejected captures with the reason, Retry, Edit and Discard. */
export function renderAttention(container, entries, outbox) {
  // Redrawn only when the entries changed, so a button keeps its focus meanwhile.
  const key = JSON.stringify(entries.map((e) => [e.id, e.error, e.data]));
  if (container.dataset.entries === key) return;
  container.dataset.entries = key;
  container.replaceChildren();
  container.hidden = entries.length === 0;
  if (!entries.length) return;
  container.append(text("h2", `Needs attention (${entries.length})`));
  container.append(
    text(
      "p",
      "The server did not accept these captures. Edit to fix them, Retry to send them again, " +
        "or Discard them.",
      "muted",
    ),
  );
  const list = document.createElement("ol");
  list.className = "rows";
  // The capture form beside the list, for the fields' labels in the reasons.
  const form = container.ownerDocument.querySelector("form.capture-form");
  for (const entry of entries) {
    const item = captureItem(entry);
    const reason = readableError(entry.error, entry.data, form).message;
    item.querySelector(".row-main").append(text("p", reason, "error"));
    const side = document.createElement("div");
    side.className = "row-side";
    const retry = text("button", "Retry", "button small");
    retry.type = "button";
    retry.addEventListener("click", () => outbox.retry(entry.id));
    const armed = armedDiscards.has(entry.id);
    const discard = text("button", armed ? "Discard for good" : "Discard", "button small danger");
    discard.type = "button";
    if (armed) discard.dataset.armed = "1";
    discard.addEventListener("click", () => {
      if (armedDiscards.has(entry.id)) {
        armedDiscards.delete(entry.id);
        outbox.discard(entry.id);
      } else {
        armedDiscards.add(entry.id);
        discard.dataset.armed = "1";
        discard.textContent = "Discard for good";
      }
    });
    side.append(retry);
    if (entry.kind === "capture" && entry.op === "upsert" && entry.data && entry.data.capture_id) {
      // Fix it in the phone's editor on the Today screen (works offline too).
      const edit = text("a", "Edit", "button small");
      edit.href = `/today#edit=${encodeURIComponent(entry.data.capture_id)}`;
      side.append(edit);
    }
    side.append(discard);
    item.append(side);
    list.append(item);
  }
  container.append(list);
}
