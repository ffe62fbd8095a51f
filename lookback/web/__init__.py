"""The field app: server-rendered pages (Jinja2, htmx) for auditors, cadres and businesses,
online or off.

Pages are read-only views rendered on the server from the same services and rules as the API.
Every write a page makes goes to the JSON API itself (``/visits/{id}/interviews``,
``/issues/{id}/rectification`` …) from the browser's outbox (``static/app.js``): queued in
IndexedDB, sent with an ``Idempotency-Key`` and the session's ``X-CSRF-Token``, retried until the
server answers, so the rules for a write live in one place. A service worker (``static/sw.js``)
keeps the app shell and the pages the user opened or was given for the day, so they open without
a network.
"""
