// A form that comes back with errors marks its first invalid input (or its error summary) with
// data-focus-error: focus it and scroll it to the middle of the window, clear of sticky bars.
(function () {
  function focusFirstError() {
    var target = document.querySelector("[data-focus-error]");
    if (!target || target.dataset.focused) return;
    target.dataset.focused = "1";
    target.focus({ preventScroll: true });
    target.scrollIntoView({ block: "center" });
  }
  document.addEventListener("DOMContentLoaded", focusFirstError);
  document.addEventListener("htmx:afterSettle", focusFirstError);
})();
