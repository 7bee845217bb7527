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
  if (event.key === "Enter" && event.target.matches && event.target.matches(".value-search")) {
    event.preventDefault();
  }
});
