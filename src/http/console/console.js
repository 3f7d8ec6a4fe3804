// roomgate console: signing in, the views, the meeting list and the create form.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const views = ["view-signin", "view-list", "view-new", "view-meeting"];
  let me = null;

  function show(view) {
    for (const id of views) $(id).hidden = id !== view;
    const signedIn = view !== "view-signin";
    $("nav").hidden = !signedIn;
    $("who").hidden = !signedIn;
    for (const link of document.querySelectorAll("#nav a")) {
      const current = (view === "view-list" && link.id === "nav-list") ||
        (view === "view-new" && link.id === "nav-new");
      if (current) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
    }
  }

  // Moves focus to a view's heading, so keyboard and screen reader users start there.
  function focusHeading(view) {
    const heading = $(view).querySelector("h1");
    if (heading) heading.focus();
  }

  // ----- signing in -----

  function signedIn(who) {
    me = who;
    $("who-identity").textContent = who.identity;
    $("who-role").textContent = who.admin ? "admin" : "not admin";
    $("who-role").className = "badge " + (who.admin ? "admin" : "plain");
  }

  async function signIn(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const token = $("signin-token").value.trim();
    RG.clearProblem(form);
    if (!token) {
      RG.showProblem(form, { title: "A credential is needed", detail: "Paste an API key or a JWT." });
      return;
    }
    try {
      signedIn(await RG.call("GET", "/me", undefined, token));
    } catch (problem) {
      RG.showProblem(form, problem);
      return;
    }
    RG.credential.set(token);
    $("signin-token").value = "";
    RG.notice("Signed in as " + me.identity + ".", true);
    if (location.hash === "" || location.hash === "#/signin") location.hash = "#/meetings";
    else route();
  }

  function signOut(message) {
    RG.credential.clear();
    me = null;
    show("view-signin");
    RG.notice(message || "Signed out.");
    focusHeading("view-signin");
  }

  // Any 401 means the stored credential no longer works: ask for one again.
  function failed(scope, problem) {
    if (problem.status === 401 && RG.credential.get()) {
      signOut("Your credential was refused (" + (problem.detail || problem.title) + "): sign in again.");
      return;
    }
    RG.showProblem(scope, problem);
  }

  // ----- the list -----

  const pages = { cursors: [null], index: 0 };

  function filterQuery(cursor) {
    const query = new URLSearchParams();
    const pairs = [["kind", $("f-kind").value], ["status", $("f-status").value],
      ["owner_ref", $("f-owner").value.trim()], ["starts_after", RG.withOffset($("f-after").value)],
      ["starts_before", RG.withOffset($("f-before").value)], ["limit", $("f-limit").value.trim()]];
    for (const [name, value] of pairs) if (value) query.set(name, value);
    if (cursor) query.set("cursor", cursor);
    const text = query.toString();
    return "/meetings" + (text ? "?" + text : "");
  }

  function meetingItem(m) {
    const when = m.kind === "scheduled"
      ? "Starts " + RG.localTime(m.starts_at)
      : "Created " + RG.localTime(m.created_at);
    return RG.el("li", { class: "meeting" },
      RG.el("a", { href: "#/meetings/" + m.id, class: "name" }, m.name),
      RG.el("span", { class: "badge status-" + m.status }, m.status),
      RG.el("span", { class: "kind" }, m.kind),
      RG.el("span", { class: "when" }, when),
      m.owner_ref ? RG.el("span", { class: "owner" }, "owner " + m.owner_ref) : null);
  }

  async function loadPage() {
    const form = $("filter-form");
    RG.clearProblem(form);
    $("list-summary").textContent = "Loading…";
    let page;
    try {
      page = await RG.call("GET", filterQuery(pages.cursors[pages.index]));
    } catch (problem) {
      $("list-summary").textContent = "";
      failed(form, problem);
      return;
    }
    $("meeting-list").replaceChildren(...page.items.map(meetingItem));
    const count = page.items.length;
    $("list-summary").textContent = (count === 0 ? "No meetings" : count === 1 ? "1 meeting" : count + " meetings") +
      " on page " + (pages.index + 1) + ", newest first.";
    pages.cursors.length = pages.index + 1;
    if (page.next_cursor) pages.cursors.push(page.next_cursor);
    $("page-next").hidden = !page.next_cursor;
    $("page-first").hidden = pages.index === 0;
  }

  function firstPage() {
    pages.cursors = [null];
    pages.index = 0;
    return loadPage();
  }

  // ----- creating -----

  function numberOrNull(id) {
    const text = $(id).value.trim();
    return text === "" ? null : Number(text);
  }

  function createBody() {
    const body = { name: $("c-name").value, kind: $("c-kind").value };
    if (body.kind === "scheduled") {
      const starts = RG.withOffset($("c-starts").value);
      if (starts) body.starts_at = starts;
      const minutes = numberOrNull("c-duration");
      if (minutes !== null) body.duration_minutes = minutes;
    }
    if ($("c-description").value.trim()) body.description = $("c-description").value;
    if ($("c-owner").value.trim()) body.owner_ref = $("c-owner").value.trim();
    if ($("c-embed").value) body.embed = $("c-embed").value;
    const settings = { mode: $("s-mode").value };
    if ($("s-quality").value) settings.quality = $("s-quality").value;
    for (const [key, id] of [["participants", "s-participants"], ["moderators", "s-moderators"]]) {
      const n = numberOrNull(id);
      if (n !== null) settings[key] = n;
    }
    for (const [key, id] of [["screen_share", "s-screen-share"], ["wait_for_moderator", "s-wait"],
      ["knock", "s-knock"], ["auto_recording", "s-recording"]]) settings[key] = $(id).checked;
    body.settings = settings;
    return body;
  }

  function updateKind() {
    $("c-schedule").hidden = $("c-kind").value !== "scheduled";
  }

  function updateSent() {
    const sent = RG.withOffset($("c-starts").value);
    $("c-starts-sent").textContent = sent
      ? "Sent as " + sent + ", which is " + RG.bothZones(sent).split(" · ")[1] + "."
      : "Pick a date and time in your own time zone.";
  }

  async function create(event) {
    event.preventDefault();
    const form = event.currentTarget;
    RG.clearProblem(form);
    $("create-submit").disabled = true;
    try {
      const meeting = await RG.call("POST", "/meetings", createBody());
      form.reset();
      updateKind();
      updateSent();
      RG.notice("Created “" + meeting.name + "”" + (meeting.starts_at ? ", starting " + RG.bothZones(meeting.starts_at) : "") + ".", true);
      location.hash = "#/meetings/" + meeting.id;
    } catch (problem) {
      failed(form, problem);
    } finally {
      $("create-submit").disabled = false;
    }
  }

  // ----- routing -----

  async function route() {
    RG.notice.settle();
    if (!RG.credential.get()) { show("view-signin"); focusHeading("view-signin"); return; }
    if (!me) {
      try { signedIn(await RG.call("GET", "/me")); } catch (problem) {
        if (problem.status === 401) { signOut("Your credential was refused: sign in again."); return; }
        RG.notice(problem.title + ": " + problem.detail);
      }
    }
    const hash = location.hash;
    const open = hash.match(/^#\/meetings\/([0-9a-fA-F-]{36})$/);
    if (open) {
      show("view-meeting");
      await RG.meeting.open(open[1], failed);
    } else if (hash === "#/new") {
      show("view-new");
      updateKind();
      updateSent();
      focusHeading("view-new");
    } else {
      show("view-list");
      focusHeading("view-list");
      await firstPage();
    }
  }

  function start() {
    for (const span of document.querySelectorAll(".zone")) {
      span.textContent = "(" + RG.zone + ", UTC" + RG.offsetText(new Date()) + ")";
    }
    $("signin-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", () => { location.hash = "#/signin"; signOut(); });
    $("filter-form").addEventListener("submit", (e) => { e.preventDefault(); firstPage(); });
    $("filter-form").addEventListener("reset", () => setTimeout(firstPage, 0));
    $("page-next").addEventListener("click", () => { pages.index += 1; loadPage(); });
    $("page-first").addEventListener("click", firstPage);
    $("create-form").addEventListener("submit", create);
    $("c-kind").addEventListener("change", updateKind);
    $("c-starts").addEventListener("input", updateSent);
    document.addEventListener("click", (event) => {
      const button = event.target.closest("button.copy");
      if (button) RG.copyFrom(button.dataset.copy, button);
    });
    window.addEventListener("hashchange", route);
    // Filters fold away on a phone-sized screen, so the list is in view.
    const phone = window.matchMedia("(max-width: 40rem)");
    const fold = () => { $("filters").open = !phone.matches; };
    phone.addEventListener("change", fold);
    fold();
    RG.meeting.init(failed);
    route();
  }

  start();
})();
