/* django-htmx-inbox: toasts, selection, keyboard shortcuts and error reporting.
   Everything here is an enhancement: every action also works as a plain form. */
(function () {
  "use strict";

  var TOAST_MS = 6000;
  var MAX_TOASTS = 5;
  var currentUid = null;
  var strings = {};
  try { strings = JSON.parse(document.getElementById("inbox-strings").textContent); } catch (e) { /* defaults */ }
  function t(key, fallback) { return strings[key] || fallback; }
  function escapeHtml(text) {
    var div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML;
  }

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  /* The kit is a guest in the host site's pages: it handles only requests made by its own
     elements, never the site's own hx- elements, and leaves htmx's global configuration
     (htmx.config) as the site set it. */
  var KIT_CONTAINERS = ".inbox, .inbox-preview, #inbox-badge, #inbox-toasts, #inbox-live, [data-inbox]";
  function isKitElement(elt) { return !!(elt && elt.closest && elt.closest(KIT_CONTAINERS)); }
  // htmx fires swap events on the swap target; detail.elt is the element that made the request.
  function fromKit(event) { return isKitElement((event.detail && event.detail.elt) || event.target); }

  // A 400 from the kit carries a message to show (bad filter, nothing selected): swap it, don't
  // drop it. Per request, so the site's own 400s keep whatever handling the site gave them.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.status === 400 && fromKit(event)) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  /* Toasts: auto-hide, paused while hovered or focused; dismissible. */
  function initToast(toast) {
    if (toast.dataset.inboxReady) return;
    toast.dataset.inboxReady = "1";
    var remaining = TOAST_MS, started = Date.now(), timer = null;
    function hide() { toast.remove(); }
    function start() { started = Date.now(); timer = setTimeout(hide, remaining); }
    function pause() { clearTimeout(timer); remaining -= Date.now() - started; }
    toast.addEventListener("mouseenter", pause);
    toast.addEventListener("focusin", pause);
    toast.addEventListener("mouseleave", start);
    toast.addEventListener("focusout", start);
    start();
  }
  function initToasts(root) { $all("[data-inbox-toast]", root).forEach(initToast); }

  function showToast(text, level) {
    var stack = $("#inbox-toasts");
    if (!stack) return;
    var toast = document.createElement("div");
    toast.className = "inbox-toast inbox-toast--" + (level || "info");
    toast.setAttribute("data-inbox-toast", "");
    var p = document.createElement("p");
    p.className = "inbox-toast__text";
    p.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "inbox-toast__close";
    close.setAttribute("data-inbox-dismiss", "");
    close.setAttribute("aria-label", t("dismiss", "Dismiss"));
    close.textContent = "×";
    toast.appendChild(p);
    toast.appendChild(close);
    stack.appendChild(toast);
    initToast(toast);
  }
  window.inboxShowToast = showToast;

  document.addEventListener("click", function (event) {
    var dismiss = event.target.closest("[data-inbox-dismiss]");
    if (dismiss) dismiss.closest("[data-inbox-toast]").remove();
  });

  /* Selection. */
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-inbox-select-page]")) {
      $all("#inbox-bulk input[name=uid]").forEach(function (box) { box.checked = event.target.checked; });
    }
  });

  /* Keyboard shortcuts (as in GitHub's inbox). */
  function rows() { return $all("[data-inbox-row]"); }
  function currentRow() {
    return currentUid ? document.getElementById("inbox-row-" + currentUid) : null;
  }
  function setCurrent(row) {
    rows().forEach(function (r) { r.classList.remove("is-current"); });
    if (!row) { currentUid = null; return; }
    row.classList.add("is-current");
    row.focus();
    currentUid = row.id.replace("inbox-row-", "");
  }
  function move(step) {
    var all = rows();
    if (!all.length) return;
    var index = all.indexOf(currentRow());
    var next = index < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, index + step));
    setCurrent(all[next]);
  }
  function runAction(action) {
    var form = $("#inbox-bulk");
    if (!form) return;
    var anyChecked = $all("input[name=uid]:checked", form).length > 0;
    var row = currentRow();
    if (!anyChecked && row) $("input[name=uid]", row).checked = true;
    var button = $('[data-inbox-action="' + action + '"]', form);
    if (button) button.click();
  }
  function toggleHelp() {
    var help = $("#inbox-help");
    if (!help) {
      help = document.createElement("dialog");
      help.id = "inbox-help";
      help.className = "inbox-help";
      help.setAttribute("aria-labelledby", "inbox-help-title");
      var items = [
        ["<kbd>j</kbd> / <kbd>k</kbd>", t("next_previous", "Next / previous notification")],
        ["<kbd>x</kbd>", t("select", "Select")],
        ["<kbd>o</kbd> / <kbd>Enter</kbd>", t("open", "Open")],
        ["<kbd>e</kbd>", t("archive", "Archive")],
        ["<kbd>Shift</kbd>+<kbd>I</kbd> / <kbd>Shift</kbd>+<kbd>U</kbd>", t("read_unread", "Mark read / unread")],
        ["<kbd>?</kbd>", t("help", "This help")],
      ];
      help.innerHTML =
        '<h2 id="inbox-help-title">' + escapeHtml(t("shortcuts", "Keyboard shortcuts")) + "</h2><dl>" +
        items.map(function (item) { return "<dt>" + item[0] + "</dt><dd>" + escapeHtml(item[1]) + "</dd>"; }).join("") +
        '</dl><form method="dialog"><button class="inbox-button">' + escapeHtml(t("close", "Close")) + "</button></form>";
      document.body.appendChild(help);
    }
    if (help.open) help.close(); else help.showModal();
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    // Typing in a field is not a shortcut; a focused checkbox or button still allows them.
    if (target.closest("input:not([type=checkbox]):not([type=radio]), select, textarea, [contenteditable], dialog")) return;
    if (!$("#inbox-bulk")) return;
    var handled = true;
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "x": {
        var row = currentRow();
        if (row) { var box = $("input[name=uid]", row); box.checked = !box.checked; } else handled = false;
        break;
      }
      case "o":
      case "Enter": {
        var open = currentRow() && $(".inbox-open", currentRow());
        if (open && target.matches("[data-inbox-row], body")) open.click(); else handled = false;
        break;
      }
      case "e": runAction("archive"); break;
      case "I": runAction("read"); break;
      case "U": runAction("unread"); break;
      case "?": toggleHelp(); break;
      default: handled = false;
    }
    if (handled) event.preventDefault();
  });

  /* After a swap: keep the current row, or put focus somewhere sensible rather than on <body>. */
  document.addEventListener("htmx:afterSettle", function (event) {
    initToasts(event.target);
    if (event.target.id !== "inbox-results") return;
    var row = currentRow();
    if (row) { setCurrent(row); return; }
    if (document.activeElement === document.body || !document.activeElement) {
      var first = rows()[0];
      if (first) setCurrent(first);
      else { event.target.setAttribute("tabindex", "-1"); event.target.focus(); }
    }
  });

  /* Errors: a kit fragment that fails must say so. The site's own requests are its business. */
  document.addEventListener("htmx:responseError", function (event) {
    if (!fromKit(event)) return;
    var status = event.detail.xhr ? event.detail.xhr.status : "";
    showToast(t("error", "Something went wrong (%(status)s). Please try again.").replace("%(status)s", status), "error");
  });
  document.addEventListener("htmx:sendError", function (event) {
    if (!fromKit(event)) return;
    showToast(t("offline", "Could not reach the server. Check your connection."), "error");
  });

  /* Live updates over Server-Sent Events.
     Browsers allow six HTTP/1.1 connections per host, so a stream per tab would hang the
     seventh tab. One tab (the holder of a Web Lock) keeps the stream, through htmx's SSE
     extension, and passes every event to the other tabs on a BroadcastChannel. When it
     closes, the lock passes to another tab, which opens the stream. */
  var LIVE_EVENTS = ["badge", "toast", "inbox", "notification"];
  var refreshTimer = null;

  function applyLive(type, data) {
    if (type === "badge") {
      var badge = document.getElementById("inbox-badge");
      if (badge) badge.outerHTML = data;
    } else if (type === "toast") {
      var stack = $("#inbox-toasts");
      if (stack) {
        stack.insertAdjacentHTML("beforeend", data);
        initToasts(stack);
        // A burst must not bury the page: keep the newest few.
        var toasts = $all("[data-inbox-toast]", stack);
        toasts.slice(0, Math.max(0, toasts.length - MAX_TOASTS)).forEach(function (toast) { toast.remove(); });
      }
    } else if (type === "inbox") {
      document.body.dispatchEvent(new CustomEvent("inbox:changed", { bubbles: true }));
      scheduleRefresh();
    } else if (type === "notification") {
      document.body.dispatchEvent(new CustomEvent("inbox:notification", { detail: JSON.parse(data) }));
    }
  }

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {
      var results = $("#inbox-results");
      // Never pull the table from under someone selecting rows or confirming a delete.
      if (!results || !window.htmx || $("input[name=uid]:checked", results) || $(".inbox-confirm", results)) return;
      // The results are the source too, so this request counts as the kit's own (see fromKit).
      htmx.ajax("GET", window.location.href, { source: results, target: results, swap: "outerHTML" });
    }, 250);
  }

  function openStream(url, channel) {
    var host = document.createElement("div");
    host.id = "inbox-live";
    host.hidden = true;
    host.setAttribute("hx-ext", "sse");
    host.setAttribute("sse-connect", url);
    LIVE_EVENTS.forEach(function (name) {
      var listener = document.createElement("div");
      listener.setAttribute("sse-swap", name);
      listener.setAttribute("hx-swap", "none");
      host.appendChild(listener);
    });
    host.addEventListener("htmx:sseBeforeMessage", function (event) {
      event.preventDefault();  // applied here, in every tab alike
      var message = { type: event.detail.type, data: event.detail.data };
      applyLive(message.type, message.data);
      if (channel) channel.postMessage(message);
    });
    host.addEventListener("htmx:sseOpen", function () { document.documentElement.dataset.inboxLive = "leader"; });
    document.body.appendChild(host);
    htmx.process(host);
  }

  function startLive() {
    var meta = document.querySelector('meta[name="inbox-events"]');
    if (!meta || !window.htmx || !window.EventSource) return;
    var url = meta.content;
    var channel = window.BroadcastChannel ? new BroadcastChannel("inbox-live:" + url) : null;
    if (channel) {
      channel.onmessage = function (event) { applyLive(event.data.type, event.data.data); };
    }
    if (channel && navigator.locks) {
      document.documentElement.dataset.inboxLive = "follower";
      // The lock is held until this tab goes away; the next waiting tab then leads.
      navigator.locks.request("inbox-live:" + url, function () {
        openStream(url, channel);
        return new Promise(function () {});
      });
    } else {
      openStream(url, null);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    initToasts(document);
    startLive();
  });
})();
