// Lookback's service worker (scope /app/): the app shell, and the pages the user opened or was
// given for the day (their visits, forms and checklists), so they open without a network.
// Pages: network first, the cached copy when there is no network, else the offline page.
// Static files: their URLs carry a fingerprint, so the cached copy is always right.
// Writes never pass through here: the outbox (app.js) sends them itself.
const VERSION = "__VERSION__";
const SHELL = __SHELL__;
const SHELL_CACHE = "lookback-shell-" + VERSION;
const PAGES = "lookback-pages";
const NEVER = ["/app/session", "/app/sw.js", "/app/login", "/app/logout", "/app/lang/"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL_CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith("lookback-shell-") && k !== SHELL_CACHE)
      .map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

async function keep(request, response) {
  if (response.ok && !response.redirected && response.type === "basic") {
    const cache = await caches.open(PAGES);
    await cache.put(request, response.clone());
  }
  return response;
}

async function page(request) {
  try {
    return await keep(request, await fetch(request));
  } catch (e) {
    const cached = await caches.match(request, {ignoreVary: true});
    return cached || (await caches.match("/app/offline")) || Response.error();
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/app/static/")) {
    event.respondWith(caches.match(request).then((hit) => hit || fetch(request).then((r) => {
      if (r.ok) caches.open(SHELL_CACHE).then((c) => c.put(request, r.clone()));
      return r;
    })));
    return;
  }
  if (url.pathname.startsWith("/app/") && !NEVER.some((p) => url.pathname.startsWith(p))) {
    event.respondWith(page(request));
  }
});

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type === "cache" && Array.isArray(data.urls)) {
    // four at a time: a long list fetched all at once is refused by the browser
    const urls = data.urls.slice();
    const worker = async () => {
      for (let u = urls.shift(); u !== undefined; u = urls.shift()) {
        try { await keep(new Request(u), await fetch(u, {credentials: "same-origin"})); } catch (e) { /* later */ }
      }
    };
    event.waitUntil(Promise.all([worker(), worker(), worker(), worker()]));
  } else if (data.type === "logout") {
    event.waitUntil(caches.delete(PAGES));
  }
});
