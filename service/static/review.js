// The review pages' only script: evidence layer toggles and keyboard shortcuts.
// Every action is a plain form or link; this file only adds shortcuts to them.
(function () {
  "use strict";

  function typing(event) {
    var el = event.target;
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function setLayer(name, visible) {
    document.querySelectorAll('[data-layer="' + CSS.escape(name) + '"]').forEach(function (g) {
      g.classList.toggle("hidden", !visible);
    });
  }

  document.querySelectorAll("[data-layer-toggle]").forEach(function (box) {
    box.addEventListener("change", function () { setLayer(box.dataset.layerToggle, box.checked); });
  });

  var help = document.getElementById("shortcut-help");
  function toggleHelp() { if (help) { help.hidden = !help.hidden; } }
  document.querySelectorAll("[data-help-toggle]").forEach(function (b) {
    b.addEventListener("click", toggleHelp);
  });

  // Queue: j/k move a selection through the rows, Enter or o opens it; a row click opens it.
  var rows = Array.prototype.slice.call(document.querySelectorAll("[data-queue-row]"));
  var selected = rows.length ? 0 : -1;
  function select(index) {
    if (!rows.length) { return; }
    selected = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach(function (row, i) { row.classList.toggle("selected", i === selected); });
    rows[selected].scrollIntoView({ block: "nearest" });
  }
  if (rows.length) { select(0); }
  rows.forEach(function (row) {
    row.addEventListener("click", function (event) {
      if (event.target.closest("a")) { return; }
      window.location.href = row.dataset.href;
    });
  });

  function trigger(key) {
    var el = document.querySelector('[data-shortcut="' + key + '"]');
    if (!el) { return false; }
    if (el.tagName === "FORM") { el.requestSubmit(); } else { window.location.href = el.href; }
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event)) { return; }
    var key = event.key;
    if (key === "?") { toggleHelp(); event.preventDefault(); return; }
    if (rows.length) {
      if (key === "j") { select(selected + 1); event.preventDefault(); return; }
      if (key === "k") { select(selected - 1); event.preventDefault(); return; }
      if ((key === "Enter" || key === "o") && selected >= 0) {
        window.location.href = rows[selected].dataset.href; event.preventDefault(); return;
      }
    }
    if (key === "l") {
      var toggles = document.querySelectorAll("[data-layer-toggle]");
      var show = Array.prototype.some.call(toggles, function (t) { return !t.checked; });
      toggles.forEach(function (t) { t.checked = show; setLayer(t.dataset.layerToggle, show); });
      event.preventDefault();
      return;
    }
    if (["n", "c", "a", "g", "q"].indexOf(key) >= 0 && trigger(key)) { event.preventDefault(); }
  });
})();
