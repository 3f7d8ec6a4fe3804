// roomgate console: the API client, problem display, time zones and small DOM helpers.
// Plain script, no build step; everything it shares hangs off window.RG.
"use strict";

(function () {
  const TOKEN_KEY = "roomgate.credential";

  // The credential lives in this tab's session storage only: closing the tab forgets it.
  const credential = {
    get: () => sessionStorage.getItem(TOKEN_KEY),
    set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
    clear: () => sessionStorage.removeItem(TOKEN_KEY),
  };

  // A failed call, worded as the API worded it (RFC 9457 problem details).
  class Problem extends Error {
    constructor(status, body, retryAfter) {
      const title = (body && body.title) || "HTTP " + status;
      super(title);
      this.status = status;
      this.title = title;
      this.detail = (body && body.detail) || "";
      this.errors = (body && Array.isArray(body.errors)) ? body.errors : [];
      this.retryAfter = retryAfter;
    }
  }

  // Calls the API with the stored credential; resolves to the JSON answer (or null for 204),
  // rejects with a Problem.
  async function call(method, path, body, token) {
    const headers = { Accept: "application/json, application/problem+json" };
    const bearer = token || credential.get();
    if (bearer) headers.Authorization = "Bearer " + bearer;
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new Problem(0, { title: "Network error", detail: "roomgate did not answer: " + err.message });
    }
    const text = await response.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
    if (response.ok) return json;
    const retry = response.headers.get("Retry-After");
    throw new Problem(response.status, json || { detail: text }, retry === null ? null : Number(retry));
  }

  // Creates an element: el("p", {class: "x"}, "text", child, ...). Text is always text.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === false || value === null || value === undefined) continue;
      node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // ----- problems -----

  function problemBox(scope) {
    return scope.matches && scope.matches(".problem") ? scope : scope.querySelector(".problem");
  }

  function clearProblem(scope) {
    const box = problemBox(scope);
    if (box) { box.hidden = true; box.replaceChildren(); }
    for (const input of scope.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    for (const message of scope.querySelectorAll(".field-error")) message.textContent = "";
  }

  function retryText(seconds) {
    if (seconds === null || Number.isNaN(seconds)) return "";
    const at = new Date(Date.now() + seconds * 1000);
    return "Try again in " + seconds + " s (at " + at.toLocaleTimeString() + ").";
  }

  // Shows a Problem in `scope`: title and detail in its .problem box, each field's message
  // beside the input whose data-field names it. Focus goes to the first bad field, or the box.
  function showProblem(scope, problem) {
    clearProblem(scope);
    const box = problemBox(scope);
    const unplaced = [];
    let first = null;
    for (const { field, message } of problem.errors || []) {
      const input = scope.querySelector('[data-field="' + CSS.escape(field) + '"]');
      const slot = input && document.getElementById(input.id + "-error");
      if (input && slot && !input.closest("[hidden]")) {
        slot.textContent = message;
        input.setAttribute("aria-invalid", "true");
        first = first || input;
      } else {
        unplaced.push(field + ": " + message);
      }
    }
    if (box) {
      const wait = problem.status === 429 ? retryText(problem.retryAfter) : "";
      box.append(el("strong", {}, problem.title));
      if (problem.detail) box.append(" ", el("span", { class: "detail" }, problem.detail));
      if (wait) box.append(" ", el("span", { class: "retry" }, wait));
      if (unplaced.length) box.append(el("ul", {}, ...unplaced.map((t) => el("li", {}, t))));
      box.hidden = false;
    }
    const target = first || box;
    if (target) target.focus();
  }

  // ----- time -----

  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  const pad = (n) => String(n).padStart(2, "0");

  function offsetText(date) {
    const minutes = -date.getTimezoneOffset();
    const sign = minutes < 0 ? "-" : "+";
    const abs = Math.abs(minutes);
    return sign + pad(Math.floor(abs / 60)) + ":" + pad(abs % 60);
  }

  // "2030-12-01T10:30" from a datetime-local input, as RFC 3339 with this zone's offset on
  // that day: "2030-12-01T10:30:00+05:30". Empty in, null out.
  function withOffset(localValue) {
    if (!localValue) return null;
    const date = new Date(localValue);
    if (Number.isNaN(date.getTime())) return localValue;
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
      "T" + pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds()) +
      offsetText(date);
  }

  // The other way: an instant as a datetime-local value in this zone.
  function toLocalInput(instant) {
    if (!instant) return "";
    const d = new Date(instant);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) +
      "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  const localFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const utcFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" });

  function localTime(instant) {
    return instant ? localFormat.format(new Date(instant)) : "";
  }

  // "1 Dec 2030, 10:30 (Asia/Kolkata) · 1 Dec 2030, 05:00 UTC"
  function bothZones(instant) {
    if (!instant) return "—";
    const d = new Date(instant);
    return localFormat.format(d) + " (" + zone + ") · " + utcFormat.format(d) + " UTC";
  }

  // ----- copying -----

  async function copyFrom(id, button) {
    const field = document.getElementById(id);
    let done = false;
    try {
      await navigator.clipboard.writeText(field.value);
      done = true;
    } catch (_) {
      field.select();
      try { done = document.execCommand("copy"); } catch (_) { done = false; }
    }
    const label = document.querySelector('label[for="' + id + '"]');
    RG.notice(done ? "Copied the " + (label ? label.textContent.toLowerCase() : "text") + "."
      : "Could not copy: select the text and copy it yourself.");
    if (done) {
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = "Copy"; }, 2000);
    }
  }

  // A message in the status line. With `carry`, it outlives the next change of view (it
  // says what led there); otherwise that change clears it.
  let carried = false;
  function notice(text, carry) {
    document.getElementById("notice").textContent = text;
    carried = !!carry;
  }
  notice.settle = () => {
    if (!carried) document.getElementById("notice").textContent = "";
    carried = false;
  };

  window.RG = {
    credential, call, Problem, el, showProblem, clearProblem, zone, withOffset, toLocalInput,
    localTime, bothZones, offsetText, copyFrom, notice,
  };
})();
