// Review desk keyboard shortcuts and passage alignment. Served from /static/app.js:
// the Content-Security-Policy allows scripts from the desk itself only, never inline.
"use strict";

function typing(event) {
  const t = event.target;
  return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
}

function setupQueue() {
  const rows = Array.from(document.querySelectorAll("tr.match"));
  let at = -1;
  const select = (i) => {
    if (rows.length === 0) return;
    at = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach((r, j) => r.classList.toggle("selected", j === at));
    rows[at].scrollIntoView({ block: "nearest" });
  };
  rows.forEach((r, i) => r.addEventListener("click", (e) => {
    if (e.target.tagName !== "A" && e.target.tagName !== "INPUT") select(i);
  }));
  document.addEventListener("keydown", (e) => {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "j") { select(at + 1); e.preventDefault(); }
    else if (e.key === "k") { select(at - 1); e.preventDefault(); }
    else if ((e.key === "Enter" || e.key === "o") && at >= 0) {
      window.location.href = rows[at].dataset.href;
      e.preventDefault();
    } else if (e.key === "x" && at >= 0) {
      const box = rows[at].querySelector("input.pick");
      if (box) box.click();
      e.preventDefault();
    } else if (e.key === "?") {
      document.querySelectorAll(".help").forEach((h) => h.scrollIntoView());
    }
  });
}

// The queue's checkboxes belong to the selection form (their `form` attribute), so they
// submit without this script; it adds Shift-click ranges, the page's select-all box and
// the count of ticked matches.
function setupPicks() {
  const boxes = Array.from(document.querySelectorAll("input.pick"));
  const count = document.getElementById("picked-count");
  const pageBox = document.getElementById("pick-page");
  let last = -1;
  const update = () => {
    const n = boxes.filter((b) => b.checked).length;
    if (count) count.textContent = String(n);
    boxes.forEach((b) => b.closest("tr").classList.toggle("picked", b.checked));
    if (pageBox) {
      pageBox.checked = n > 0 && n === boxes.length;
      pageBox.indeterminate = n > 0 && n < boxes.length;
    }
  };
  boxes.forEach((box, i) => box.addEventListener("click", (e) => {
    // Shift-click gives every box between the last one clicked and this one this
    // one's new state, as file managers do.
    if (e.shiftKey && last >= 0 && last !== i) {
      const [from, to] = last < i ? [last, i] : [i, last];
      for (let j = from; j <= to; j++) boxes[j].checked = box.checked;
    }
    last = i;
    update();
  }));
  if (pageBox) {
    pageBox.addEventListener("click", () => {
      boxes.forEach((b) => { b.checked = pageBox.checked; });
      update();
    });
  }
  update();
}

function setupMatch() {
  const form = document.getElementById("decide-form");
  const marks = (side) => Array.from(document.querySelectorAll(side + " mark.copied"));
  const originalMarks = marks("#original");
  let current = -1;
  const show = (passage) => {
    document.querySelectorAll("mark.copied.current").forEach((m) => m.classList.remove("current"));
    ["o-", "c-"].forEach((prefix) => {
      const m = document.getElementById(prefix + passage);
      if (m) {
        m.classList.add("current");
        m.scrollIntoView({ block: "center" });
      }
    });
  };
  // Clicking a passage on one side brings its counterpart on the other side into view.
  document.querySelectorAll("mark.copied").forEach((m) =>
    m.addEventListener("click", () => show(m.dataset.passage)));
  document.addEventListener("keydown", (e) => {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey || !form) return;
    const button = form.querySelector('button[data-key="' + e.key + '"]');
    if (button) {
      e.preventDefault();
      form.requestSubmit(button);
    } else if (e.key === "n" && originalMarks.length > 0) {
      current = (current + 1) % originalMarks.length;
      show(originalMarks[current].dataset.passage);
      e.preventDefault();
    } else if (e.key === "u") {
      const back = document.getElementById("back-to-queue");
      window.location.href = back ? back.href : "/matches";
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  if (page === "queue") { setupQueue(); setupPicks(); }
  if (page === "match") setupMatch();
});
