// A contacts table's header box ticks (or clears) every contact of the page.
document.addEventListener("change", function (event) {
  var box = event.target;
  if (!box.matches || !box.matches("input[data-tick-all]")) return;
  var table = box.closest("table");
  table.querySelectorAll("input[name='ids']").forEach(function (each) {
    each.checked = box.checked;
  });
});
