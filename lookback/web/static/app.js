// Lookback field app: the outbox and the offline cache.
//
// A form marked data-queue is never posted by the browser itself. Its content becomes an item
// of the outbox, kept in IndexedDB (idb-keyval). Photos are scaled to at most 1600 px and kept
// as Blobs. Each item is a list of steps, each a POST to the JSON API with its own
// Idempotency-Key (the item's id and the step's number) and the session's X-CSRF-Token.
// A retry after a lost answer replays the first answer: never a second interview, issue or
// photo. The outbox sends when the device is online: now, when it comes back, and every
// 20 s. Refused steps stay in the outbox with the server's reason and what to do, until the
// user retries or discards them. Nothing is dropped silently.
(() => {
  "use strict";
  const I18N = JSON.parse(document.getElementById("i18n").textContent);
  const LANG = document.querySelector('meta[name="lang"]').content;
  const store = idbKeyval.createStore("lookback-outbox", "items");
  const RECENT = "lookback-recent";
  const ADVICE = {
    zh: {412: "页面打开后该问题已有变化：请刷新页面，核对后重新提交。",
         409: "该记录已关闭或已存在：请刷新页面查看当前状态。",
         403: "您无权提交此项：请联系组长或食安办。",
         404: "该记录已不存在：请刷新页面。",
         400: "内容有误：请按提示修改后重新填写。", 422: "内容有误：请按提示修改后重新填写。"},
    en: {412: "The record changed after you opened the page: reload it, check, and submit again.",
         409: "The record is closed or already exists: reload the page to see where it stands.",
         403: "You may not submit this: ask your team leader or the office.",
         404: "The record no longer exists: reload the page.",
         400: "Something in it is wrong: correct it and fill it in again.",
         422: "Something in it is wrong: correct it and fill it in again."},
  };

  const uuid = () => (crypto.randomUUID ? crypto.randomUUID()
    : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join(""));

  async function items() {
    const all = await idbKeyval.values(store);
    return all.sort((a, b) => a.created - b.created);
  }
  const put = (item) => idbKeyval.set(item.id, item, store);

  // --- photos: scaled in the browser before they are kept or sent ------------------------------
  async function downscale(file, max = 1600) {
    let bitmap;
    try { bitmap = await createImageBitmap(file); } catch (e) { return file; }  // not an image
    const scale = Math.min(1, max / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close && bitmap.close();
    return await new Promise((done) => canvas.toBlob((b) => done(b || file), "image/jpeg", 0.85));
  }
  async function photosOf(form) {
    const input = form.querySelector('input[type="file"][name="photos"]');
    const files = input ? Array.from(input.files) : [];
    const out = [];
    for (const f of files) {
      const blob = await downscale(f);
      out.push({blob, name: (f.name || "photo").replace(/\.[^.]*$/, "") + ".jpg"});
    }
    return out;
  }

  // --- forms to items ---------------------------------------------------------------------------
  function fail(form, message, field) {
    const box = form.querySelector('[data-role="form-error"]');
    if (box) { box.textContent = message; box.hidden = false; }
    if (field) field.focus();
    return null;
  }
  const value = (form, name) => (form.elements[name] ? String(form.elements[name].value).trim() : "");
  const yesNo = (form, name) => {
    const v = form.querySelector(`input[name="${name}"]:checked`);
    return v ? v.value === "true" : null;
  };
  const json = (url, body, extra = {}) => ({url, json: body, ...extra});

  const builders = {
    async interview(form) {
      const name = value(form, "name");
      if (!name) return fail(form, form.elements.name.labels[0].textContent, form.elements.name);
      const answers = [];
      for (const set of form.querySelectorAll("fieldset[data-item]")) {
        const id = set.dataset.item;
        const choice = set.querySelector(`input[name="r-${id}"]:checked`);
        const note = set.querySelector(`textarea[name="n-${id}"]`);
        if (!choice) return fail(form, `${id}: ${I18N.choose}`, set.querySelector("input"));
        if (choice.value === "fail" && !note.value.trim()) return fail(form, `${id}: ${I18N.fail_needs_note}`, note);
        answers.push({item_id: id, result: choice.value, note: note.value.trim()});
      }
      return [json(form.dataset.url, {role: form.dataset.role, name, answers})];
    },
    async complete(form) { return [json(form.dataset.url, null)]; },
    async finding(form) {
      const description = value(form, "description");
      if (!description) return fail(form, form.elements.description.labels[0].textContent, form.elements.description);
      const body = {category: value(form, "category"), severity: value(form, "severity"), description};
      const provision = parseInt(value(form, "provision"), 10);
      if (provision > 0) body.provision = provision;
      const photos = await photosOf(form);
      return [json(form.dataset.url, body),
              ...photos.map((p) => ({evidence: p, issueFrom: 0, purpose: "finding"}))];
    },
    async check(form) {
      const note = value(form, "note");
      if (!note) return fail(form, form.elements.note.labels[0].textContent, form.elements.note);
      return [json(form.dataset.url, {outcome: value(form, "outcome"), note,
        hard_measures: yesNo(form, "hard_measures"), fixed: yesNo(form, "fixed"),
        mechanism: yesNo(form, "mechanism")}, {ifMatch: `"v${form.dataset.version}"`})];
    },
    async supervision(form) {
      const note = value(form, "note");
      if (!note) return fail(form, form.elements.note.labels[0].textContent, form.elements.note);
      const body = {cadre_id: form.dataset.cadre, uscc: form.dataset.uscc, note,
        date: value(form, "date") || undefined, issues: [],
        leads: value(form, "leads").split("\n").map((s) => s.trim()).filter(Boolean)};
      const category = value(form, "category"), description = value(form, "description");
      if (category && description) body.issues.push(`${category}:${value(form, "severity")}:${description.replace(/:/g, "：")}`);
      return [json(form.dataset.url, body)];
    },
    async rectify(form) {
      const measures = value(form, "measures");
      if (!measures) return fail(form, form.elements.measures.labels[0].textContent, form.elements.measures);
      const issue = Number(form.dataset.issue);
      const photos = await photosOf(form);
      return [...photos.map((p) => ({evidence: p, issue, purpose: "rectification"})),
              json(form.dataset.url, {measures}, {ifMatch: `"v${form.dataset.version}"`})];
    },
  };

  async function onSubmit(event) {
    const form = event.target.closest("form[data-queue]");
    if (!form) return;
    event.preventDefault();
    const box = form.querySelector('[data-role="form-error"]');
    if (box) box.hidden = true;
    const steps = await builders[form.dataset.queue](form);
    if (!steps) return;
    const item = {id: uuid(), kind: form.dataset.queue, label: form.dataset.label || form.dataset.queue,
                  page: location.pathname, steps, step: 0, results: [], state: "queued",
                  message: "", created: Date.now(), tries: 0};
    await put(item);
    form.reset();
    toast(`${item.label}: ${I18N.queued}`);
    await render();
    flush();
  }

  // --- sending ----------------------------------------------------------------------------------
  class Refused extends Error {}

  async function post(url, key, csrf, init) {
    let response;
    try {
      response = await fetch(url, {method: "POST", credentials: "same-origin", ...init,
        headers: {"Idempotency-Key": key, "X-CSRF-Token": csrf, "Accept-Language": LANG,
                  "Accept": "application/json", ...(init.headers || {})}});
    } catch (e) { throw new Error(I18N.offline); }  // no answer: try again later
    if (response.ok) return response.status === 204 ? {} : response.json().catch(() => ({}));
    if (response.status >= 500 || response.status === 429 || response.status === 408 || response.status === 401) {
      throw new Error(`HTTP ${response.status}`);  // the server's trouble or an ended session: later
    }
    let problem = {};
    try { problem = await response.json(); } catch (e) { /* not JSON */ }
    const advice = (ADVICE[LANG] || ADVICE.zh)[response.status] || "";
    throw new Refused(`${problem.detail || "HTTP " + response.status} ${advice}`.trim());
  }

  async function sendStep(item, index, csrf) {
    const step = item.steps[index];
    const key = `${item.id}-${index}`;
    if (step.evidence) {
      const issue = step.issue || (item.results[step.issueFrom] || {}).id;
      const form = new FormData();
      form.append("file", step.evidence.blob, step.evidence.name);
      form.append("purpose", step.purpose);
      return post(`/issues/${issue}/evidence`, key, csrf, {body: form});
    }
    const headers = {"Content-Type": "application/json"};
    if (step.ifMatch) headers["If-Match"] = step.ifMatch;
    return post(step.url, key, csrf, {headers, body: step.json === null ? "{}" : JSON.stringify(step.json)});
  }

  let flushing = false;
  async function flush() {
    if (flushing || !navigator.onLine) return;
    const waiting = (await items()).filter((i) => i.state === "queued" || i.state === "sending");
    if (!waiting.length) return;
    flushing = true;
    try {
      let csrf;
      try {
        const r = await fetch("/app/session", {credentials: "same-origin", cache: "no-store"});
        if (!r.ok) return;  // logged out: the items wait for the next log-in
        csrf = (await r.json()).csrf;
      } catch (e) { return; }
      for (const item of waiting) {
        item.state = "sending";
        await put(item);
        await render();
        try {
          while (item.step < item.steps.length) {
            item.results[item.step] = await sendStep(item, item.step, csrf);
            item.step += 1;
            await put(item);  // a step done is never sent again
          }
          await idbKeyval.del(item.id, store);
          remember(item);
          toast(`${item.label}: ${I18N.sent}`);
        } catch (e) {
          item.tries += 1;
          item.message = e.message;
          item.state = e instanceof Refused ? "refused" : "queued";
          await put(item);
          if (!(e instanceof Refused)) break;  // no network: the rest waits too
        }
        await render();
      }
    } finally {
      flushing = false;
      await render();
    }
  }

  function remember(item) {
    const recent = JSON.parse(localStorage.getItem(RECENT) || "[]");
    recent.unshift({label: item.label, at: Date.now()});
    localStorage.setItem(RECENT, JSON.stringify(recent.slice(0, 20)));
  }

  // --- what the user sees -----------------------------------------------------------------------
  function toast(text) {
    let box = document.getElementById("toast");
    if (!box) {
      box = document.createElement("p");
      box.id = "toast";
      box.setAttribute("role", "status");
      document.body.appendChild(box);
    }
    box.textContent = text;
  }

  async function render() {
    const all = await items();
    const count = document.getElementById("outbox-count");
    if (count) count.textContent = String(all.length);
    const list = document.getElementById("queue-list");
    if (!list) return;
    list.replaceChildren();
    for (const item of all) {
      const li = document.createElement("li");
      li.className = `item ${item.state}`;
      li.dataset.state = item.state;
      const title = document.createElement("strong");
      title.textContent = item.label;
      const state = document.createElement("span");
      state.className = "meta";
      state.textContent = I18N[item.state] || item.state;
      li.append(title, state);
      if (item.message) {
        const why = document.createElement("span");
        why.className = item.state === "refused" ? "error" : "meta";
        why.textContent = item.message;
        li.append(why);
      }
      if (item.state === "refused") {
        for (const [label, act] of [[I18N.retry, "retry"], [I18N.discard, "discard"]]) {
          const b = document.createElement("button");
          b.type = "button";
          b.textContent = label;
          b.addEventListener("click", async () => {
            if (act === "discard") await idbKeyval.del(item.id, store);
            else { item.state = "queued"; item.message = ""; await put(item); flush(); }
            render();
          });
          li.append(b);
        }
      }
      list.append(li);
    }
    for (const r of JSON.parse(localStorage.getItem(RECENT) || "[]")) {
      const li = document.createElement("li");
      li.className = "item sent";
      li.dataset.state = "sent";
      li.textContent = `${r.label} · ${I18N.sent} ${new Date(r.at).toLocaleString()}`;
      list.append(li);
    }
    if (!list.children.length) {
      const li = document.createElement("li");
      li.textContent = I18N.empty;
      list.append(li);
    }
  }

  function showNetwork() {
    const net = document.getElementById("net");
    if (net) net.hidden = navigator.onLine;
  }

  // --- the service worker: the shell, and the pages for the day ---------------------------------
  async function setUpOffline() {
    if (!("serviceWorker" in navigator)) return;
    try {
      await navigator.serviceWorker.register("/app/sw.js", {scope: "/app/"});
      const ready = await navigator.serviceWorker.ready;
      const urls = document.getElementById("offline-urls");
      if (urls && ready.active) ready.active.postMessage({type: "cache", urls: JSON.parse(urls.textContent)});
    } catch (e) { /* the app still works online */ }
    if (navigator.storage && navigator.storage.persist) {
      try { await navigator.storage.persist(); } catch (e) { /* best effort */ }
    }
  }

  document.addEventListener("submit", (event) => {
    if (event.target.id === "logout-form") {
      event.preventDefault();
      items().then((all) => {
        if (all.length && !window.confirm(I18N.unsent)) return;
        if (navigator.serviceWorker && navigator.serviceWorker.controller) {
          navigator.serviceWorker.controller.postMessage({type: "logout"});
        }
        event.target.submit();
      });
      return;
    }
    onSubmit(event);
  });
  window.addEventListener("online", () => { showNetwork(); flush(); });
  window.addEventListener("offline", showNetwork);
  setInterval(flush, 20000);
  showNetwork();
  render().then(flush);
  setUpOffline();
  window.lookbackOutbox = {items, flush, render};  // for the browser tests and the curious
})();
