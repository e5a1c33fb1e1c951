// The Chorus playground: runs pipelines (POST /v1/pipelines/{name}:run,
// an NDJSON stream of events) and the modality services through this
// gateway's REST API. Plain JavaScript, no build step.
"use strict";

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

// ApiError carries a google.rpc.Status error body.
class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.violations = [];
    for (const d of (body && body.details) || []) {
      for (const v of d.fieldViolations || []) this.violations.push(v);
    }
  }
}

async function failure(resp) {
  let body = null;
  try { body = await resp.json(); } catch (_) { /* not JSON */ }
  return new ApiError(resp.status, body);
}

async function getJSON(path) {
  const resp = await fetch(path);
  if (!resp.ok) throw await failure(resp);
  return resp.json();
}

async function postJSON(path, body, signal) {
  const resp = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal,
  });
  if (!resp.ok) throw await failure(resp);
  return resp;
}

// ndjson yields each JSON line of a streamed response as it arrives.
async function* ndjson(resp) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line) yield JSON.parse(line);
    }
  }
  buf += decoder.decode();
  if (buf.trim()) yield JSON.parse(buf);
}

function showError(box, err) {
  box.replaceChildren(el("strong", { text: err.message }));
  if (err.violations && err.violations.length) {
    box.append(el("ul", {}, ...err.violations.map((v) => el("li", { text: `${v.field}: ${v.description}` }))));
  }
  box.hidden = false;
}

function clearError(box) {
  box.hidden = true;
  box.replaceChildren();
}

// Artifacts ----------------------------------------------------------------

const extensions = {
  "text/plain": "txt", "text/vtt": "vtt", "audio/wav": "wav", "audio/mpeg": "mp3", "image/png": "png",
  "image/jpeg": "jpg", "image/webp": "webp", "video/mp4": "mp4", "application/json": "json",
};

function baseType(mime) { return (mime || "application/octet-stream").split(";")[0].trim(); }

function base64Bytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// artifactURL returns a URL for an artifact's content: a blob URL for
// inline bytes or text, the artifact's own URI otherwise.
function artifactURL(a) {
  if (a.uri) return a.uri;
  const type = a.mimeType || "application/octet-stream";
  const blob = a.data !== undefined ? new Blob([base64Bytes(a.data)], { type }) : new Blob([a.text || ""], { type });
  return URL.createObjectURL(blob);
}

// seconds formats a proto3 JSON duration ("0.858913995s") for people.
function seconds(d) {
  if (!d) return "";
  const n = parseFloat(d);
  return Number.isFinite(n) ? `${n.toFixed(2)} s` : d;
}

function formatBytes(n) {
  n = Number(n || 0);
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}

// renderArtifact shows one artifact: a player, an image or the text, and a
// download link.
function renderArtifact(name, a) {
  const type = baseType(a.mimeType);
  const url = artifactURL(a);
  const ext = extensions[type] || "bin";
  const meta = [type, formatBytes(a.sizeBytes)];
  const m = a.metadata || {};
  if (m.durationSeconds) meta.push(`${Number(m.durationSeconds).toFixed(1)} s`);
  if (m.width && m.height) meta.push(`${m.width}×${m.height}`);
  const art = el("article", { "data-output": name }, el("h4", { text: name }));
  if (type.startsWith("audio/")) {
    art.append(el("audio", { controls: true, src: url, preload: "metadata", "aria-label": `${name} audio` }));
  } else if (type.startsWith("image/")) {
    art.append(el("img", { src: url, alt: m.sourceText || name }));
  } else if (type.startsWith("video/")) {
    art.append(el("video", { controls: true, src: url, preload: "metadata", "aria-label": `${name} video` }));
  } else if (a.text !== undefined) {
    art.append(el("pre", { text: a.text }));
  }
  art.append(el("p", { class: "meta" }, `${meta.join(" · ")} · `,
    el("a", { href: url, download: `${name}.${ext}`, text: `Download ${name}.${ext}` })));
  return art;
}

// Models, for the pickers --------------------------------------------------

const models = { text: [], image: [], audio: [] };

async function loadModels() {
  await Promise.all(Object.keys(models).map(async (m) => {
    try {
      models[m] = (await getJSON(`/v1/${m}/models`)).models || [];
    } catch (_) {
      models[m] = [];
    }
  }));
  const voices = $("#voices");
  voices.replaceChildren(...[...new Set(models.audio.flatMap((m) => m.voices || []))].map((v) => el("option", { value: v })));
  for (const m of Object.keys(models)) {
    document.body.append(el("datalist", { id: `models-${m}` }, ...models[m].map((x) => el("option", { value: x.name }))));
  }
}

// Pipelines ----------------------------------------------------------------

let pipelines = [];
let current = null; // the pipeline whose form is shown
let running = null; // the AbortController of the run in progress

async function loadPipelines() {
  const select = $("#pipeline");
  try {
    pipelines = (await getJSON("/v1/pipelines")).pipelines || [];
  } catch (err) {
    showError($("#run-error"), err);
    return;
  }
  select.replaceChildren(...pipelines.map((p) => el("option", { value: p.name, text: p.name })));
  const wanted = new URLSearchParams(location.search).get("pipeline") || "script-then-voiceover";
  if (pipelines.some((p) => p.name === wanted)) select.value = wanted;
  await showPipeline(select.value);
}

