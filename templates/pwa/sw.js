// Hookline service worker. Served from /sw.js by webapp/pwa/views.py, which fills in the
// version (a hash of every precached file) and the precache list.
//
// Strategy:
// - static files (CSS, JS, icons, htmx, the QR decoder): cache-first from a cache named after
//   the version; a new version precaches into a new cache and activate deletes the old ones.
// - the user's own pages (/capture, /today, /card, /card.png): network-first; a good answer
//   is copied into the pages cache, and offline the cached copy is served.
// - any other page: network, else its cached copy, else the /offline page.
// - /api/ and non-GET requests: never touched (the outbox in static/js/outbox.js handles sync).
//
// A new worker does not skipWaiting on its own: it waits, the page shows "A new version is
// ready" and only the user's tap on Reload sends {type: "skip-waiting"}.
"use strict";

const VERSION = "{{ version }}";
const STATIC_CACHE = "hookline-static-" + VERSION;
const PAGES_CACHE = "hookline-pages";
const PRECACHE = {{ precache | safe }};
const USER_PAGES = {{ user_pages | safe }};
const OFFLINE_URL = "/offline";
const CARD_PNG = "/card.png";
const WARM_EVERY_MS = 60 * 1000;
const NETWORK_TIMEOUT_MS = 4000;
let lastWarm = 0;

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(STATIC_CACHE);
      // cache: "reload" skips the HTTP cache, so a new version never precaches stale files.
      await cache.addAll(PRECACHE.map((url) => new Request(url, { cache: "reload" })));
      await warmUserPages().catch(() => {});
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      await Promise.all(
        names
          .filter((name) => name.startsWith("hookline-static-") && name !== STATIC_CACHE)
          .map((name) => caches.delete(name)),
      );
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type === "skip-waiting") {
    self.skipWaiting();
  } else if (data.type === "warm") {
    event.waitUntil(warmUserPages(Boolean(data.force)).catch(() => {}));
  } else if (data.type === "version" && event.ports[0]) {
    event.ports[0].postMessage({ version: VERSION });
  }
});

// Background Sync (Chromium only): ask the open pages to flush their outbox. The pages also
// flush on load, on "online" and when they become visible, so nothing depends on this.
self.addEventListener("sync", (event) => {
  if (event.tag === "hookline-outbox") {
    event.waitUntil(
      // includeUncontrolled: a page opened before this worker took control still listens.
      self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((clients) => {
        for (const client of clients) client.postMessage({ type: "sync" });
      }),
    );
  }
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/") || url.pathname === "/sw.js") return;
  if (request.headers.get("HX-Request")) return; // htmx fragments are never cached
  if (url.pathname.startsWith("/static/") || url.pathname === "/manifest.webmanifest") {
    event.respondWith(cacheFirst(request));
  } else if (USER_PAGES.includes(url.pathname) || url.pathname === CARD_PNG) {
    event.respondWith(networkFirst(request, event));
  } else if (request.mode === "navigate") {
    event.respondWith(networkOrOffline(request));
  }
});

async function cacheFirst(request) {
  const cached = await caches.match(request, { ignoreVary: true });
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok && response.type === "basic") {
    const cache = await caches.open(STATIC_CACHE);
    await cache.put(request, response.clone());
  }
  return response;
}

/** The cache key of a user page: /card.png drops its ?v=, so the latest card is kept. */
function pageKey(url) {
  const u = new URL(url);
  return u.origin + u.pathname;
}

/** Keep a fresh answer for offline use; forget the copy once the server sends us to log in. */
async function remember(key, response) {
  const cache = await caches.open(PAGES_CACHE);
  if (response.ok && !response.redirected && response.type === "basic") {
    // Cache Storage ignores the response's Cache-Control: private, no-store.
    await cache.put(key, response.clone());
  } else if (response.redirected && new URL(response.url).pathname === "/login") {
    await cache.delete(key);
  }
}

/**
 * Network-first with a time limit: conference Wi-Fi that connects but never answers must not
 * leave the capture screen blank. After NETWORK_TIMEOUT_MS the cached copy is shown, and the
 * network answer, when it comes, still refreshes the cache.
 */
async function networkFirst(request, event) {
  const key = pageKey(request.url);
  const network = fetch(request).then(async (response) => {
    await remember(key, response);
    return response;
  });
  event.waitUntil(network.catch(() => {}));
  const cached = await caches.match(key, { ignoreVary: true, ignoreSearch: true });
  if (!cached) {
    try {
      return await network;
    } catch (error) {
      if (request.mode === "navigate") return offlinePage();
      throw error;
    }
  }
  const slow = new Promise((resolve) => setTimeout(() => resolve(null), NETWORK_TIMEOUT_MS));
  try {
    return (await Promise.race([network, slow])) || cached;
  } catch {
    return cached;
  }
}

async function networkOrOffline(request) {
  try {
    return await fetch(request);
  } catch (error) {
    const cached = await caches.match(pageKey(request.url), { ignoreVary: true });
    return cached || offlinePage();
  }
}

async function offlinePage() {
  const cached = await caches.match(OFFLINE_URL);
  return cached || new Response("You are offline.", { status: 503, headers: { "Content-Type": "text/plain" } });
}

/** Fetch the user's pages (and the card QR they show) into the pages cache. */
async function warmUserPages(force = false) {
  if (!force && Date.now() - lastWarm < WARM_EVERY_MS) return;
  for (const path of USER_PAGES) {
    const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
    await remember(pageKey(new URL(path, self.location.origin).href), response);
    if (!response.ok || response.redirected) return; // logged out: nothing to keep (yet)
    if (path === "/card") {
      const html = await response.clone().text();
      const match = html.match(/src="(\/card\.png\?v=[^"]+)"/);
      if (match) {
        const png = match[1].replace(/&amp;/g, "&");
        const image = await fetch(png, { credentials: "same-origin" });
        await remember(pageKey(new URL(png, self.location.origin).href), image);
      }
    }
  }
  lastWarm = Date.now(); // only a complete warm-up counts
}
