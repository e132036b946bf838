// The genlab playground: plain JavaScript over the REST API (no build step).
"use strict";

const $ = (id) => document.getElementById(id);
// A server with a token is opened at /?token=...: the server then sets a cookie that every later request
// (fetches, pictures, downloads) carries, so the token is taken out of the address bar and kept nowhere else.
const params = new URLSearchParams(location.search);
if (params.has("token")) history.replaceState(null, "", location.pathname);
let models = [];
let current = null;

// ---- talking to the API ------------------------------------------------------------------------
async function api(path, options = {}) {
  const response = await fetch(path, Object.assign({ credentials: "same-origin" }, options));
  let body = null;
  try { body = await response.json(); } catch (e) { body = { error: `HTTP ${response.status}` }; }
  if (!response.ok) {
    const wait = response.headers.get("Retry-After");
    throw new Error((body && body.error || `HTTP ${response.status}`) + (wait ? ` (retry in ${wait} s)` : ""));
  }
  return body;
}

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function busy(button, fn) {
  button.disabled = true;
  showError("");
  $("status").textContent = "working…";
  try { await fn(); $("status").textContent = "ready"; }
  catch (e) { showError(e.message); $("status").textContent = "ready"; }
  finally { button.disabled = false; }
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

// ---- the served models -------------------------------------------------------------------------
async function loadModels() {
  const answer = await api("/api/models");
  models = answer.models;
  const select = $("model");
  select.replaceChildren(...models.map((m) => el("option", { value: m.id, text: `${m.id} (${m.model} on ${m.data})` })));
  $("num").max = answer.limits.max_samples;
  $("task-num").max = answer.limits.max_samples;
  $("eval-examples").max = answer.limits.max_eval_examples;
  $("status").textContent = `${models.length} model(s) served`;
  select.addEventListener("change", () => choose(select.value));
  if (models.length) choose(models[0].id);
}

function choose(id) {
  current = models.find((m) => m.id === id);
  const m = current;
  const facts = {
    "family": m.family, "data": `${m.data} (${m.kind})`, "likelihood": m.likelihood,
    "parameters": m.parameters.toLocaleString(), "trained steps": m.step,
    "weights sha256": (m.weights_sha256 || "").slice(0, 16),
  };
  for (const [k, v] of Object.entries(m.metrics || {})) if (k !== "step") facts["val " + k] = typeof v === "number" ? +v.toFixed(4) : v;
  const dl = el("dl");
  for (const [k, v] of Object.entries(facts)) dl.append(el("dt", { text: k }), el("dd", { text: String(v) }));
  $("model-info").replaceChildren(dl);

  const generates = m.tasks.includes("generate");
  $("generate-panel").hidden = !generates;
  $("num").value = Math.min(m.default_num_samples, +$("num").max || 16);
  const cond = m.condition && m.condition.kind === "class";
  $("condition-label").hidden = !cond;
  if (cond) {
    const options = [el("option", { value: "", text: "each in turn" })];
    for (let k = 0; k < m.condition.num_classes; k++) options.push(el("option", { value: k, text: String(k) }));
    $("condition").replaceChildren(...options);
  }
  $("prompt-label").hidden = !("prompt" in m.sample_args);
  $("score-label").hidden = !m.scorable;
  $("score").checked = false;
  const controls = [];
  for (const [name, spec] of Object.entries(m.sample_args)) {
    if (name === "prompt") continue;
    const input = el("input", { "data-arg": name, "data-type": spec.type, placeholder: spec.default === null ? "default" : "" });
    if (spec.type === "int" || spec.type === "float") { input.type = "number"; input.step = spec.type === "int" ? "1" : "any"; }
    if (spec.default !== null) input.value = spec.default;
    controls.push(el("label", {}, name, input));
  }
  $("sample-args").replaceChildren(...controls);

  const task = m.tasks.find((t) => ["inpaint", "superres", "translate"].includes(t));
  $("task-panel").hidden = !task;
  $("task-panel").dataset.task = task || "";
  $("task-title").textContent = { inpaint: "Inpaint a picture", superres: "Enlarge a picture",
                                  translate: "Translate a picture" }[task] || "";
  $("mask-controls").hidden = task !== "inpaint";
  $("task-num-label").hidden = task !== "inpaint";
  $("interpolate-panel").hidden = !m.tasks.includes("interpolate");
  $("evaluate-panel").hidden = !m.tasks.includes("evaluate");
  $("eval-result").textContent = "";
}

// ---- generate ----------------------------------------------------------------------------------
function generateBody() {
  const body = { num: +$("num").value, seed: +$("seed").value, sample_args: {} };
  if (!$("condition-label").hidden && $("condition").value !== "") body.condition = +$("condition").value;
  if (!$("prompt-label").hidden && $("prompt").value) body.prompt = $("prompt").value;
  const firstClass = ["max_new_tokens", "temperature", "top_k", "top_p"];
  for (const input of $("sample-args").querySelectorAll("input")) {
    if (input.value === "") continue;
    const name = input.dataset.arg, type = input.dataset.type;
    const numeric = input.value.trim() !== "" && !isNaN(Number(input.value));
    const value = type === "int" || type === "float" || (type === "any" && numeric) ? Number(input.value)
      : type === "bool" ? input.value === "true" : input.value;
    const spec = current.sample_args[name];
    if (spec && String(spec.default) === input.value) continue;  // the model's default: leave it to the model
    if (firstClass.includes(name)) body[name] = value; else body.sample_args[name] = value;
  }
  body.tags = $("tags").value.split(",").map((t) => t.trim()).filter(Boolean);
  if (!$("score-label").hidden && $("score").checked) body.score = true;
  return body;
}

function showResult(answer, title) {
  const box = el("div", { class: "result" });
  box.append(el("h3", { text: `${title}: ${answer.model}, request ${answer.request} (${answer.seconds} s)` }));
  if (answer.text) box.append(el("pre", { class: "sample-text", text: answer.text }));
  for (const f of answer.files) {
    const url = f.url;
    if (f.media_type.startsWith("image/")) {
      const img = el("img", { src: url, alt: f.name, title: f.name });
      img.onload = () => { img.style.width = Math.max(256, img.naturalWidth) + "px"; };  // small grids, enlarged crisply
      box.append(img);
    }
    else if (f.media_type === "audio/wav") box.append(el("figure", {}, el("audio", { controls: "", src: url }), el("figcaption", { text: f.name })));
    else if (!answer.text || !f.name.endsWith(".txt")) box.append(el("div", {}, el("a", { href: url, download: f.name, text: `download ${f.name}` })));
  }
  if (answer.samples && answer.samples.length) box.append(el("p", { text: `registry ids: ${answer.samples.join(", ")}` }));
  if (answer.scores) {
    const info = answer.score_info || {};
    const shown = Object.entries(answer.scores).map(([k, v]) => `${k} ${+v.toPrecision(4)}`).join(", ");
    box.append(el("p", { class: "scores", text: `scores of ${info.num_samples} samples against ${info.num_test} test examples ` +
      `(features ${info.feature_net || "none"}): ${shown}` }));
  }
  for (const warning of answer.warnings || []) box.append(el("p", { class: "warning", text: warning }));
  const meta = el("details", {}, el("summary", { text: "provenance" }), el("pre", { text: JSON.stringify(answer.provenance, null, 2) }));
  box.append(meta);
  $("results").prepend(box);
}

$("generate-form").addEventListener("submit", (event) => {
  event.preventDefault();
  busy($("generate"), async () => {
    const answer = await api(`/api/models/${current.id}/generate`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(generateBody()),
    });
    showResult(answer, "generated");
  });
});

