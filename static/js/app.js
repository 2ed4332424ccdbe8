// Small enhancements shared by every page. Pages work without this file.

// After an htmx swap that carries a "saved" message, keep it announced and readable,
// then let it fade so the next capture starts clean.
document.addEventListener("htmx:afterSwap", (event) => {
  const saved = event.detail.target.querySelector?.(".saved");
  if (saved) {
    window.setTimeout(() => saved.classList.add("fade"), 4000);
  }
});

// An htmx request the server refused (4xx/5xx) swaps nothing (base.html's htmx-config), so
// the form stays as typed; without this the button seemed to do nothing. Say why, in the
// error page's own words (or the status), just above the form's buttons (or before the
// element that sent it), where the eye already is. Likewise when the request never left
// (no network). A later success there takes it away.
function requestErrorSpot(elt) {
  const button = elt.tagName === "FORM" ? elt.querySelector("[type=submit]") : null;
  return button && button.parentElement !== elt ? button.parentElement : button || elt;
}

function showRequestError(elt, message) {
  const spot = requestErrorSpot(elt);
  let line = spot.previousElementSibling;
  if (!line?.matches("[data-request-error]")) {
    line = document.createElement("p");
    line.className = "flash flash-error";
    line.dataset.requestError = "";
    line.setAttribute("role", "alert");
    spot.before(line);
  }
  line.textContent = message;
  line.scrollIntoView({ block: "center" }); // the buttons just below it stay in sight
}

document.addEventListener("htmx:responseError", (event) => {
  const xhr = event.detail.xhr;
  let message = "";
  if ((xhr.getResponseHeader("Content-Type") || "").includes("text/html")) {
    const page = new DOMParser().parseFromString(xhr.responseText, "text/html");
    message = page.querySelector(".error-message")?.textContent.trim() || "";
  }
  showRequestError(
    event.detail.elt,
    message || `The server answered ${xhr.status}, and nothing was saved. Try again in a moment.`,
  );
});

document.addEventListener("htmx:sendError", (event) => {
  showRequestError(
    event.detail.elt,
    "No connection, and nothing was sent. Try again once you are back online: what you typed is still here.",
  );
});

document.addEventListener("htmx:afterRequest", (event) => {
  if (event.detail.successful) {
    const before = requestErrorSpot(event.detail.elt).previousElementSibling;
    if (before?.matches("[data-request-error]")) before.remove();
  }
});
