// Hookline as an installable, offline-first app: registers the service worker, shows the
// "new version" banner, keeps the outbox status line live, asks for persistent storage,
// wires the capture form to the outbox and the Today screen to it (static/js/today-offline.js)
// and warns before logging out with captures still waiting.
import { Outbox, ageText, waitingCount } from "./outbox.js";
import { renderAttention, wireCaptureForm } from "./capture-offline.js";
import { wireToday } from "./today-offline.js";

const body = document.body;
const userId = body.dataset.userId || "";
const PAGES_CACHE = "hookline-pages";
const LOGIN_URL = "/login?next=%2Fcapture";

// ---- Service worker and updates --------------------------------------------------------

let reloadRequested = false;

function showUpdateBanner(worker) {
  if (document.querySelector(".update-banner")) return;
  const banner = document.createElement("div");
  banner.className = "update-banner";
  banner.setAttribute("role", "status");
  const message = document.createElement("span");
  message.textContent = "A new version is ready";
  const button = document.createElement("button");
  button.type = "button";
  button.className = "button small primary";
  button.textContent = "Reload";
  button.addEventListener("click", () => {
    button.disabled = true;
    reloadRequested = true;
    worker.postMessage({ type: "skip-waiting" });
  });
  banner.append(message, " — ", button);
  body.append(banner);
}

async function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return null;
  let reloading = false;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    // Only reload when the user asked for the new version (not on the very first install).
    if (!reloadRequested || reloading) return;
    reloading = true;
    window.location.reload();
  });
  navigator.serviceWorker.addEventListener("message", (event) => {
    if (event.data && event.data.type === "sync" && outbox) outbox.flush({ reason: "sync" });
  });
  const registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  const watch = (worker) => {
    if (!worker) return;
    worker.addEventListener("statechange", () => {
      if (worker.state === "installed" && navigator.serviceWorker.controller) showUpdateBanner(worker);
    });
  };
  if (registration.waiting && navigator.serviceWorker.controller) showUpdateBanner(registration.waiting);
  watch(registration.installing);
  registration.addEventListener("updatefound", () => watch(registration.installing));
  // Look for a new version when the app comes back to the foreground.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") registration.update().catch(() => {});
  });
  if (userId) {
    const ready = await navigator.serviceWorker.ready;
    if (ready.active) ready.active.postMessage({ type: "warm" });
  }
  return registration;
}

// ---- Status line: "2 waiting · oldest 5 min" -------------------------------------------

let outbox = null;
let today = null; // the Today screen's list and editor (static/js/today-offline.js)
const status = document.getElementById("outbox-status");

function renderStatus(summary) {
  if (!status) return;
  const parts = [];
  if (navigator.onLine === false || outbox.state.lastError.startsWith("offline")) {
    parts.push("Offline");
  }
  parts.push(
    summary.waiting
      ? `${summary.waiting} waiting · oldest ${ageText(summary.oldestMs)}`
      : "All captures uploaded",
  );
  if (summary.photos) parts.push(`${summary.photos} ${summary.photos === 1 ? "photo" : "photos"} to upload`);
  if (summary.attention) parts.push(`${summary.attention} need attention`);
  if (outbox.state.syncing && summary.waiting) parts.push("uploading…");
  const line = document.createElement("span");
  line.className = "outbox-count";
  line.dataset.waiting = String(summary.waiting);
  line.textContent = parts.join(" · ");
  const nodes = [line];
  if (outbox.state.login && summary.waiting) {
    const login = document.createElement("p");
    login.className = "outbox-login";
    login.setAttribute("role", "alert");
    login.append(
      `${outbox.state.lastError} Log in again to upload ${summary.waiting} waiting ` +
        `${summary.waiting === 1 ? "capture" : "captures"}; they stay on this phone until then. `,
    );
    const link = document.createElement("a");
    link.href = LOGIN_URL;
    link.textContent = "Log in";
    login.append(link);
    nodes.push(login);
  }
  status.replaceChildren(...nodes);
  status.hidden = false;
  status.classList.toggle("has-waiting", summary.waiting > 0);
}