// ---- tasks on a picture: inpaint (with a drawn mask), superres, translate ------------------------
const canvas = $("mask-canvas");
const ctx = canvas.getContext("2d");
let picture = null;       // the uploaded picture, drawn under the mask
let strokes = null;       // an offscreen canvas holding the mask (white = to fill)
let drawing = false;

function redraw() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (picture) ctx.drawImage(picture, 0, 0, canvas.width, canvas.height);
  if (strokes) { ctx.globalAlpha = 0.6; ctx.drawImage(strokes, 0, 0); ctx.globalAlpha = 1; }
}

function clearMask() {
  strokes = document.createElement("canvas");
  strokes.width = canvas.width; strokes.height = canvas.height;
  const s = strokes.getContext("2d");
  s.fillStyle = "black"; s.fillRect(0, 0, strokes.width, strokes.height);
  redraw();
}

let last = null;  // the brush's last point, joined to the next by a line

function paint(event) {
  if (!drawing) return;
  const r = canvas.getBoundingClientRect();
  const x = (event.clientX - r.left) * canvas.width / r.width, y = (event.clientY - r.top) * canvas.height / r.height;
  const s = strokes.getContext("2d");
  s.strokeStyle = "white"; s.lineWidth = +$("brush").value; s.lineCap = "round";
  s.beginPath(); s.moveTo(...(last || [x, y])); s.lineTo(x, y); s.stroke();
  last = [x, y];
  redraw();
}

canvas.addEventListener("pointerdown", (e) => { drawing = true; last = null; paint(e); });
canvas.addEventListener("pointermove", paint);
window.addEventListener("pointerup", () => { drawing = false; });
$("clear-mask").addEventListener("click", clearMask);
$("task-image").addEventListener("change", () => {
  const file = $("task-image").files[0];
  if (!file) return;
  const img = new Image();
  img.onload = () => { picture = img; clearMask(); canvas.dataset.picture = file.name; };
  img.src = URL.createObjectURL(file);
});
clearMask();

