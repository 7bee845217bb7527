// The audience builder's value searches ask for their own choices while the user types: their
// change events must not re-send the whole builder, nor Enter submit the audience form.
document.addEventListener(
  "change",
  function (event) {
    if (event.target.matches && event.target.matches(".value-search")) event.stopPropagation();
  },
  true,
);
document.addEventListener("keydown", function (event) {
  if (event.key !== "Enter" || !event.target.matches) return;
  if (event.target.matches(".value-search")) event.preventDefault();
  // Enter in a number, date or text value applies it to the builder rather than saving.
  if (event.target.matches(".value-input")) {
    event.preventDefault();
    event.target.dispatchEvent(new Event("change", { bubbles: true }));
  }
});