async function refresh() {
  if (!outbox) return;
  const summary = await outbox.summary();
  renderStatus(summary);
  const attention = document.getElementById("needs-attention");
  if (attention) renderAttention(attention, await outbox.all("attention"), outbox);
  if (today) await today.render(await outbox.all("outbox"));
}

/** After an upload, refresh the worker's copy of /today so it lists what the server has. */
let refreshingToday = false;
async function refreshTodayCopy() {
  if (today || refreshingToday || !navigator.serviceWorker?.controller) return;
  refreshingToday = true;
  try {
    await fetch("/today", { credentials: "same-origin" });
  } catch {
    /* offline again: the next upload tries again */
  } finally {
    refreshingToday = false;
  }
}

// ---- Persistent storage ----------------------------------------------------------------

async function askPersistence() {
  const line = document.querySelector("[data-storage-status]");
  if (!(navigator.storage && navigator.storage.persist)) {
    if (line) line.textContent = "This browser cannot promise to keep offline data.";
    return;
  }
  let persisted = await navigator.storage.persisted();
  if (!persisted) persisted = await navigator.storage.persist().catch(() => false);
  body.dataset.storagePersisted = String(persisted);
  if (line) {
    line.textContent = persisted
      ? "Storage on this phone: kept (persistent). Waiting captures are safe from clean-ups."
      : "Storage on this phone: not guaranteed. The browser may clear it when space runs low; " +
        "install the app to the home screen and open it while online to upload soon.";
  }
}

// ---- Logging out with captures waiting ------------------------------------------------

function guardLogout() {
  for (const form of document.querySelectorAll("form[data-logout]")) {
    form.dataset.guarded = ""; // tells tests (and curious readers) the warning is wired up
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (form.dataset.confirmed) {
        await caches.delete(PAGES_CACHE).catch(() => {});
        form.submit();
        return;
      }
      const waiting = await waitingCount(userId).catch(() => 0);
      if (waiting > 0) {
        const email = form.dataset.email || "the same account";
        let warning = form.querySelector(".logout-warning");
        if (!warning) {
          warning = document.createElement("p");
          warning.className = "notice logout-warning";
          warning.setAttribute("role", "alert");
          form.prepend(warning);
        }
        warning.textContent =
          `${waiting} ${waiting === 1 ? "capture is" : "captures are"} still waiting to upload. ` +
          `If you log out now they stay on this phone and upload when you log back in as ${email}.`;
        const button = form.querySelector('button[type="submit"]');
        if (button) button.textContent = "Log out anyway";
        form.dataset.confirmed = "1";
        return;
      }
      // Per-user pages cached for offline use must not be shown to the next person.
      await caches.delete(PAGES_CACHE).catch(() => {});
      form.dataset.confirmed = "1";
      form.submit();
    });
  }
}

// ---- Start ------------------------------------------------------------------------------

function start() {
  if (userId) {
    outbox = new Outbox(userId);
    window.hooklineOutbox = outbox; // for the browser tests and debugging in DevTools
    const form = document.querySelector("form[data-offline-capture]");
    if (form) {
      wireCaptureForm(form, outbox);
      if (!document.getElementById("needs-attention")) {
        const section = document.createElement("section");
        section.id = "needs-attention";
        section.className = "panel needs-attention";
        section.setAttribute("aria-label", "Captures that need attention");
        section.hidden = true;
        form.before(section);
      }
    }
    today = wireToday(outbox);
    outbox.events.addEventListener("acked", refreshTodayCopy);
    outbox.events.addEventListener("change", refresh);
    outbox.events.addEventListener("state", refresh);
    refresh();
    setInterval(refresh, 30 * 1000);
    const flush = (reason) => outbox.flush({ reason });
    window.addEventListener("online", () => flush("online"));
    window.addEventListener("offline", refresh);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") flush("visible");
    });
    flush("open");
    outbox.events.addEventListener("change", async () => {
      // Chromium also wakes the service worker when the network returns (Background Sync).
      const reg = await navigator.serviceWorker?.getRegistration?.();
      if (reg && reg.sync && (await outbox.count()) > 0) {
        reg.sync.register("hookline-outbox").catch(() => {});
      }
    });
    guardLogout();
    askPersistence().catch(() => {});
  }
  registerServiceWorker().catch((error) => {
    body.dataset.swError = String(error && error.message);
  });
}

start();