// showPipeline builds the form of a pipeline's inputs from its definition.
async function showPipeline(name) {
  const fieldset = $("#inputs");
  fieldset.replaceChildren(el("legend", { text: "Inputs" }));
  if (!name) return;
  let p;
  try {
    p = (await getJSON(`/v1/pipelines/${encodeURIComponent(name)}`)).pipeline;
  } catch (err) {
    showError($("#run-error"), err);
    return;
  }
  current = p;
  $("#pipeline-description").textContent = p.description || "";
  for (const input of p.inputs || []) {
    const id = `input-${input.name}`;
    const descId = `${id}-description`;
    const attrs = {
      id, name: input.name, required: !!input.required, placeholder: input.defaultValue || "",
      maxlength: input.maxLength || null, "aria-describedby": input.description ? descId : null,
    };
    let control;
    if (input.type === "integer" || input.type === "number" || /^-?\d+$/.test(input.defaultValue || "")) {
      control = el("input", { ...attrs, type: "number", step: 1, min: input.min, max: input.max, maxlength: null });
    } else if (["topic", "text", "prompt"].includes(input.name) || (input.maxLength || 0) >= 1000) {
      control = el("textarea", { ...attrs, rows: 2 });
    } else {
      const modality = (input.name.match(/^(text|image|audio)_model$/) || [])[1];
      const list = modality ? `models-${modality}` : (input.name === "voice" ? "voices" : null);
      control = el("input", { ...attrs, type: "text", list });
    }
    fieldset.append(el("div", { class: "field" },
      el("label", { for: id, text: input.name + (input.required ? " (required)" : "") }),
      control,
      input.description ? el("p", { class: "hint", id: descId, text: input.description }) : null));
  }
}

function stepItem(name) {
  let li = document.querySelector(`#steps li[data-step="${CSS.escape(name)}"]`);
  if (!li) {
    li = el("li", { "data-step": name, class: "state-pending" },
      el("span", { class: "name", text: name }), el("span", { class: "meta" }), el("span", { class: "state", text: "pending" }));
    $("#steps").append(li);
  }
  return li;
}

function setStep(name, state, meta) {
  const li = stepItem(name);
  li.className = `state-${state}`;
  li.querySelector(".state").textContent = state;
  if (meta !== undefined) li.querySelector(".meta").textContent = meta;
}

// stepText returns the <pre> a step's text is written into as it streams.
function stepText(name) {
  let art = document.querySelector(`#texts article[data-step="${CSS.escape(name)}"]`);
  if (!art) {
    art = el("article", { "data-step": name }, el("h4", { text: name }), el("pre", { "aria-live": "off" }));
    $("#texts").append(art);
  }
  return art.querySelector("pre");
}

async function runPipeline(ev) {
  ev.preventDefault();
  const form = $("#pipeline-form");
  const name = $("#pipeline").value;
  const errBox = $("#run-error");
  clearError(errBox);
  if (!form.reportValidity()) return;
  const inputs = {};
  for (const c of $("#inputs").querySelectorAll("input, textarea")) {
    if (c.value.trim() !== "") inputs[c.name] = c.value;
  }
  $("#steps").replaceChildren();
  // Every step of the definition, in order, until its events arrive.
  for (const s of (current && current.name === name && current.steps) || []) setStep(s.name, "pending", s.modality);
  $("#texts").replaceChildren();
  $("#outputs").replaceChildren();
  const status = $("#run-status");
  status.textContent = `Running ${name}…`;
  running = new AbortController();
  $("#run").disabled = true;
  $("#stop").disabled = false;
  const audioSegments = {};
  const started = performance.now();
  try {
    const resp = await postJSON(`/v1/pipelines/${encodeURIComponent(name)}:run`, { inputs }, running.signal);
    for await (const line of ndjson(resp)) {
      if (line.error) throw new ApiError(0, line.error);
      const e = line.result || {};
      if (e.stepStarted) {
        const s = e.stepStarted;
        setStep(s.step, "running", [s.modality, s.model].filter(Boolean).join(" · "));
      } else if (e.stepDelta) {
        const d = e.stepDelta;
        if (d.text) stepText(d.step).textContent += d.text;
        if (d.artifact) {
          audioSegments[d.step] = (audioSegments[d.step] || 0) + 1;
          const n = audioSegments[d.step];
          setStep(d.step, "running", `${baseType(d.artifact.mimeType)} · ${n} piece${n === 1 ? "" : "s"} so far`);
        }
      } else if (e.stepCompleted) {
        const c = e.stepCompleted;
        const li = stepItem(c.step);
        const meta = li.querySelector(".meta").textContent.replace(" so far", "");
        setStep(c.step, "completed", [meta, seconds(c.duration)].filter(Boolean).join(" · "));
      } else if (e.runFailed) {
        const f = e.runFailed;
        if (f.step) setStep(f.step, "failed");
        throw new ApiError(0, { message: `${f.step ? f.step + ": " : ""}${f.message} (${f.code})` });
      } else if (e.runCompleted) {
        const r = e.runCompleted;
        const outs = r.outputs || [];
        $("#outputs").replaceChildren(...outs.map((o) => renderArtifact(o.name, o.artifact || {})));
        const parts = [`Completed in ${seconds(r.duration) || ((performance.now() - started) / 1000).toFixed(2) + " s"}`];
        if (r.timeToFirstAudio) parts.push(`first audio after ${seconds(r.timeToFirstAudio)}`);
        status.textContent = `${parts.join(", ")}; ${outs.length} output${outs.length === 1 ? "" : "s"}.`;
      }
    }
  } catch (err) {
    if (err.name === "AbortError") {
      status.textContent = "Stopped.";
    } else {
      status.textContent = "The run failed.";
      showError(errBox, err);
    }
  } finally {
    running = null;
    $("#run").disabled = false;
    $("#stop").disabled = true;
  }
}

