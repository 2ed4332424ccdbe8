// Keyboard triage for the review screen: j/k move, e edit, s send (or mark sent), z snooze
// until tomorrow, x skip, ? shows the keys, Escape leaves the editor. Also the Copy buttons.
// Keys are ignored while typing, and with Ctrl/Alt/Meta held, so shortcuts never eat text.

const ROW = "[data-draft]";
let currentId = null;
let currentIndex = 0;

const rows = () => Array.from(document.querySelectorAll(ROW));

function current() {
  return currentId ? document.getElementById(currentId) : null;
}

function select(row, { focus = true } = {}) {
  for (const other of document.querySelectorAll(`${ROW}.is-current`)) {
    other.classList.remove("is-current");
  }
  if (!row) {
    currentId = null;
    return;
  }
  row.classList.add("is-current");
  currentId = row.id;
  currentIndex = Math.max(0, rows().indexOf(row));
  if (focus) {
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }
}

function move(step) {
  const list = rows();
  if (!list.length) return;
  const at = list.indexOf(current());
  const next = at < 0 ? 0 : Math.min(list.length - 1, Math.max(0, at + step));
  select(list[next]);
}

function press(key) {
  let row = current();
  if (!row) {
    row = rows()[0];
    select(row);
  }
  const button = row?.querySelector(`[data-key="${key}"]`);
  if (button) button.click();
}

function typing(target) {
  return (
    target instanceof HTMLElement &&
    (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))
  );
}

function showKeys() {
  const dialog = document.getElementById("keys-dialog");
  if (dialog && !dialog.open) dialog.showModal();
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "Escape") {
    const editing = event.target instanceof Element && event.target.closest("[data-editing]");
    const cancel = editing?.querySelector("[data-cancel]");
    if (cancel) {
      event.preventDefault();
      cancel.click();
    }
    return;
  }
  if (typing(event.target) || document.querySelector("dialog[open]")) return;
  const actions = { j: () => move(1), k: () => move(-1), "?": showKeys };
  for (const key of ["e", "s", "z", "x"]) actions[key] = () => press(key);
  const action = actions[event.key];
  if (action) {
    event.preventDefault();
    action();
  }
});

// After htmx swaps a row: an edited row gets its focus back (the form focuses the message);
// a row that left the queue hands the focus to the one that took its place.
document.addEventListener("htmx:afterSettle", () => {
  const row = current();
  if (row && row.matches("[data-editing]")) {
    row.classList.add("is-current");
    // The message box has autofocus; only put focus back if nothing in the editor has it.
    if (!row.contains(document.activeElement)) row.querySelector("textarea")?.focus();
    return;
  }
  if (row) {
    if (!row.contains(document.activeElement)) select(row);
    return;
  }
  const list = rows();
  if (currentId && list.length) select(list[Math.min(currentIndex, list.length - 1)]);
  else if (currentId) select(null);
});

document.addEventListener("click", async (event) => {
  const target = event.target instanceof Element ? event.target : null;
  const row = target?.closest(ROW);
  if (row && row.id !== currentId) select(row, { focus: false });
  if (target?.closest("[data-keys-help]")) showKeys();
  const copy = target?.closest("[data-copy]");
  if (!copy) return;
  const box = copy.closest(ROW);
  const subject = box?.querySelector("[data-subject]")?.textContent ?? "";
  const text = `${subject}\n\n${box?.querySelector("[data-body]")?.textContent ?? ""}`;
  try {
    await navigator.clipboard.writeText(text);
    copy.textContent = "Copied";
  } catch {
    copy.textContent = "Copy failed: select the text";
  }
  window.setTimeout(() => {
    copy.textContent = "Copy";
  }, 2000);
});

select(rows()[0], { focus: false });
