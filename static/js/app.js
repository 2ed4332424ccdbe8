// Small enhancements shared by every page. Pages work without this file.

// After an htmx swap that carries a "saved" message, keep it announced and readable,
// then let it fade so the next capture starts clean.
document.addEventListener("htmx:afterSwap", (event) => {
  const saved = event.detail.target.querySelector?.(".saved");
  if (saved) {
    window.setTimeout(() => saved.classList.add("fade"), 4000);
  }
});
