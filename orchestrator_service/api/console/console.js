// The Chorus console's only script (CSP: script-src 'self'). A job page whose job is still
// going has data-live (its timeline) and data-events (its Server-Sent Events) on #timeline:
// each event fetches the timeline and the subtask counts; the job's last event reloads the
// page once so the outputs and totals show. Should the stream fail, poll every 2 s instead.
"use strict";
// The jobs page's counts by status (#count-<status>) follow /ui/counts every 3 s.
(function () {
  const summary = document.querySelector("[data-counts]");
  if (!summary) {
    return;
  }
  const timer = setInterval(async function () {
    try {
      const response = await fetch(summary.dataset.counts, {
        credentials: "same-origin",
        cache: "no-store",
      });
      if (!response.ok) {
        clearInterval(timer); // signed out: the next page load goes to sign-in
        return;
      }
      const counts = await response.json();
      for (const [status, count] of Object.entries(counts)) {
        const cell = document.getElementById("count-" + status);
        if (cell) {
          cell.textContent = String(count);
        }
      }
    } catch (error) {
      console.warn("counts refresh failed", error);
    }
  }, 3000);
})();
(function () {
  const box = document.getElementById("timeline");
  if (!box || !box.dataset.live) {
    return;
  }
  const url = box.dataset.live;
  const counts = document.getElementById("subtasks");
  let busy = false;
  let again = false;
  let timer = null;
  let over = false;

  function finish() {
    if (!over) {
      over = true;
      clearInterval(timer);
      window.location.reload();
    }
  }

  // One fetch at a time; events arriving meanwhile ask for one more afterwards.
  async function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) {
        clearInterval(timer);
        return;
      }
      const svg = await response.text();
      const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
      if (doc.documentElement && doc.documentElement.nodeName === "svg") {
        box.replaceChildren(document.importNode(doc.documentElement, true));
      }
      const done = response.headers.get("X-Chorus-Subtasks");
      if (counts && done) {
        counts.textContent = done;
      }
      if (response.headers.get("X-Chorus-Final") === "1") {
        finish();
      }
    } catch (error) {
      console.warn("timeline refresh failed", error);
    } finally {
      busy = false;
      if (again && !over) {
        again = false;
        refresh();
      }
    }
  }

  // The workers' text as it is written: one block per subtask (and the synthesis), set
  // as text (never parsed as HTML); a retried attempt starts its block again.
  const liveText = document.getElementById("live-text");

  function textBlock(key, label) {
    let block = document.getElementById("live-" + key);
    if (!block) {
      const empty = liveText.querySelector(".empty");
      if (empty) {
        empty.remove();
      }
      const section = document.createElement("section");
      const title = document.createElement("h3");
      title.textContent = label;
      block = document.createElement("pre");
      block.id = "live-" + key;
      block.className = "live";
      section.append(title, block);
      liveText.append(section);
    }
    return block;
  }

  function showDelta(message) {
    if (!liveText) {
      return;
    }
    const data = JSON.parse(message.data);
    const key = data.synthesis ? "synthesis" : String(data.index);
    const label = data.synthesis ? "Synthesis" : "#" + data.index;
    const block = textBlock(key, label);
    if (block.dataset.attempt !== String(data.attempt)) {
      block.dataset.attempt = String(data.attempt);
      block.textContent = "";
    }
    block.textContent += data.text;
  }

  function restartText(message) {
    const data = JSON.parse(message.data);
    const block = document.getElementById("live-" + data.index);
    if (block && block.dataset.attempt !== String(data.attempt)) {
      block.dataset.attempt = String(data.attempt);
      block.textContent = "";
    }
  }

  function poll() {
    box.dataset.stream = "polling";
    timer = setInterval(refresh, 2000);
  }

  if (!box.dataset.events || typeof EventSource !== "function") {
    poll();
    return;
  }
  const source = new EventSource(box.dataset.events);
  source.onopen = function () {
    box.dataset.stream = "open";
  };
  source.onerror = function () {
    // Also what a stream ended by the server looks like: after the job's last event the
    // page is reloading already; otherwise poll rather than trust the browser's retries.
    source.close();
    if (!over) {
      poll();
    }
  };
  for (const kind of ["planned", "subtask_started", "subtask_finished"]) {
    source.addEventListener(kind, refresh);
  }
  source.addEventListener("subtask_delta", showDelta);
  source.addEventListener("subtask_started", restartText);
  for (const kind of ["job_finished", "cancelled"]) {
    source.addEventListener(kind, function () {
      source.close();
      finish();
    });
  }
})();