function maskBlob() {
  // the drawn mask at the picture's own size, as a PNG: a pixel of the picture is to be filled if the
  // brush touched any part of it (a plain downscale would miss thin strokes on a small picture)
  const width = picture ? picture.naturalWidth : canvas.width, height = picture ? picture.naturalHeight : canvas.height;
  const out = document.createElement("canvas");
  out.width = width; out.height = height;
  const c = out.getContext("2d");
  c.drawImage(strokes, 0, 0, width, height);
  const pixels = c.getImageData(0, 0, width, height);
  const drawn = strokes.getContext("2d").getImageData(0, 0, strokes.width, strokes.height).data;
  const touched = new Uint8Array(width * height);
  for (let y = 0; y < strokes.height; y++) {
    for (let x = 0; x < strokes.width; x++) {
      if (drawn[4 * (y * strokes.width + x)] > 8) {
        touched[Math.floor(y * height / strokes.height) * width + Math.floor(x * width / strokes.width)] = 1;
      }
    }
  }
  for (let i = 0; i < touched.length; i++) {
    const v = touched[i] || pixels.data[4 * i] > 8 ? 255 : 0;
    pixels.data[4 * i] = pixels.data[4 * i + 1] = pixels.data[4 * i + 2] = v;
    pixels.data[4 * i + 3] = 255;
  }
  c.putImageData(pixels, 0, 0);
  return new Promise((resolve) => out.toBlob(resolve, "image/png"));
}

$("task-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const task = $("task-panel").dataset.task;
  busy($("run-task"), async () => {
    const file = $("task-image").files[0];
    if (!file) throw new Error("choose a picture first");
    const form = new FormData();
    form.append("image", file);
    form.append("seed", $("task-seed").value);
    if (task === "inpaint") {
      form.append("num", $("task-num").value);
      if ($("mask-kind").value) form.append("mask_kind", $("mask-kind").value);
      else if ($("mask-file").files[0]) form.append("mask", $("mask-file").files[0]);
      else form.append("mask", await maskBlob(), "mask.png");
    }
    const answer = await api(`/api/models/${current.id}/${task}`, { method: "POST", body: form });
    showResult(answer, task);
  });
});

// ---- interpolation between two pictures (models with an encoder) ---------------------------------
$("interpolate-form").addEventListener("submit", (event) => {
  event.preventDefault();
  busy($("run-interpolate"), async () => {
    const a = $("interp-a").files[0], b = $("interp-b").files[0];
    if (!a || !b) throw new Error("choose two pictures first");
    const form = new FormData();
    form.append("a", a);
    form.append("b", b);
    form.append("steps", $("interp-steps").value);
    const answer = await api(`/api/models/${current.id}/interpolate`, { method: "POST", body: form });
    answer.files = answer.files.filter((f) => f.name.endsWith("grid.png"));  // the row, not each step again
    showResult(answer, "interpolate");
  });
});

// ---- evaluate ----------------------------------------------------------------------------------
$("evaluate").addEventListener("click", () => busy($("evaluate"), async () => {
  const answer = await api(`/api/models/${current.id}/evaluate`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(Object.assign({ max_examples: +$("eval-examples").value },
                                       $("eval-split").value ? { split: $("eval-split").value } : {})),
  });
  $("eval-result").textContent = JSON.stringify(answer.result, null, 2);
}));

// ---- the registry of samples -------------------------------------------------------------------
$("samples-form").addEventListener("submit", (event) => {
  event.preventDefault();
  busy($("list-samples"), async () => {
    const q = new URLSearchParams();
    if ($("filter-run").value) q.set("run", $("filter-run").value);
    if ($("filter-tag").value) q.set("tag", $("filter-tag").value);
    if ($("filter-score").value) q.append("min_score", $("filter-score").value);
    const answer = await api("/api/samples?" + q.toString());
    const rows = answer.samples.map((s) => el("tr", {},
      el("td", {}, el("a", { href: `/api/samples/${s.id}`, target: "_blank", text: s.id })),
      s.exists === false ? el("td", { class: "missing", text: `missing: ${s.file}` })
        : el("td", {}, el("a", { href: s.url, target: "_blank", text: s.file })),
      el("td", { text: s.model || "" }), el("td", { text: s.seed ?? "" }), el("td", { text: (s.tags || []).join(", ") }),
      el("td", { text: s.scores ? JSON.stringify(s.scores) : "" }), el("td", { text: s.time || "" })));
    $("samples").querySelector("tbody").replaceChildren(...rows);
    $("status").textContent = `${rows.length} stored sample(s)`;
  });
});

// ---- nearest training examples -----------------------------------------------------------------
$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  busy($("search"), async () => {
    const file = $("search-file").files[0];
    if (!file) throw new Error("choose a picture or text file first");
    const form = new FormData();
    form.append("query", file);
    form.append("k", $("search-k").value);
    const answer = await api(`/api/models/${current.id}/search`, { method: "POST", body: form });
    const figures = answer.neighbours.map((n) => el("figure", {},
      n.url ? el("img", { src: n.url, alt: `${n.split} ${n.index}` }) : el("pre", { text: n.text || "" }),
      el("figcaption", { text: `${n.split}:${n.index} d=${n.distance.toFixed(4)}` })));
    $("search-results").replaceChildren(el("div", { class: "neighbours" }, ...figures));
  });
});

loadModels().catch((e) => { showError(e.message); $("status").textContent = "no models"; });
