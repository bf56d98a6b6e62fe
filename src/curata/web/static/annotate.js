/* Keyboard shortcuts and span selection for the annotator's workspace (/projects/NAME/annotate).
   Plain JavaScript, no build step; the page works without it (a plain form submit). Shortcuts
   act only when focus is not in a text field, except Ctrl+Enter, which submits from anywhere
   (the skip form, from inside it). S moves focus to the skip form's reason. */
(function () {
  "use strict";
  var form = document.getElementById("annotate-form");
  if (!form) { return; }
  var skipForm = document.getElementById("skip-form");
  var questions = Array.prototype.slice.call(form.querySelectorAll("fieldset.question"));
  var active = null;

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

  setActive(firstUnanswered());
  form.addEventListener("focusin", function (event) {
    var q = event.target.closest("fieldset.question");
    if (q) { setActive(q); }
  });

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
    if (typeof f.requestSubmit === "function") { f.requestSubmit(); } else { f.submit(); }
  }

  function pick(input) {
    if (!input) { return; }
    if (input.type === "checkbox") { input.checked = !input.checked; } else { input.checked = true; }
    input.focus();
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  // -- spans: select in the read-only text, add with a label; the offsets live in the input --
  function codePoints(text, index) { return Array.from(text.slice(0, index)).length; }

  function setupSpans(tool) {
    var source = tool.querySelector(".span-source");
    var value = tool.querySelector(".span-value");
    var list = tool.querySelector(".span-list");
    var buttons = tool.querySelector(".span-buttons");
    var chars = Array.from(source.value);
    buttons.hidden = false;

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
      if (event.ctrlKey || event.metaKey || event.altKey) { return; }
      var n = parseInt(event.key, 10);
      if (n >= 1 && n <= 9 && n <= labels.length) {
        event.preventDefault();
        event.stopPropagation();
        add(labels[n - 1]);
      }
    });
    value.addEventListener("change", draw);
    draw();
  }
  Array.prototype.forEach.call(form.querySelectorAll(".span-tool"), setupSpans);

  // -- the keys --
  document.addEventListener("keydown", function (event) {
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
      if (!form.contains(target) && target !== document.body) { return; }
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
