// EscaMap: progressive enhancement only. Every page works without this file.
(function () {
  "use strict";

  // Filters apply as soon as a select or date changes (the Apply button remains for text).
  document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
    form.addEventListener("change", function (e) {
      var t = e.target;
      if (t && (t.tagName === "SELECT" || t.type === "date")) {
        form.submit();
      }
    });
  });

  // Heatmap tooltips: label pair, value, count and share of the row, from the cell's <title>.
  var tip = document.getElementById("tooltip");
  function cellOf(el) {
    return el && el.closest ? el.closest(".hm-cell") : null;
  }
  function show(cell, x, y) {
    if (!tip || !cell) { return; }
    var title = cell.querySelector("title");
    var text = title ? title.textContent : "";
    var parts = text.split(": ");
    tip.textContent = "";
    var head = document.createElement("strong");
    head.textContent = parts.shift() || "";
    tip.appendChild(head);
    tip.appendChild(document.createTextNode(parts.join(": ")));
    tip.hidden = false;
    var r = tip.getBoundingClientRect();
    var left = Math.min(x + 14, window.innerWidth - r.width - 8);
    var top = y + 16 + r.height > window.innerHeight ? y - r.height - 12 : y + 16;
    tip.style.left = Math.max(8, left) + "px";
    tip.style.top = Math.max(8, top) + "px";
  }
  function hide() {
    if (tip) { tip.hidden = true; }
  }
  document.querySelectorAll("[data-heatmap]").forEach(function (wrap) {
    wrap.addEventListener("mousemove", function (e) {
      var cell = cellOf(e.target);
      if (cell) { show(cell, e.clientX, e.clientY); } else { hide(); }
    });
    wrap.addEventListener("mouseleave", hide);
    wrap.addEventListener("focusin", function (e) {
      var cell = e.target.querySelector ? e.target.querySelector(".hm-cell") : null;
      if (cell) {
        var b = cell.getBoundingClientRect();
        show(cell, b.right, b.top);
      }
    });
    wrap.addEventListener("focusout", hide);
    // Arrow keys move between cells.
    wrap.addEventListener("keydown", function (e) {
      var moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
      var m = moves[e.key];
      var cell = e.target.querySelector ? e.target.querySelector(".hm-cell") : null;
      if (!m || !cell) { return; }
      var row = Number(cell.getAttribute("data-row")) + m[0];
      var col = Number(cell.getAttribute("data-col")) + m[1];
      var next = wrap.querySelector('.hm-cell[data-row="' + row + '"][data-col="' + col + '"]');
      if (next && next.parentNode && next.parentNode.focus) {
        e.preventDefault();
        next.parentNode.focus();
      }
    });
  });
  document.addEventListener("scroll", hide, { passive: true });
})();
