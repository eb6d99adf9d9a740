/* django-htmx-inbox: toasts, selection, keyboard shortcuts and error reporting.
   Everything here is an enhancement: every action also works as a plain form. */
(function () {
  "use strict";

  // Tells the stylesheet the script runs (without it, toasts hide by a CSS animation).
  document.documentElement.setAttribute("data-inbox-js", "");
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

  /* django-htmx's DEBUG helper replaces the whole document with any 400 answer. The kit's 400s
     carry a validation message meant to be shown in place (the swap above), so for the kit's own
     requests only, that handler must not see them: stop the event before it reaches document. */
  window.addEventListener("htmx:beforeOnLoad", function (event) {
    var xhr = event.detail && event.detail.xhr;
    if (xhr && xhr.status === 400 && fromKit(event)) event.stopPropagation();
  }, true);

  /* Toasts: one behaviour for every toast, whoever added it (the page, an action's out-of-band
     swap, the live stream): it hides after TOAST_MS (or its own data-inbox-timeout; 0 asks it to
     stay), not while hovered or focused; × dismisses it; only the newest MAX_TOASTS stay. A
     MutationObserver sees every arrival, so no code path can add a toast that skips this. */
  function removeToast(toast) {
    if (!toast || !toast.parentNode) return;
    clearTimeout(toast._inboxTimer);
    toast.classList.add("is-leaving");
    setTimeout(function () { toast.remove(); }, 160);
  }
  function initToast(toast) {
    if (toast.dataset.inboxReady) return;
    toast.dataset.inboxReady = "1";
    var remaining = TOAST_MS, started = 0;
    // data-inbox-timeout: the seconds this toast stays (a message's close_timeout); 0 keeps it until dismissed.
    var seconds = parseFloat(toast.dataset.inboxTimeout);
    if (seconds === 0) return;
    if (seconds > 0) remaining = seconds * 1000;
    function start() { clearTimeout(toast._inboxTimer); started = Date.now(); toast._inboxTimer = setTimeout(function () { removeToast(toast); }, remaining); }
    function pause() { clearTimeout(toast._inboxTimer); remaining = Math.max(1500, remaining - (Date.now() - started)); }
    toast.addEventListener("mouseenter", pause);
    toast.addEventListener("focusin", pause);
    toast.addEventListener("mouseleave", start);
    toast.addEventListener("focusout", start);
    start();
  }
  function capToasts(stack) {
    var toasts = $all("[data-inbox-toast]", stack);
    toasts.slice(0, Math.max(0, toasts.length - MAX_TOASTS)).forEach(function (toast) { toast.remove(); });
  }
  function initToasts(root) {
    $all("[data-inbox-toast]", root).forEach(initToast);
    var stack = $("#inbox-toasts");
    if (stack) capToasts(stack);
  }
  function watchToasts() {
    var stack = $("#inbox-toasts");
    if (!stack || !window.MutationObserver) return;
    new MutationObserver(function () { initToasts(stack); }).observe(stack, { childList: true, subtree: true });
  }

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
    close.textContent = "\u00d7";
    toast.appendChild(p);
    toast.appendChild(close);
    stack.appendChild(toast);
    initToasts(stack);
  }
  window.inboxShowToast = showToast;

  // {% inbox_messages %}: Django's one-off messages are already used up, so × only hides them.
  function initMessageHiding(root) {
    $all("[data-inbox-hide-message]", root).forEach(function (button) { button.hidden = false; });
  }
  document.addEventListener("click", function (event) {
    var hide = event.target.closest && event.target.closest("[data-inbox-hide-message]");
    if (hide) hide.closest(".inbox-message").remove();
  });

  document.addEventListener("click", function (event) {
    var dismiss = event.target.closest && event.target.closest("[data-inbox-dismiss]");
    if (dismiss) removeToast(dismiss.closest("[data-inbox-toast]"));
  });

  /* Selection: "3 selected", buttons enabled only with something selected, and only the
     actions that make sense for what is selected (mark read or mark unread, not both). */
  function bulkForm() { return $("#inbox-bulk"); }
  function checkedRows() {
    return $all("#inbox-bulk input[name=uid]:checked").map(function (box) { return box.closest("[data-inbox-row]"); });
  }
  function syncSelection() {
    var form = bulkForm();
    if (!form) return;
    var boxes = $all("input[name=uid]", form);
    var rowsChecked = checkedRows();
    var pageBox = $("[data-inbox-select-page]", form);
    var scope = $("[data-inbox-scope]", form);
    var count = rowsChecked.length;
    if (pageBox) {
      pageBox.checked = boxes.length > 0 && count === boxes.length;
      pageBox.indeterminate = count > 0 && count < boxes.length;
    }
    var wide = scope && scope.value !== "selected";
    var any = count > 0 || wide;
    var label = $("[data-inbox-selection-label]", form);
    if (label) {
      if (!label.dataset.idle) label.dataset.idle = label.textContent;
      if (scope && scope.value === "matching") label.textContent = scope.options[scope.selectedIndex].text;
      else if (any) label.textContent = t("selected_many", "%(count)s selected").replace("%(count)s", wide ? boxes.length : count);
      else label.textContent = label.dataset.idle;
    }
    function has(key, value) { return rowsChecked.some(function (row) { return row && row.dataset[key] === value; }); }
    // With a wider scope the rows' states are unknown: offer both.
    var show = {
      read: wide || has("unread", "1"),
      unread: wide || (count > 0 && !has("unread", "1")),
      star: wide || has("starred", "0"),
      unstar: wide || (count > 0 && !has("starred", "0")),
      archive: wide || has("archived", "0"),
      unarchive: wide || (count > 0 && !has("archived", "0")),
    };
    $all("[data-inbox-action]", form).forEach(function (button) {
      var action = button.dataset.inboxAction;
      button.disabled = !any;
      if (action in show) button.hidden = any && !show[action];
    });
    var matching = $("[data-inbox-select-matching]", form);
    var bar = $("[data-inbox-bulkbar]", form);
    if (matching) matching.hidden = !(pageBox && pageBox.checked && bar && bar.dataset.more && scope && scope.value !== "matching");
    if (!any && scope) scope.value = "selected";
  }
  document.addEventListener("change", function (event) {
    if (!event.target.closest("#inbox-bulk")) return;
    if (event.target.matches("[data-inbox-select-page]")) {
      $all("#inbox-bulk input[name=uid]").forEach(function (box) { box.checked = event.target.checked; });
      var scope = $("#inbox-bulk [data-inbox-scope]");
      if (scope && !event.target.checked) scope.value = "selected";
    }
    syncSelection();
  });
  document.addEventListener("click", function (event) {
    var matching = event.target.closest && event.target.closest("[data-inbox-select-matching]");
    if (!matching) return;
    var scope = $("#inbox-bulk [data-inbox-scope]");
    if (scope) { scope.value = "matching"; syncSelection(); }
  });

  /* Keyboard shortcuts (as in GitHub's inbox). */
  function rows() { return $all("[data-inbox-row]"); }
  function currentRow() {
    return currentUid ? document.getElementById("inbox-row-" + currentUid) : null;
  }
  function setCurrent(row, focus) {
    rows().forEach(function (r) { r.classList.remove("is-current"); });
    if (!row) { currentUid = null; return; }
    row.classList.add("is-current");
    if (focus !== false) row.focus();
    currentUid = row.id.replace("inbox-row-", "");
  }
  function move(step) {
    var all = rows();
    if (!all.length) return;
    var index = all.indexOf(currentRow());
    var next = index < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, index + step));
    setCurrent(all[next]);
  }
  // The row to focus after an action removes the current one: the next, or the previous at the end.
  var pendingFocusUid = null;
  function neighbourOf(row) {
    var all = rows(), index = all.indexOf(row);
    var next = all[index + 1] || all[index - 1];
    return next ? next.id.replace("inbox-row-", "") : null;
  }
  function runAction(action) {
    var form = bulkForm();
    if (!form) return;
    var row = currentRow();
    if (checkedRows().length === 0 && row) {
      // Nothing selected: act on the current row with its own button.
      var own = $('[data-inbox-row-action="' + action + '"]', row);
      if (own) { pendingFocusUid = neighbourOf(row); own.click(); return; }
      $("input[name=uid]", row).checked = true;
      syncSelection();
    }
    var button = $('[data-inbox-action="' + action + '"]', form);
    if (button) { button.disabled = false; pendingFocusUid = row ? neighbourOf(row) : null; button.click(); }
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
        ["<kbd>s</kbd>", t("star", "Star")],
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
    if (target.closest("input:not([type=checkbox]):not([type=radio]), select, textarea, [contenteditable], dialog, [popover]")) return;
    if (!bulkForm()) return;
    var handled = true;
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "x": {
        var row = currentRow();
        if (row) { var box = $("input[name=uid]", row); box.checked = !box.checked; syncSelection(); } else handled = false;
        break;
      }
      case "o":
      case "Enter": {
        var open = currentRow() && $(".inbox-open", currentRow());
        if (open && target.matches("[data-inbox-row], body")) open.click(); else handled = false;
        break;
      }
      case "e": runAction(currentRow() && currentRow().dataset.archived === "1" ? "unarchive" : "archive"); break;
      case "s": runAction(currentRow() && currentRow().dataset.starred === "1" ? "unstar" : "star"); break;
      case "I": runAction("read"); break;
      case "U": runAction("unread"); break;
      case "?": toggleHelp(); break;
      default: handled = false;
    }
    if (handled) event.preventDefault();
  });

  /* Swaps of the results: restore focus only where the reader was working. A live refresh
     nobody asked for must not move focus or paint a ring on a row nobody touched. */
  var focusWasInResults = false;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var config = event.detail.requestConfig;
    var refreshed = config && config.headers && config.headers["X-Inbox-Refresh"];
    if (refreshed && refreshed !== window.location.href) {
      event.detail.shouldSwap = false;  // a live refresh of a list the reader has left since
      return;
    }
    if (event.detail.target && event.detail.target.id === "inbox-results") {
      var active = document.activeElement;
      focusWasInResults = !!(active && active !== document.body && event.detail.target.contains(active));
    }
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var results = $("#inbox-results");
    if (results && fromKit(event)) results.setAttribute("aria-busy", "true");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var results = $("#inbox-results");
    if (results) results.setAttribute("aria-busy", "false");
    // "Mark all as read" in the preview changes the list the page may be showing.
    if (event.detail.elt && event.detail.elt.matches && event.detail.elt.matches(".inbox-preview [data-inbox-mark-all]") && event.detail.successful) {
      scheduleRefresh();
    }
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    initToasts(document);
    syncSelection();
    if (event.target.id !== "inbox-results") return;
    var target = pendingFocusUid && document.getElementById("inbox-row-" + pendingFocusUid);
    pendingFocusUid = null;
    if (target) { setCurrent(target); return; }
    var row = currentRow();
    if (row) { setCurrent(row, focusWasInResults); return; }
    currentUid = null;
    if (focusWasInResults) {
      var first = rows()[0];
      if (first) setCurrent(first);
      else { event.target.setAttribute("tabindex", "-1"); event.target.focus(); }
    }
  });

  /* The advanced filters and the snooze menus: dropdowns, so a click outside or Escape closes them. */
  var DROPDOWNS = ".inbox-advanced[open], .inbox-menu[open]";
  document.addEventListener("click", function (event) {
    $all(DROPDOWNS).forEach(function (details) {
      if (!details.contains(event.target)) details.open = false;
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var details = event.target.closest && event.target.closest(DROPDOWNS);
    if (details) { details.open = false; $("summary", details).focus(); }
  });

  /* The preview popover: the HTML popover attribute opens and closes it (also without this
     script) and closes it on Escape; here it gets aria-expanded, a place under the bell that
     stays on screen, and focus back on the bell when it closes. */
  function placePopover(button, panel) {
    var rect = button.getBoundingClientRect();
    var width = Math.min(384, window.innerWidth - 16);
    var right = Math.max(8, window.innerWidth - rect.right);
    if (window.innerWidth - right - width < 8) right = window.innerWidth - width - 8;
    panel.style.top = Math.round(rect.bottom + 8) + "px";
    panel.style.right = Math.round(right) + "px";
    panel.style.width = width + "px";
  }
  function initPreview(root) {
    $all("[data-inbox-preview]", root).forEach(function (preview) {
      if (preview.dataset.inboxReady) return;
      preview.dataset.inboxReady = "1";
      var button = $("[popovertarget]", preview);
      var panel = $("[popover]", preview);
      if (!button || !panel) return;
      button.setAttribute("aria-expanded", "false");
      panel.addEventListener("beforetoggle", function (event) {
        if (event.newState === "open") placePopover(button, panel);
      });
      panel.addEventListener("toggle", function (event) {
        var open = event.newState === "open";
        button.setAttribute("aria-expanded", open ? "true" : "false");
        if (!open && (panel.contains(document.activeElement) || document.activeElement === document.body)) button.focus();
      });
      window.addEventListener("resize", function () {
        if (panel.matches(":popover-open")) placePopover(button, panel);
      });
    });
  }

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
        initToasts(stack);  // a burst must not bury the page: the newest few stay
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
      // Never pull the list from under someone selecting rows, confirming a delete or typing a search.
      if (!results || !window.htmx || $("input[name=uid]:checked", results) || $("[data-inbox-select-page]:checked", results) ||
          $(".inbox-confirm", results) || (document.activeElement && document.activeElement.id === "id_q")) return;
      // A request of the reader's is on its way (an action, a tab, a page): its answer is the fresh
      // list. A refresh swapped in first would leave an action's answer without its target (and its
      // toast lost); one swapped in after a tab's would show the list the reader just left.
      if ($(".htmx-request")) return scheduleRefresh();
      var url = window.location.href;
      // The results are the source too, so this request counts as the kit's own (see fromKit).
      var refresh = htmx.ajax("GET", url, { source: results, target: results, swap: "outerHTML",
                                            headers: { "X-Inbox-Refresh": url } });
      // An action clicked meanwhile aborts it (hx-sync="#inbox-results:replace"): not an error.
      if (refresh && refresh.catch) refresh.catch(function () {});
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
    watchToasts();
    initPreview(document);
    initMessageHiding(document);
    syncSelection();
    startLive();
  });
})();
