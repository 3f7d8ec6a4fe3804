// roomgate console: one meeting opened: its fields, URLs, preview, personal links, SDK
// tokens, changes and deletion.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  let current = null;
  let failed = null;

  function field(list, term, value) {
    list.append(RG.el("dt", {}, term), RG.el("dd", {}, value === null || value === undefined || value === "" ? "—" : value));
  }

  function settingsText(s) {
    if (!s) return "—";
    const on = ["screen_share", "canvas", "abwd", "auto_recording", "wait_for_moderator", "knock"]
      .filter((k) => s[k]).map((k) => k.replace(/_/g, " "));
    return s.mode + ", " + s.quality + ", " + s.moderators + " moderator(s), " + s.participants +
      " participant(s), " + s.max_active_talkers + " active talkers, zone " + s.media_zone +
      (on.length ? "; " + on.join(", ") : "");
  }

  function render(m) {
    current = m;
    $("m-title").textContent = m.name;
    const when = m.kind === "scheduled" ? "starts " + RG.bothZones(m.starts_at) : "created " + RG.localTime(m.created_at);
    $("m-summary").replaceChildren(RG.el("span", { class: "badge status-" + m.status }, m.status),
      " " + m.kind + " meeting, " + when);
    const list = $("m-fields");
    list.replaceChildren();
    field(list, "Status", RG.el("span", { class: "badge status-" + m.status, id: "m-status" }, m.status));
    field(list, "Kind", m.kind);
    if (m.kind === "scheduled") {
      field(list, "Starts", RG.el("span", { id: "m-starts" }, RG.bothZones(m.starts_at)));
      field(list, "Ends", RG.bothZones(m.ends_at));
      field(list, "Joinable from", RG.bothZones(m.joinable_from));
      field(list, "Duration", m.duration_minutes + " minutes");
    }
    field(list, "Description", m.description);
    field(list, "Owner ref", m.owner_ref);
    field(list, "Embed plan", m.embed);
    field(list, "Settings", settingsText(m.settings));
    field(list, "Room id", RG.el("code", {}, m.room_id || "—"));
    field(list, "Meeting id", RG.el("code", { id: "m-id" }, m.id));
    field(list, "Created", RG.bothZones(m.created_at));
    if (m.deleted_at) field(list, "Deleted", RG.bothZones(m.deleted_at));

    $("m-participant-url").value = m.participant_url || "";
    $("m-moderator-url").value = m.moderator_url || "";
    $("m-moderator-row").hidden = !m.moderator_url;
    $("m-moderator-none").hidden = !!m.moderator_url;

    $("e-name").value = m.name;
    $("e-description").value = m.description || "";
    $("e-starts").value = RG.toLocalInput(m.starts_at);
    $("e-duration").value = m.duration_minutes || "";
    for (const node of document.querySelectorAll(".e-scheduled")) node.hidden = m.kind !== "scheduled";
    $("delete-question").textContent = "Delete “" + m.name + "”? Its room at EnableX is deleted; " +
      "the record stays, marked deleted.";
  }

  function reset() {
    for (const form of ["link-form", "token-form", "edit-form"]) {
      RG.clearProblem($(form));
      $(form).reset();
    }
    RG.clearProblem($("m-problem"));
    $("link-result").hidden = true;
    $("token-result").hidden = true;
    $("delete-confirm").hidden = true;
    $("delete-start").hidden = false;
    closePreview();
  }

  async function open(id, onFailure) {
    failed = onFailure;
    reset();
    $("m-body").hidden = true;
    $("m-title").textContent = "Meeting";
    try {
      render(await RG.call("GET", "/meetings/" + id));
      $("m-body").hidden = false;
    } catch (problem) {
      failed($("m-problem"), problem);
      return;
    }
    $("m-title").focus();
  }

  // ----- preview -----

  function preview(url) {
    $("preview-frame").src = url;
    $("preview").hidden = false;
    $("preview-close").hidden = false;
    RG.notice("Preview opened below.");
  }

  function closePreview() {
    $("preview-frame").removeAttribute("src");
    $("preview").hidden = true;
    $("preview-close").hidden = true;
  }

  // ----- personal links and tokens -----

  function personBody(prefix) {
    const body = { role: $(prefix + "-role").value };
    const name = $(prefix + "-name").value.trim();
    const user = $(prefix + "-user").value.trim();
    if (name) body.name = name;
    if (user) body.user_ref = user;
    return body;
  }

  async function submit(event, work) {
    event.preventDefault();
    const form = event.currentTarget;
    const button = form.querySelector('button[type="submit"]');
    RG.clearProblem(form);
    button.disabled = true;
    try {
      await work(form);
    } catch (problem) {
      if (problem instanceof RG.Problem) failed(form, problem); else throw problem;
    } finally {
      button.disabled = false;
    }
  }

  async function makeLink(form) {
    const body = personBody("l");
    if ($("l-skip-landing").checked) body.landing = false;
    const answer = await RG.call("POST", "/meetings/" + current.id + "/links", body);
    $("link-url").value = answer.url;
    $("link-result").hidden = false;
    RG.notice("Personal link made.");
    $("link-url").focus();
    return form;
  }

  async function makeToken(form) {
    const answer = await RG.call("POST", "/meetings/" + current.id + "/tokens", personBody("t"));
    $("token-text").value = answer.token;
    $("token-expiry").textContent = "Expires " + RG.bothZones(answer.expires_at) + ".";
    $("token-result").hidden = false;
    RG.notice("SDK token made.");
    $("token-text").focus();
    return form;
  }

  // Sends only what changed, so an untouched start time is not re-checked against the clock.
  async function saveChanges(form) {
    const body = {};
    if ($("e-name").value !== current.name) body.name = $("e-name").value;
    if ($("e-description").value !== (current.description || "")) body.description = $("e-description").value;
    if (current.kind === "scheduled") {
      if ($("e-starts").value !== RG.toLocalInput(current.starts_at)) {
        body.starts_at = RG.withOffset($("e-starts").value) || "";
      }
      const minutes = $("e-duration").value.trim();
      if (minutes !== String(current.duration_minutes)) body.duration_minutes = minutes === "" ? null : Number(minutes);
    }
    if (Object.keys(body).length === 0) {
      RG.notice("Nothing to change.");
      return form;
    }
    render(await RG.call("PATCH", "/meetings/" + current.id, body));
    RG.notice("Saved “" + current.name + "”.");
    return form;
  }

  // ----- deleting -----

  function askDelete() {
    $("delete-start").hidden = true;
    $("delete-confirm").hidden = false;
    $("delete-no").focus();
  }

  function keep() {
    $("delete-confirm").hidden = true;
    $("delete-start").hidden = false;
    $("delete-start").focus();
  }

  async function remove() {
    $("delete-yes").disabled = true;
    try {
      await RG.call("DELETE", "/meetings/" + current.id);
      RG.notice("Deleted “" + current.name + "”.", true);
      location.hash = "#/meetings";
    } catch (problem) {
      keep();
      failed($("m-problem"), problem);
    } finally {
      $("delete-yes").disabled = false;
    }
  }

  function init(onFailure) {
    failed = onFailure;
    $("preview-open").addEventListener("click", () => preview(current.participant_url));
    $("preview-close").addEventListener("click", () => { closePreview(); $("preview-open").focus(); });
    $("link-preview").addEventListener("click", () => preview($("link-url").value));
    $("link-form").addEventListener("submit", (e) => submit(e, makeLink));
    $("token-form").addEventListener("submit", (e) => submit(e, makeToken));
    $("edit-form").addEventListener("submit", (e) => submit(e, saveChanges));
    $("delete-start").addEventListener("click", askDelete);
    $("delete-no").addEventListener("click", keep);
    $("delete-yes").addEventListener("click", remove);
  }

  RG.meeting = { init, open };
})();
