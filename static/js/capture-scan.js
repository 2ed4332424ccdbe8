// Hookline capture screen: "Scan badge" opens the camera in the page and fills the capture
// form from the QR code; "Take a photo of the badge" reads a photo instead. The camera and
// decoding live in scanner.js, the phone-side preview of a payload in badge-preview.js; this
// module only wires them to the page (templates/capture/_scanner.html and _form.html).
//
// Scanned text is only ever put in the page as form values and textContent, never as markup.

import { createScanner, decodeImageFile } from "./scanner.js";
import { previewPayload } from "./badge-preview.js";

export const KEEP_SCANNING_KEY = "hookline.keepScanning";
const MAX_BYTES = 4096;
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
// Fields a scan may fill; the server fills the ones the preview does not know when it saves.
const FILLED = ["name", "org", "title", "email", "phone", "url"];

/**
 * Return why the server would refuse this QR text (the same words as webapp.badges), or null.
 * @param {string} text
 * @returns {string|null}
 */
export function refusal(text) {
  const size = new TextEncoder().encode(text).length;
  if (size > MAX_BYTES) {
    return `The QR text is longer than 4 KB (${size.toLocaleString("en-US")} bytes).`;
  }
  if (CONTROL.test(text)) return "The QR text contains control characters.";
  if (LONE_SURROGATE.test(text)) {
    return "The QR text contains characters that are not valid Unicode.";
  }
  return null;
}

/**
 * Name what a QR code that is not about a person holds, for the "isn't a contact" message.
 * @param {string} text
 */
export function ignoredLabel(text) {
  const head = text.replace(/^\ufeff/, "").trim().slice(0, 16).toUpperCase();
  const labels = [
    ["WIFI:", "Wi-Fi network"],
    ["GEO:", "location"],
    ["BEGIN:VEVENT", "calendar event"],
    ["BEGIN:VCALENDAR", "calendar event"],
    ["BEGIN:VTODO", "to-do item"],
    ["SMSTO:", "text message"],
    ["SMS:", "text message"],
    ["MMSTO:", "text message"],
    ["MMS:", "text message"],
    ["MEBKM:", "bookmark"],
    ["BITCOIN:", "payment"],
    ["ETHEREUM:", "payment"],
    ["LIGHTNING:", "payment"],
    ["BCD", "payment"],
    ["OTPAUTH:", "login code"],
  ];
  const hit = labels.find(([prefix]) => head.startsWith(prefix));
  return hit ? hit[1] : "app link";
}

/** The message shown for a QR code that is not a contact. */
export function notAContact(text) {
  return `That QR code isn't a contact (${ignoredLabel(text)}). Try the badge's other code, or type the details.`;
}

const root = document.querySelector("[data-scan-root]");
const $ = (selector) => root?.querySelector(selector);
const form = () => document.getElementById("capture-form");

const ui = {
  open: $("[data-scan-open]"),
  keepLabel: $("[data-scan-keep-label]"),
  keep: $("[data-scan-keep]"),
  message: $("[data-scan-message]"),
  panel: $("[data-scanner]"),
  view: $("[data-scanner-view]"),
  video: $("[data-scanner-video]"),
  status: $("[data-scanner-status]"),
  problem: $("[data-scanner-problem]"),
  problemText: $("[data-scanner-problem-text]"),
  torch: $("[data-scan-torch]"),
};

/** @type {ReturnType<typeof createScanner>|null} */
let scanner = null;

function say(text, kind = "problem") {
  if (!ui.message) return;
  ui.message.textContent = text;
  ui.message.dataset.kind = kind;
  ui.message.hidden = !text;
}

function csrfToken() {
  const input = form()?.querySelector('input[name="csrf_token"]');
  if (input?.value) return input.value;
  try {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
  } catch {
    return "";
  }
}

function fieldOf(f, name) {
  const el = f?.elements.namedItem(name);
  return el && !(el instanceof RadioNodeList) ? el : null;
}

/** Put value in a field unless the person typed something there themselves. */
function fill(f, name, value) {
  const el = fieldOf(f, name);
  if (!el) return;
  const current = el.value.trim();
  if (current && current !== (el.dataset.scanned ?? "")) return; // typed by hand: keep it
  el.value = value;
  el.dataset.scanned = value;
  el.dispatchEvent(new Event("input", { bubbles: true }));
}

/**
 * Fill the capture form from a scanned QR text. Returns true if the form was filled.
 * @param {string} text
 */
export function applyPayload(text) {
  const f = form();
  if (!f) return false;
  const refused = refusal(text);
  if (refused) {
    say(`The scanned code was not kept: ${refused} Type the details instead.`);
    return false;
  }
  const preview = previewPayload(text);
  if (preview.kind === "ignored") {
    say(notAContact(text));
    return false;
  }
  const found = {
    name: preview.name || "",
    org: preview.org || "",
    email: (preview.emails || [])[0] || "",
    // Only filled if the preview learns these; the server fills them on save either way.
    title: preview.title || "",
    phone: (preview.phones || [])[0] || "",
    url: (preview.urls || [])[0] || "",
  };
  for (const name of FILLED) fill(f, name, found[name]);
  const raw = fieldOf(f, "raw");
  if (raw) raw.value = text;
  const note = fieldOf(f, "note");
  if (preview.kind === "text" && note) {
    const typed = note.value.trim();
    note.value = typed ? `${typed}\n${text.trim()}` : text.trim();
  }
  const who = found.name || found.email;
  say(
    who
      ? `Scanned ${who}. Add a note, then save.`
      : "Scanned. The rest is filled in when you save; add a note.",
    "ok",
  );
  if (note) {
    // Show what was filled (the message and the name) with the note below it, ready to type.
    note.focus({ preventScroll: true });
    note.setSelectionRange?.(note.value.length, note.value.length);
    ui.message?.scrollIntoView?.({ block: "start" });
  }
  return true;
}

