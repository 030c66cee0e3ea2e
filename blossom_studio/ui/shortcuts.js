// Review tab keyboard shortcuts: each key clicks a Review button by its elem_id (listed in ui/review_tab.py).
// Attached once per page (a window flag), on the document, so Gradio re-rendering components does not matter.
(() => {
  if (window.__blossomReviewShortcuts) return;
  window.__blossomReviewShortcuts = true;

  const KEYS = {
    "1": "review-choose-1", "2": "review-choose-2", "3": "review-choose-3", "4": "review-choose-4",
    "0": "review-tie", "x": "review-both-bad", "a": "review-accept", "r": "review-reject",
    "u": "review-undo", "j": "review-next", "k": "review-prev",
  };
  const HELP = [
    ["1 2 3 4", "choose answer A B C D"], ["0", "tie"], ["x", "both bad"], ["a", "accept the judge"],
    ["r", "reject the sample"], ["e", "edit the answer"], ["u", "undo my last decision"],
    ["j / k", "next / previous item"], ["?", "show or hide this help"],
  ];

  const shown = (element) => element !== null && element.offsetParent !== null;

  function button(id) {
    const element = document.getElementById(id);
    if (element === null) return null;
    return element.tagName === "BUTTON" ? element : element.querySelector("button");
  }

  function typing(target) {
    if (!(target instanceof Element)) return false;
    if (target.isContentEditable || target.closest("[contenteditable]:not([contenteditable='false'])")) return true;
    return ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
  }

  function toggleHelp(force) {
    let box = document.getElementById("review-help-overlay");
    if (box === null) {
      box = document.createElement("div");
      box.id = "review-help-overlay";
      box.setAttribute("role", "dialog");
      box.style.cssText = "position:fixed;right:1.5rem;bottom:1.5rem;z-index:1000;padding:1rem 1.25rem;" +
        "background:var(--background-fill-primary,#fff);color:var(--body-text-color,#111);" +
        "border:1px solid var(--border-color-primary,#ccc);border-radius:8px;box-shadow:0 4px 16px rgba(0,0,0,.2);" +
        "font-size:14px;line-height:1.7;display:none";
      const title = document.createElement("strong");
      title.textContent = "Review shortcuts";
      box.appendChild(title);
      for (const [keys, what] of HELP) {
        const line = document.createElement("div");
        const code = document.createElement("kbd");
        code.textContent = keys;
        line.append(code, " " + what);
        box.appendChild(line);
      }
      document.body.appendChild(box);
    }
    const open = force === undefined ? box.style.display === "none" : force;
    box.style.display = open ? "block" : "none";
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.isComposing || event.ctrlKey || event.altKey || event.metaKey) return;
    if (typing(event.target)) return;
    if (!shown(document.getElementById("review-root"))) return;  // another tab is open
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (key === "?") {
      toggleHelp();
    } else if (key === "Escape") {
      toggleHelp(false);
      return;
    } else if (key === "e") {
      const box = document.querySelector("#review-edit-text textarea");
      if (!shown(box)) return;
      box.focus();
    } else {
      const target = KEYS[key] ? button(KEYS[key]) : null;
      if (target === null || !shown(target) || target.disabled) return;
      target.click();
    }
    event.preventDefault();
  });
})();
