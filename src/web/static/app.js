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
    if (e.target.tagName !== "A") select(i);
  }));
  document.addEventListener("keydown", (e) => {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "j") { select(at + 1); e.preventDefault(); }
    else if (e.key === "k") { select(at - 1); e.preventDefault(); }
    else if ((e.key === "Enter" || e.key === "o") && at >= 0) {
      window.location.href = rows[at].dataset.href;
      e.preventDefault();
    } else if (e.key === "?") {
      document.querySelectorAll(".help").forEach((h) => h.scrollIntoView());
    }
  });
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
  if (page === "queue") setupQueue();
  if (page === "match") setupMatch();
});