// ---------------------------------------------------------------------------
// Camera panel

function showProblem(message) {
  ui.view.hidden = true;
  ui.torch.hidden = true;
  ui.problem.hidden = false;
  ui.problemText.textContent = message;
}

function closePanel() {
  scanner?.stop();
  if (ui.panel) ui.panel.hidden = true;
}

export function openScanner() {
  if (!ui.panel) return;
  say("");
  for (const extra of document.querySelectorAll("[data-scan-next-added]")) extra.remove();
  ui.panel.hidden = false;
  ui.view.hidden = false;
  ui.problem.hidden = true;
  ui.torch.hidden = true;
  ui.torch.setAttribute("aria-pressed", "false");
  ui.torch.textContent = "Torch";
  ui.status.textContent = "Starting the camera…";
  scanner ??= createScanner({
    video: ui.video,
    onDecode(text) {
      closePanel();
      applyPayload(text);
    },
    onError(error) {
      showProblem(error.message);
    },
    onState(state) {
      if (state === "scanning") {
        ui.status.textContent = "Point the camera at the QR code on the badge.";
        ui.torch.hidden = !scanner.torchAvailable;
      }
    },
  });
  ui.panel.scrollIntoView?.({ block: "start" });
  scanner.start();
}

// ---------------------------------------------------------------------------
// Photo fallback

async function decodeOnServer(file) {
  const body = new FormData();
  body.append("photo", file, file.name || "badge.jpg");
  const response = await fetch(root.dataset.decodeUrl, {
    method: "POST",
    body,
    credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(answer.error || `The server could not read the photo (${response.status}).`);
    error.refused = response.status === 413 || response.status === 415;
    throw error;
  }
  return typeof answer.text === "string" && answer.text ? answer.text : null;
}

async function onPhoto(input) {
  const status = form()?.querySelector("[data-photo-status]");
  const show = (text) => {
    if (status) status.textContent = text;
  };
  const file = input.files?.[0];
  if (!file) {
    show("");
    return;
  }
  show("Reading the code on the photo…");
  let text = null;
  try {
    text = await decodeImageFile(file);
  } catch {
    text = null; // no decoder in this browser (e.g. offline before it was cached)
  }
  if (text === null && navigator.onLine) {
    try {
      text = await decodeOnServer(file);
    } catch (error) {
      if (error.refused) {
        input.value = "";
        show(error.message);
        return;
      }
      text = null;
    }
  }
  if (text !== null) {
    input.value = ""; // read: the text is kept, the photo is not needed
    show(applyPayload(text) ? "Read the code on the photo." : "");
    return;
  }
  // Left in the file input: the form post (or the outbox, which reads the input when the
  // capture is saved) sends it with the capture.
  show(
    "No code could be read on this photo. It is kept for later: it is saved with this capture " +
      "and shown on the contact page. Type the name if you can.",
  );
}

// ---------------------------------------------------------------------------
// After a save: "Scan next", and the keep-scanning mode

function afterSave(savedLine) {
  if (savedLine) {
    let next =
      savedLine.querySelector("[data-scan-next]") || document.querySelector("[data-scan-next-added]");
    if (!next) {
      // The outbox rewrites its saved line's text, so the button goes beside it.
      next = document.createElement("button");
      next.type = "button";
      next.className = "button small";
      next.textContent = "Scan next";
      next.dataset.scanNext = "";
      next.dataset.scanNextAdded = "";
      savedLine.after(next);
    }
    next.hidden = false;
  }
  if (ui.keep?.checked) openScanner();
}

function wire() {
  if (!root || !ui.panel) return;
  ui.open.hidden = false;
  ui.keepLabel.hidden = false;
  try {
    ui.keep.checked = localStorage.getItem(KEEP_SCANNING_KEY) === "1";
  } catch {
    ui.keep.checked = false;
  }
  ui.keep.addEventListener("change", () => {
    try {
      localStorage.setItem(KEEP_SCANNING_KEY, ui.keep.checked ? "1" : "0");
    } catch {
      // private mode: the toggle still works for this page
    }
  });
  ui.open.addEventListener("click", openScanner);
  $("[data-scan-close]").addEventListener("click", () => {
    closePanel();
    ui.open.focus();
  });
  $("[data-scan-type]").addEventListener("click", () => {
    closePanel();
    fieldOf(form(), "name")?.focus();
  });
  $("[data-scan-photo]").addEventListener("click", () => {
    closePanel();
    const input = fieldOf(form(), "photo");
    input?.scrollIntoView?.({ block: "center" });
    input?.click();
  });
  ui.torch.addEventListener("click", async () => {
    const on = await scanner?.toggleTorch();
    ui.torch.setAttribute("aria-pressed", on ? "true" : "false");
    ui.torch.textContent = on ? "Torch off" : "Torch";
  });
  document.addEventListener("click", (event) => {
    if (event.target.closest?.("[data-scan-next]")) openScanner();
  });
  document.addEventListener("change", (event) => {
    const input = event.target;
    if (input instanceof HTMLInputElement && input.type === "file" && input.name === "photo") {
      onPhoto(input);
    }
  });
  document.addEventListener("htmx:afterSwap", () => {
    const saved = form()?.querySelector(".saved:not([data-scan-seen])");
    if (!saved) return;
    saved.dataset.scanSeen = "";
    afterSave(saved);
  });
  document.addEventListener("hookline:captured", () => {
    afterSave(form()?.querySelector("[data-offline-saved]") || null);
  });
  window.addEventListener("pagehide", () => scanner?.stop());
}

wire();
