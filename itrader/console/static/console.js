// iTrader console: keeps the page live over the event WebSocket (authenticated by the session cookie).
// The live part of a page is re-rendered by the server (escaped there) and swapped in; event rows are
// built with textContent only, so no text from the platforms is ever parsed as HTML here.
(function () {
  "use strict";
  var MAX_EVENT_ROWS = 300;
  var live = document.getElementById("live");
  var eventsBody = document.querySelector("#events tbody");
  var status = document.getElementById("live-status");
  var pending = null;
  var refreshing = false;
  var again = false;
  var shown = null;  // the last live part swapped in: an identical one is not swapped again
  var dealId = live ? live.getAttribute("data-deal-id") : null;  // a deal's page follows that deal only

  function say(text) { if (status) { status.textContent = text; } }

  function refresh() {
    if (!live) { return; }
    if (refreshing) { again = true; return; }
    refreshing = true;
    fetch(window.location.pathname + "?part=1", {credentials: "same-origin", redirect: "manual", cache: "no-store"})
      .then(function (response) {
        if (response.type === "opaqueredirect" || response.status === 303 || response.status === 401) {
          window.location.assign("/sign-in");
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null && html !== shown) { shown = html; live.innerHTML = html; }
      })
      .catch(function () { say("refresh failed"); })
      .then(function () {
        refreshing = false;
        if (again) { again = false; soon(); }
      });
  }

  function soon() {
    if (pending) { return; }
    pending = setTimeout(function () { pending = null; refresh(); }, 200);
  }

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
  }

  function showEvent(event) {
    if (!eventsBody) { return; }
    var row = document.createElement("tr");
    var detail = Object.keys(event).filter(function (k) { return k !== "seq" && k !== "ts" && k !== "type"; })
      .map(function (k) { return k + "=" + (typeof event[k] === "object" ? JSON.stringify(event[k]) : String(event[k])); })
      .join(" ");
    cell(row, String(event.seq));
    cell(row, event.ts ? new Date(event.ts * 1000).toISOString().slice(11, 19) : "");
    cell(row, String(event.type || ""));
    cell(row, detail);
    eventsBody.insertBefore(row, eventsBody.firstChild);
    while (eventsBody.rows.length > MAX_EVENT_ROWS) { eventsBody.deleteRow(-1); }
  }

  var opened = false;

  function connect(after) {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + window.location.host + "/api/v1/ws" + (after !== null ? "?after=" + after : "");
    var socket = new WebSocket(url);
    var last = after;
    var reconnected = opened;
    socket.onopen = function () {
      say("live");
      if (reconnected) { soon(); }  // what happened while the socket was down
      opened = true;
    };
    socket.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (typeof event.seq === "number") { last = event.seq; }
      showEvent(event);
      if (dealId === null || String(event.deal_id) === dealId) { soon(); }
    };
    socket.onclose = function (closed) {
      if (closed.code === 1008) {  // the session ended (signed out elsewhere, or expired): sign in again
        window.location.assign("/sign-in");
        return;
      }
      say("reconnecting…");
      setTimeout(function () { connect(last); }, 2000);
    };
  }

  connect(eventsBody ? 0 : null);
})();
