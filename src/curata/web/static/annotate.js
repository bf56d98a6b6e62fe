/* Keyboard shortcuts, span selection and in-place submit for the annotator's workspace
   (/projects/NAME/annotate). Plain JavaScript, no build step; the page works without it (a plain
   form submit). Shortcuts act only when focus is not in a text field, except Ctrl+Enter, which
   submits from anywhere (the skip form, from inside it). S moves focus to the skip form's reason.
   With JavaScript the annotate form is posted with fetch and the page the server answers with
   (the next item, calibration feedback, the form again with its problems, "nothing left")
   replaces <main> in place: no full page load per item. Anything unexpected (a network error,
   an answer that is not such a page) falls back to the form's own submission. */
(function () {
  "use strict";
  var main = document.getElementById("main");
  var form = null;
  var skipForm = null;
  var questions = [];
  var active = null;
  var spanTools = [];  // {source, show} of the span tools on the page now
  var busy = false;

  function setActive(fieldset) {
    if (active === fieldset) { return; }
    if (active) { active.classList.remove("active"); }
    active = fieldset;
    if (active) { active.classList.add("active"); }
  }

  function firstUnanswered() {
    for (var i = 0; i < questions.length; i++) {
      var q = questions[i];
      if (q.hasAttribute("data-digits") && !q.querySelector("input:checked")) { return q; }
    }
    for (var j = 0; j < questions.length; j++) {
      if (questions[j].hasAttribute("data-digits")) { return questions[j]; }
    }
    return null;
  }

  function isTextField(el) {
    if (!el) { return false; }
    if (el.tagName === "TEXTAREA") { return true; }
    if (el.tagName === "SELECT" || el.isContentEditable) { return true; }
    if (el.tagName === "INPUT") {
      var type = (el.getAttribute("type") || "text").toLowerCase();
      return ["radio", "checkbox", "button", "submit", "reset", "hidden"].indexOf(type) < 0;
    }
    return false;
  }

  function submit(which) {
    var f = which || form;
    if (!f) { return; }
    if (typeof f.requestSubmit === "function") { f.requestSubmit(); } else { f.submit(); }
  }

  function pick(input) {
    if (!input) { return; }
    if (input.type === "checkbox") { input.checked = !input.checked; } else { input.checked = true; }
    input.focus();
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  // -- spans: select in the read-only text, add with a label; the offsets live in the input --
  // Offsets sent are code points (Python's character positions); the textarea's selection is
  // in UTF-16 units, converted on adding. Chromium moves no caret in a read-only textarea, so
  // the keys that move one are handled here: Left/Right (by word with Ctrl or Alt), Up/Down
  // (by line), Home/End (the line; with Ctrl the whole text), Shift with any of them extends
  // the selection from its anchor. setSelectionRange shows the result; the mouse selects as
  // usual, and a line under the text says what is selected (no caret is drawn).
  function codePoints(text, index) { return Array.from(text.slice(0, index)).length; }

  function isLow(text, i) { var c = text.charCodeAt(i); return c >= 0xDC00 && c <= 0xDFFF; }
  function isWord(ch) { return /[\p{L}\p{N}_]/u.test(ch); }

  function charLeft(text, i) {
    if (i <= 0) { return 0; }
    return i >= 2 && isLow(text, i - 1) ? i - 2 : i - 1;
  }
  function charRight(text, i) {
    if (i >= text.length) { return text.length; }
    return isLow(text, i + 1) ? i + 2 : i + 1;
  }
  function wordLeft(text, i) {
    while (i > 0 && !isWord(text.charAt(i - 1))) { i = charLeft(text, i); }
    while (i > 0 && isWord(text.charAt(i - 1))) { i -= 1; }
    return i;
  }
  function wordRight(text, i) {
    while (i < text.length && !isWord(text.charAt(i))) { i = charRight(text, i); }
    while (i < text.length && isWord(text.charAt(i))) { i += 1; }
    return i;
  }
  function lineStart(text, i) { return text.lastIndexOf("\n", i - 1) + 1; }
  function lineEnd(text, i) { var e = text.indexOf("\n", i); return e < 0 ? text.length : e; }
  function lineMove(text, i, down) {
    var start = lineStart(text, i), column = i - start;
    var target;
    if (down) {
      var end = lineEnd(text, i);
      if (end >= text.length) { return text.length; }
      target = end + 1;
    } else {
      if (start === 0) { return 0; }
      target = lineStart(text, start - 1);
    }
    var at = Math.min(target + column, lineEnd(text, target));
    return at > target && isLow(text, at) ? at - 1 : at;
  }

  function setupSpans(tool) {
    var source = tool.querySelector(".span-source");
    var value = tool.querySelector(".span-value");
    var list = tool.querySelector(".span-list");
    var buttons = tool.querySelector(".span-buttons");
    var status = tool.querySelector(".span-selection");
    var chars = Array.from(source.value);
    buttons.hidden = false;
    if (status) { status.hidden = false; }

    function ends() {
      var a = source.selectionStart, b = source.selectionEnd;
      var backward = source.selectionDirection === "backward";
      return { anchor: backward ? b : a, focus: backward ? a : b };
    }

    function select(anchor, focus) {
      if (focus < anchor) {
        source.setSelectionRange(focus, anchor, "backward");
      } else {
        source.setSelectionRange(anchor, focus, "forward");
      }
      show();
    }

    function show() {
      if (!status) { return; }
      var text = source.value;
      var a = source.selectionStart, b = source.selectionEnd;
      var start = codePoints(text, a), end = codePoints(text, b);
      if (a === b) {
        status.textContent = "Caret at " + start + " (Shift+arrows select)";
      } else {
        status.textContent = "Selected [" + start + "\u2013" + end + "): \u201c" +
          text.slice(a, b) + "\u201d";
      }
    }

    function move(event) {
      var text = source.value;
      var key = event.key;
      var word = event.ctrlKey || event.altKey;
      var cur = ends();
      var collapsed = cur.anchor === cur.focus;
      var from = cur.focus;
      var to;
      if (key === "ArrowLeft" || key === "ArrowRight") {
        if (!event.shiftKey && !collapsed && !word) {  // an arrow collapses a selection to its side
          var lo = Math.min(cur.anchor, cur.focus), hi = Math.max(cur.anchor, cur.focus);
          to = key === "ArrowLeft" ? lo : hi;
        } else if (key === "ArrowLeft") {
          to = word ? wordLeft(text, from) : charLeft(text, from);
        } else {
          to = word ? wordRight(text, from) : charRight(text, from);
        }
      } else if (key === "ArrowUp" || key === "ArrowDown") {
        if (event.metaKey) {
          to = key === "ArrowUp" ? 0 : text.length;
        } else {
          to = lineMove(text, from, key === "ArrowDown");
        }
      } else if (key === "Home") {
        to = event.ctrlKey || event.metaKey ? 0 : lineStart(text, from);
      } else if (key === "End") {
        to = event.ctrlKey || event.metaKey ? text.length : lineEnd(text, from);
      } else {
        return false;
      }
      if (event.metaKey && (key === "ArrowLeft" || key === "ArrowRight")) {
        to = key === "ArrowLeft" ? lineStart(text, from) : lineEnd(text, from);
      }
      select(event.shiftKey ? cur.anchor : to, to);
      return true;
    }

    function read() {
      try {
        var spans = JSON.parse(value.value || "[]");
        return Array.isArray(spans) ? spans : [];
      } catch (e) { return []; }
    }

    function draw() {
      var spans = read();
      list.textContent = "";
      spans.forEach(function (span, k) {
        var li = document.createElement("li");
        var text = chars.slice(span.start, span.end).join("");
        li.textContent = span.label + ": \u201c" + text + "\u201d [" + span.start + "\u2013" + span.end + ") ";
        var remove = document.createElement("button");
        remove.type = "button";
        remove.textContent = "Remove";
        remove.setAttribute("aria-label", "Remove span " + (k + 1) + " (" + span.label + ")");
        remove.addEventListener("click", function () {
          var now = read();
          now.splice(k, 1);
          value.value = JSON.stringify(now);
          draw();
          source.focus();
        });
        li.appendChild(remove);
        list.appendChild(li);
      });
    }

    function add(label) {
      var a = source.selectionStart, b = source.selectionEnd;
      if (a === b) { return; }
      var text = source.value;
      var start = codePoints(text, Math.min(a, b)), end = codePoints(text, Math.max(a, b));
      var spans = read();
      spans.push({ start: start, end: end, label: label });
      spans.sort(function (x, y) { return x.start - y.start || x.end - y.end; });
      value.value = JSON.stringify(spans);
      draw();
    }

    var labels = Array.prototype.map.call(tool.querySelectorAll(".add-span"), function (button) {
      button.addEventListener("click", function () { add(button.getAttribute("data-label")); });
      return button.getAttribute("data-label");
    });
    source.addEventListener("keydown", function (event) {
      if (move(event)) {
        event.preventDefault();
        event.stopPropagation();
        return;
      }
      if (event.ctrlKey || event.metaKey || event.altKey) { return; }
      var n = parseInt(event.key, 10);
      if (n >= 1 && n <= 9 && n <= labels.length && String(n) === event.key) {
        event.preventDefault();
        event.stopPropagation();
        add(labels[n - 1]);
      }
    });
    ["select", "mouseup", "focus"].forEach(function (type) {
      source.addEventListener(type, show);
    });
    spanTools.push({ source: source, show: show });
    value.addEventListener("change", draw);
    draw();
  }
  document.addEventListener("selectionchange", function () {
    spanTools.forEach(function (tool) {
      if (document.activeElement === tool.source) { tool.show(); }
    });
  });

  // -- submit in place: post with fetch, swap <main> with the answer's --
  function fallback() {
    busy = false;
    HTMLFormElement.prototype.submit.call(form);  // the form's own submission (no submit event)
  }

  function focusAfterSwap() {
    var target = main.querySelector("fieldset.question.invalid") ||
      main.querySelector("[autofocus]") || main.querySelector("fieldset.question");
    if (target && target.tagName === "FIELDSET") { target.setAttribute("tabindex", "-1"); }
    (target || main).focus();
  }

  function swap(doc, url) {
    var next = doc.querySelector("main");
    var nodes = Array.prototype.slice.call(next.childNodes);
    main.replaceChildren.apply(main, nodes.map(function (n) { return document.adoptNode(n); }));
    document.title = doc.title;
    init();
    focusAfterSwap();
    // last: the address says which page this is now (a reload shows it again)
    history.replaceState(null, "", url);
  }

  function onSubmit(event) {
    if (event.defaultPrevented) { return; }
    if (!main || typeof window.fetch !== "function" || typeof window.DOMParser !== "function" ||
        typeof main.replaceChildren !== "function") { return; }
    event.preventDefault();
    if (busy) { return; }  // one submit at a time (a second Enter waits for the first)
    busy = true;
    var action = new URL(form.action, location.href);
    var body = new URLSearchParams(new FormData(form));
    fetch(action.href, {
      method: "POST", body: body, credentials: "same-origin", redirect: "follow",
      headers: { "Accept": "text/html", "X-Curata-Swap": "1" }
    }).then(function (response) {
      var type = response.headers.get("content-type") || "";
      if (type.indexOf("text/html") < 0) { throw new Error("not a page"); }
      // the next page comes in this response; its own address in X-Curata-Location
      var url = new URL(response.headers.get("X-Curata-Location") || response.url || action.href,
                        location.href);
      if (url.origin !== location.origin || url.pathname !== action.pathname) {
        window.location.assign(url.href);  // somewhere else (signed out): go there
        return null;
      }
      return response.text().then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        if (!doc.querySelector("main")) { throw new Error("not a page"); }
        busy = false;
        swap(doc, url.href);
      });
    }).catch(fallback);
  }

  function init() {
    form = document.getElementById("annotate-form");
    skipForm = document.getElementById("skip-form");
    questions = form ? Array.prototype.slice.call(form.querySelectorAll("fieldset.question")) : [];
    active = null;
    spanTools = [];
    if (!form) { return; }
    setActive(firstUnanswered());
    form.addEventListener("focusin", function (event) {
      var q = event.target.closest("fieldset.question");
      if (q) { setActive(q); }
    });
    form.addEventListener("submit", onSubmit);
    Array.prototype.forEach.call(form.querySelectorAll(".span-tool"), setupSpans);
  }
  init();

  // -- the keys --
  document.addEventListener("keydown", function (event) {
    if (!form) { return; }
    var target = event.target;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit(skipForm && skipForm.contains(target) ? skipForm : form);
      return;
    }
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) { return; }
    if (isTextField(target)) { return; }
    if (event.key === "Enter") {
      var tag = target && target.tagName;
      if (tag === "BUTTON" || tag === "A" || tag === "SUMMARY") { return; }
      if (!form.contains(target) && target !== document.body && target !== main) { return; }
      event.preventDefault();
      submit();
      return;
    }
    var n = parseInt(event.key, 10);
    if (n >= 1 && n <= 9 && String(n) === event.key) {
      var q = active && active.hasAttribute("data-digits") ? active : firstUnanswered();
      if (!q) { return; }
      var inputs = q.querySelectorAll(".options input");
      if (n <= inputs.length) {
        event.preventDefault();
        setActive(q);
        pick(inputs[n - 1]);
      }
      return;
    }
    var key = (event.key || "").toLowerCase();
    if (key === "s" && skipForm) {
      var reason = skipForm.querySelector("select[name=reason]");
      if (reason) {
        event.preventDefault();
        reason.focus();
      }
      return;
    }
    if (["a", "b", "t", "n"].indexOf(key) >= 0) {
      var pref = active && active.getAttribute("data-type") === "preference"
        ? active : form.querySelector('fieldset.question[data-type="preference"]');
      if (!pref) { return; }
      var choice = pref.querySelector('input[data-key="' + key + '"]');
      if (choice) {
        event.preventDefault();
        setActive(pref);
        pick(choice);
      }
    }
  });
})();
