// Small behaviours of every page; each page works without them.
(function () {
  // A form that comes back with errors marks its first invalid input (or its error summary)
  // with data-focus-error: focus it and scroll it to the middle of the window, clear of sticky
  // bars.
  function focusFirstError() {
    var target = document.querySelector("[data-focus-error]");
    if (!target || target.dataset.focused) return;
    target.dataset.focused = "1";
    target.focus({ preventScroll: true });
    target.scrollIntoView({ block: "center" });
  }

  // A table wider than its box scrolls sideways: keyboard users reach it with Tab.
  function focusableScrollingTables() {
    document.querySelectorAll("table.table").forEach(function (table) {
      if (table.scrollWidth > table.clientWidth + 1) {
        table.setAttribute("tabindex", "0");
      } else if (table.getAttribute("tabindex") === "0") {
        table.removeAttribute("tabindex");
      }
    });
  }

  function settle() {
    focusFirstError();
    focusableScrollingTables();
  }
  document.addEventListener("DOMContentLoaded", settle);
  document.addEventListener("htmx:afterSettle", settle);
  window.addEventListener("resize", focusableScrollingTables);
})();