// Direct generation -----------------------------------------------------------

let modality = "text";

function selectModality(m) {
  modality = m;
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const on = tab.dataset.modality === m;
    tab.setAttribute("aria-selected", on ? "true" : "false");
    tab.tabIndex = on ? 0 : -1;
    if (on) $("#generate-form").setAttribute("aria-labelledby", tab.id);
  }
  for (const o of document.querySelectorAll(".options")) o.hidden = o.dataset.for !== m;
  const select = $("#gen-model");
  select.replaceChildren(el("option", { value: "", text: "default" }),
    ...models[m].map((x) => el("option", { value: x.name, text: `${x.name} (${x.backend})` })));
  clearError($("#generate-error"));
}

function tabKeys(ev) {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const i = tabs.indexOf(document.activeElement);
  if (i < 0) return;
  let j = null;
  if (ev.key === "ArrowRight") j = (i + 1) % tabs.length;
  else if (ev.key === "ArrowLeft") j = (i - 1 + tabs.length) % tabs.length;
  else if (ev.key === "Home") j = 0;
  else if (ev.key === "End") j = tabs.length - 1;
  if (j === null) return;
  ev.preventDefault();
  tabs[j].focus();
  selectModality(tabs[j].dataset.modality);
}

function numberField(id) {
  const v = $(id).value.trim();
  return v === "" ? undefined : Number(v);
}

async function generate(ev) {
  ev.preventDefault();
  const errBox = $("#generate-error");
  const result = $("#generate-result");
  const status = $("#generate-status");
  clearError(errBox);
  if (!$("#generate-form").reportValidity()) return;
  const req = { prompt: $("#gen-prompt").value };
  const model = $("#gen-model").value;
  if (model) req.model = model;
  if (modality === "text") {
    req.text = { maxTokens: numberField("#gen-max-tokens"), temperature: numberField("#gen-temperature") };
    const seed = $("#gen-seed").value.trim();
    if (seed !== "") req.text.seed = seed;
  } else if (modality === "image") {
    req.image = { width: numberField("#gen-width"), height: numberField("#gen-height"), count: numberField("#gen-count") };
  } else {
    req.audio = { voice: $("#gen-voice").value.trim() || undefined, speed: numberField("#gen-speed") };
  }
  $("#generate").disabled = true;
  result.replaceChildren();
  status.textContent = "Generating…";
  try {
    if (modality === "text") {
      const pre = el("pre");
      result.append(el("article", { "data-output": "text" }, el("h4", { text: "text" }), pre));
      const resp = await postJSON("/v1/text:streamGenerate", req);
      for await (const line of ndjson(resp)) {
        if (line.error) throw new ApiError(0, line.error);
        const c = line.result || {};
        if (c.delta) pre.textContent += c.delta.text || "";
        if (c.done) {
          const u = c.done.usage || {};
          status.textContent = `Done: ${u.outputTokens || 0} tokens (${c.done.model}), ${(c.done.finishReason || "").replace("FINISH_REASON_", "").toLowerCase()}.`;
        }
      }
    } else {
      const resp = await postJSON(`/v1/${modality}:generate`, req);
      const body = await resp.json();
      (body.artifacts || []).forEach((a, i) => result.append(renderArtifact(`${modality}-${i + 1}`, a)));
      status.textContent = `Done (${body.model}).`;
    }
  } catch (err) {
    status.textContent = "";
    showError(errBox, err);
  } finally {
    $("#generate").disabled = false;
  }
}

// Start ------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", async () => {
  $("#pipeline").addEventListener("change", (e) => showPipeline(e.target.value));
  $("#pipeline-form").addEventListener("submit", runPipeline);
  $("#stop").addEventListener("click", () => running && running.abort());
  $("#generate-form").addEventListener("submit", generate);
  $("#modality-tabs").addEventListener("keydown", tabKeys);
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    tab.addEventListener("click", () => selectModality(tab.dataset.modality));
  }
  await loadModels();
  selectModality("text");
  await loadPipelines();
  document.body.dataset.ready = "true";
});
