// The page's behaviour: same-origin fetches to the api's /v1 routes (nginx sends /v1 to the
// api and everything else here). No framework, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const dataset = () => encodeURIComponent($("dataset").value.trim() || "docs");

async function call(path, options) {
  const resp = await fetch(path, options);
  let body = null;
  try {
    body = await resp.json();
  } catch (err) {
    body = null;
  }
  if (!resp.ok) {
    const why = body && (body.message || body.error) ? body.message || body.error : resp.statusText;
    throw new Error(`${resp.status} ${why}`);
  }
  return body;
}

async function health() {
  try {
    const body = await call("/v1/health");
    $("health").textContent = `api: ${body.status}`;
  } catch (err) {
    $("health").textContent = `api: ${err.message}`;
  }
}

async function waitIndexed(id) {
  for (let i = 0; i < 240; i++) {
    const doc = await call(`/v1/datasets/${dataset()}/documents/${encodeURIComponent(id)}`);
    $("ingest-status").textContent = `document ${id}: ${doc.status}`;
    $("ingest-status").dataset.status = doc.status;
    if (doc.status === "completed" || doc.status === "error") {
      return doc;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`document ${id} was not indexed in time`);
}

$("ingest-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const status = $("ingest-status");
  status.dataset.status = "sending";
  status.textContent = "sending…";
  try {
    const body = await call(`/v1/datasets/${dataset()}/documents`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text: $("ingest-text").value }),
    });
    status.dataset.id = body.id;
    await waitIndexed(body.id);
  } catch (err) {
    status.dataset.status = "failed";
    status.textContent = `failed: ${err.message}`;
  }
});

$("search-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const list = $("results");
  const status = $("search-status");
  list.replaceChildren();
  status.textContent = "searching…";
  try {
    const q = encodeURIComponent($("search-query").value);
    const body = await call(`/v1/datasets/${dataset()}/search?q=${q}&top_k=5`);
    for (const hit of body.results) {
      const item = document.createElement("li");
      item.className = "result";
      item.dataset.documentId = hit.document_id;
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = hit.text;
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = hit.score.toFixed(3);
      item.append(text, score);
      list.append(item);
    }
    status.textContent = `${body.results.length} result(s)`;
  } catch (err) {
    status.textContent = `failed: ${err.message}`;
  }
});

health();
