// screend review page: a keyboard-first client of the review queue.
// State lives in the database; this page keeps only the groups it shows
// next, the reviewer's current choice and its own last decisions (for undo).
"use strict";

const REASONS = {
  no_model: "No model is trained yet: every group needs a person",
  single_image: "Only one image: never decided alone",
  low_margin: "The model could not tell the best images apart",
  crop_uncertain: "The model is unsure whether or where to crop",
  crop_too_small: "The model's crop is under 16 pixels a side: too small to cut",
  reject_uncertain: "The model is unsure whether to reject the whole group",
  unfamiliar: "Unlike anything the model has learnt from",
  conflict: "The same picture was already decided in another group",
  no_embedding: "Embedded by another embedder than the model's",
  model_error: "The model failed on this group",
  taken_back: "A decision was taken back: decide again",
};
const OUTCOMES = { select: "keep", crop: "crop", manual_crop: "crop by hand", reject: "reject" };
const PREFETCH = new URLSearchParams(location.search).get("prefetch") !== "0";
const MIN_SIDE = 0.05;

const $ = (sel) => document.querySelector(sel);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

const state = {
  csrf: "",
  queue: [],          // groups to show, the current one first
  total: 0,
  skipped: new Set(), // group ids skipped in this page
  pending: new Set(), // group ids resolved, their request maybe in flight
  done: [],           // group ids this page resolved, newest last (undo)
  choice: null,       // {imageId, reject, cropOn, box:[x1,y1,x2,y2]}
  preloaded: new Map(),
  refilling: null,
};
// Latencies from a key press to the next group shown, in ms (read by the
// benchmark and the tests).
window.screendTimings = [];
// The page's state, for the tests and the benchmark.
window.screend = { state };

// ---- requests ----------------------------------------------------------

async function api(path, body) {
  const opts = { headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    opts.method = "POST";
    opts.headers["Content-Type"] = "application/json";
    opts.headers["X-CSRF-Token"] = state.csrf;
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  let data = null;
  try { data = await res.json(); } catch (e) { /* not JSON */ }
  if (!res.ok) {
    const err = new Error((data && data.error) || res.statusText);
    err.status = res.status;
    err.conflict = !!(data && data.conflict);
    throw err;
  }
  return data;
}

const thumbURL = (id) => `/api/images/${id}/thumb`;

// ---- toast ---------------------------------------------------------------

let toastTimer = 0;
function toast(text, kind = "", ms = 4500) {
  const t = $("#toast");
  t.textContent = text;
  t.className = "toast " + kind;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, ms);
}

// ---- queue -----------------------------------------------------------------

async function refill(force) {
  if (state.refilling) return state.refilling;
  if (!force && state.queue.length >= 4) return;
  state.refilling = (async () => {
    try {
      const skip = [...state.skipped, ...state.pending].join(",");
      const data = await api(`/api/queue?limit=8&skip=${encodeURIComponent(skip)}`);
      const have = new Set(state.queue.map((g) => g.group_id));
      for (const g of data.groups) {
        if (!have.has(g.group_id) && !state.pending.has(g.group_id)) state.queue.push(g);
      }
      state.total = data.total;
      renderReadiness(data.readiness || []);
      if (state.queue.length === 0 && state.skipped.size > 0 && data.groups.length === 0 && data.total > 0) {
        // Only skipped groups are left: offer them again.
        state.skipped.clear();
        state.refilling = null;
        return refill(true);
      }
    } catch (e) {
      toast("Could not read the queue: " + e.message, "error");
    } finally {
      state.refilling = null;
    }
  })();
  return state.refilling;
}

// renderReadiness says, per kind, whether the model decides it alone or
// how many more reviews it needs (screend.model_readiness).
function renderReadiness(rows) {
  const p = $("#readiness");
  p.hidden = rows.length === 0;
  const parts = [document.createTextNode("The model learns from every decision: ")];
  rows.forEach((r, i) => {
    if (i > 0) parts.push(document.createTextNode(" · "));
    const b = el("b", "", OUTCOMES[r.kind] || r.kind);
    let text;
    if (r.automated) text = el("span", "auto", " decided alone");
    else if (r.more_reviews > 0) text = document.createTextNode(` needs about ${r.more_reviews} more reviews`);
    else if (r.more_reviews < 0) text = document.createTextNode(" not yet reliable");
    else text = document.createTextNode(" ready at the next training");
    parts.push(b, text);
  });
  p.replaceChildren(...parts);
}

function updateCount() {
  const n = Math.max(state.total - state.pending.size, state.queue.length);
  $("#queue-count").textContent = String(Math.max(n, 0));
}

// preload fetches and decodes the thumbnails of the next groups.
function preload() {
  if (!PREFETCH) return;
  for (const g of state.queue.slice(1, 4)) {
    for (const im of g.images) {
      const url = thumbURL(im.image_id);
      if (state.preloaded.has(url)) continue;
      const img = new Image();
      img.src = url;
      img.decode().catch(() => {});
      state.preloaded.set(url, img);
    }
  }
  while (state.preloaded.size > 60) {
    state.preloaded.delete(state.preloaded.keys().next().value);
  }
}

// ---- rendering ------------------------------------------------------------

function current() { return state.queue[0] || null; }

function initialChoice(g) {
  const c = { imageId: null, reject: false, cropOn: false, box: null };
  if (g.suggested_outcome === "reject") c.reject = true;
  else if (g.suggested_image_id) c.imageId = g.suggested_image_id;
  if (g.suggested_outcome === "crop" && g.suggested_crop && c.imageId) {
    c.cropOn = true;
    c.box = squareBox(g.suggested_crop);
  }
  return c;
}

// squareBox makes a box whose normalised width and height are equal (the
// image's aspect ratio), centred where the given box was.
function squareBox(b) {
  const side = Math.min(1, Math.max(MIN_SIDE, ((b[2] - b[0]) + (b[3] - b[1])) / 2));
  return clampBox([(b[0] + b[2]) / 2 - side / 2, (b[1] + b[3]) / 2 - side / 2], side);
}

function clampBox(origin, side) {
  side = Math.min(1, Math.max(MIN_SIDE, side));
  const x = Math.min(1 - side, Math.max(0, origin[0]));
  const y = Math.min(1 - side, Math.max(0, origin[1]));
  return [x, y, x + side, y + side];
}

const defaultBox = () => [0.1, 0.1, 0.9, 0.9];

let renderToken = 0;

// show renders the current group; it resolves once its images are decoded
// and painted.
async function show(t0) {
  const token = ++renderToken;
  const g = current();
  updateCount();
  $("#empty").hidden = !!g;
  $("#actions").hidden = !g;
  $("#summary").hidden = !g;
  if (!g) {
    $("#images").replaceChildren();
    state.choice = null;
    return;
  }
  state.choice = initialChoice(g);
  renderSummary(g);
  const cards = g.images.map((im, i) => card(g, im, i));
  await Promise.all(cards.map((c) => c.img.decode().catch(() => {})));
  if (token !== renderToken) return;
  $("#images").replaceChildren(...cards.map((c) => c.node));
  renderChoice();
  preload();
  if (t0 !== undefined) {
    requestAnimationFrame(() => requestAnimationFrame(() => {
      window.screendTimings.push(performance.now() - t0);
    }));
  }
  loadCompanions(g, cards);
}

function renderSummary(g) {
  const s = $("#summary");
  s.replaceChildren();
  const h = el("h1", "", `Group ${g.group_id}`);
  s.append(h, el("span", "project", g.project));
  const reasons = el("span", "reasons");
  for (const r of g.reasons) {
    const chip = el("span", "reason " + r, REASONS[r] || r.replace(/_/g, " "));
    chip.title = r;
    reasons.append(chip);
  }
  s.append(reasons);
  const sug = el("div", "suggestion");
  if (!g.suggested_outcome) {
    sug.append("No suggestion from a model: choose an image (", kbdEl("1"), "–", kbdEl(String(Math.min(9, g.images.length))), ") or reject (", kbdEl("X"), ").");
  } else {
    const idx = g.images.findIndex((im) => im.image_id === g.suggested_image_id);
    let what = g.suggested_outcome === "reject" ? "reject the whole group"
      : `keep image ${idx + 1}` + (g.suggested_outcome === "crop" ? ", cropped" : "");
    sug.append("The model suggests: ", el("b", "", what), " ");
    if (g.confidence !== null && g.confidence !== undefined) {
      const conf = el("span", "confidence");
      const meter = el("span", "meter");
      const fill = el("span");
      fill.style.width = `${Math.round(g.confidence * 100)}%`;
      meter.append(fill);
      conf.append("· confidence ", meter, ` ${g.confidence.toFixed(2)}`);
      sug.append(conf);
    }
    if (g.model_id) sug.append(` · model ${g.model_id}`);
  }
  s.append(sug);
}

function kbdEl(text) { return el("kbd", "", text); }

function card(g, im, i) {
  const node = el("article", "card");
  node.dataset.imageId = im.image_id;
  if (im.image_id === g.suggested_image_id && g.suggested_outcome !== "reject") node.classList.add("suggested");
  const frame = el("div", "frame");
  if (im.width && im.height) {
    // As wide as the card allows, as high as the window allows: the box
    // drawn over it is in the image's own coordinates.
    frame.style.width = `min(100%, calc((100vh - 330px) * ${im.width / im.height}))`;
  }
  const img = new Image();
  img.alt = im.name;
  img.draggable = false;
  img.src = thumbURL(im.image_id);
  frame.append(img);
  if (i < 9) frame.append(el("span", "badge key", String(i + 1)));
  if (node.classList.contains("suggested")) frame.append(el("span", "badge sugg", "suggested"));
  frame.addEventListener("click", (ev) => {
    if (ev.target.closest(".crop-box")) return;
    choose(i);
  });
  frame.addEventListener("dblclick", () => openFull(im));
  const meta = el("div", "meta");
  const stage = el("span", "stage", `Stage ${im.stage}`);
  const dims = im.width ? ` · ${im.width}×${im.height}` : "";
  meta.append(stage, dims + (im.bytes ? ` · ${formatBytes(im.bytes)}` : ""));
  if (im.score !== null && im.score !== undefined) meta.append(` · score ${im.score.toFixed(2)}`);
  const name = el("code", "name", (im.folder && im.folder !== g.project ? im.folder + "/" : "") + im.name);
  meta.append(name);
  const comp = el("div", "companions");
  node.append(frame, meta, comp);
  return { node, img, frame, comp, im };
}

async function loadCompanions(g, cards) {
  for (const c of cards) {
    try {
      const list = await api(`/api/images/${c.im.image_id}/companions`);
      if (current() !== g || !list.length) continue;
      const d = el("details");
      d.append(el("summary", "", list.map((x) => x.name.slice(x.name.lastIndexOf("."))).join(", ")));
      for (const x of list) {
        d.append(el("h4", "", x.name), el("pre", "", x.text));
      }
      c.comp.replaceChildren(d);
    } catch (e) { /* companions are optional */ }
  }
}

function formatBytes(n) {
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MB";
  if (n >= 1 << 10) return Math.round(n / (1 << 10)) + " kB";
  return n + " B";
}

// renderChoice marks the chosen image and draws the crop box on it (or the
// model's suggested crop, dashed, while crop is off).
function renderChoice() {
  const g = current();
  const c = state.choice;
  if (!g || !c) return;
  for (const node of document.querySelectorAll(".card")) {
    const id = Number(node.dataset.imageId);
    node.classList.toggle("chosen", id === c.imageId);
    node.classList.toggle("rejected", c.reject);
    node.querySelector(".crop-box")?.remove();
    node.querySelector(".badge.pick")?.remove();
    if (id === c.imageId && !c.reject) {
      node.querySelector(".frame").append(el("span", "badge pick", c.cropOn ? "keep, cropped" : "keep"));
    }
    if (id === c.imageId && c.cropOn && c.box) {
      node.querySelector(".frame").append(cropBox(c.box, false));
    } else if (id === g.suggested_image_id && g.suggested_outcome === "crop" && g.suggested_crop && !(c.cropOn && id === c.imageId)) {
      node.querySelector(".frame").append(cropBox(g.suggested_crop, true));
    }
  }
  let what = "the suggestion";
  if (c.reject) what = "nothing: reject";
  else if (c.imageId) {
    const idx = g.images.findIndex((im) => im.image_id === c.imageId);
    what = `image ${idx + 1}` + (c.cropOn ? ", cropped" : "");
  } else what = "… (choose first)";
  $("#accept-what").textContent = what;
}

function cropBox(b, suggestedOnly) {
  const box = el("div", "crop-box" + (suggestedOnly ? " suggested-only" : ""));
  box.style.left = `${b[0] * 100}%`;
  box.style.top = `${b[1] * 100}%`;
  box.style.width = `${(b[2] - b[0]) * 100}%`;
  box.style.height = `${(b[3] - b[1]) * 100}%`;
  if (suggestedOnly) {
    box.title = "the model's suggested crop (press C to use it)";
    return box;
  }
  const handle = el("span", "handle");
  box.append(handle);
  box.addEventListener("pointerdown", (ev) => dragBox(ev, box, ev.target === handle));
  return box;
}

// dragBox moves the box, or resizes it from its corner with the aspect
// ratio locked (normalised width = height).
function dragBox(ev, box, resize) {
  ev.preventDefault();
  const frame = box.parentElement;
  const rect = frame.getBoundingClientRect();
  const start = state.choice.box.slice();
  const x0 = ev.clientX, y0 = ev.clientY;
  box.setPointerCapture(ev.pointerId);
  const move = (e) => {
    const dx = (e.clientX - x0) / rect.width, dy = (e.clientY - y0) / rect.height;
    if (resize) {
      const side = (start[2] - start[0]) + Math.max(dx, dy);
      const maxSide = Math.min(1 - start[0], 1 - start[1]);
      const s = Math.min(maxSide, Math.max(MIN_SIDE, side));
      state.choice.box = [start[0], start[1], start[0] + s, start[1] + s];
    } else {
      state.choice.box = clampBox([start[0] + dx, start[1] + dy], start[2] - start[0]);
    }
    placeBox(box, state.choice.box);
  };
  const up = () => {
    box.removeEventListener("pointermove", move);
    box.removeEventListener("pointerup", up);
    box.removeEventListener("pointercancel", up);
  };
  box.addEventListener("pointermove", move);
  box.addEventListener("pointerup", up);
  box.addEventListener("pointercancel", up);
}

function placeBox(box, b) {
  box.style.left = `${b[0] * 100}%`;
  box.style.top = `${b[1] * 100}%`;
  box.style.width = `${(b[2] - b[0]) * 100}%`;
  box.style.height = `${(b[3] - b[1]) * 100}%`;
}

// ---- actions -----------------------------------------------------------------

function choose(i) {
  const g = current();
  if (!g || i >= g.images.length) return;
  const c = state.choice;
  c.imageId = g.images[i].image_id;
  c.reject = false;
  renderChoice();
}

function toggleCrop() {
  const g = current();
  const c = state.choice;
  if (!g || !c) return;
  if (!c.imageId) {
    toast("Choose an image first (1–9).", "warn");
    return;
  }
  c.cropOn = !c.cropOn;
  if (c.cropOn && !c.box) {
    c.box = g.suggested_outcome === "crop" && g.suggested_crop ? squareBox(g.suggested_crop) : defaultBox();
  }
  renderChoice();
}

function nudge(dx, dy, grow) {
  const c = state.choice;
  if (!c || !c.cropOn || !c.box) return false;
  const side = c.box[2] - c.box[0];
  if (grow) {
    const s = Math.min(1, Math.max(MIN_SIDE, side + grow));
    c.box = clampBox([c.box[0] - (s - side) / 2, c.box[1] - (s - side) / 2], s);
  } else {
    c.box = clampBox([c.box[0] + dx, c.box[1] + dy], side);
  }
  const box = document.querySelector(".card.chosen .crop-box");
  if (box) placeBox(box, c.box);
  return true;
}

// decide sends a decision for the current group and shows the next group
// at once; the answer only matters if the decision was refused.
function decide(kind, t0) {
  const g = current();
  const c = state.choice;
  if (!g || !c) return;
  const body = { group_id: g.group_id };
  if (kind === "reject" || (kind === "accept" && c.reject)) {
    body.reject = true;
  } else {
    if (!c.imageId) {
      toast("No suggestion here: choose an image with 1–9, or reject with X.", "warn");
      return;
    }
    body.image_id = c.imageId;
    if (kind === "manual") body.manual_crop = true;
    else if (c.cropOn && c.box) body.crop = c.box.map((v) => Math.round(v * 1e6) / 1e6);
  }
  state.pending.add(g.group_id);
  state.queue.shift();
  state.total = Math.max(0, state.total - 1);
  show(t0);
  refill();
  api("/api/resolve", body).then(() => {
    state.done.push(g.group_id);
  }).catch((e) => {
    state.pending.delete(g.group_id);
    if (e.conflict) {
      toast(e.message + " Here is the next group.", "warn", 6000);
    } else {
      toast(`Group ${g.group_id} was not decided: ${e.message}`, "error", 7000);
      state.queue.unshift(g);
      show();
    }
  });
}

function skip(t0) {
  const g = current();
  if (!g) return;
  state.skipped.add(g.group_id);
  state.queue.shift();
  show(t0);
  refill();
}

// undoLast takes back the last decision made on this page and shows the
// group again once its files are back.
async function undoLast() {
  const id = state.done.pop();
  if (id === undefined) {
    toast("Nothing to undo on this page yet. Older decisions: History (H).", "warn");
    return;
  }
  await takeBack(id, true);
}

async function takeBack(groupId, reviewNow) {
  try {
    let st = await api("/api/undo", { group_id: groupId });
    toast(`Taking back group ${groupId}: moving its files back…`, "", 20000);
    const deadline = Date.now() + 60000;
    while (st.state !== "done" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      st = await api(`/api/takebacks/${st.take_back_id}`);
    }
    if (st.state !== "done") {
      toast(`Group ${groupId}: the daemon has not moved the files back yet; it will.`, "warn");
      return;
    }
    const left = st.left.length ? ` ${st.left.length} file(s) changed since were left where they are: ${st.left.map((n) => n.path).join(", ")}` : "";
    toast(`Group ${groupId} is back in the queue.${left}`, left ? "warn" : "ok", left ? 10000 : 4000);
    state.pending.delete(groupId);
    if (reviewNow) await reviewGroup(groupId);
    return st;
  } catch (e) {
    toast(`Group ${groupId} could not be taken back: ${e.message}`, "error", 7000);
  }
}

// reviewGroup puts a group waiting for review in front and shows it.
async function reviewGroup(groupId) {
  try {
    const g = await api(`/api/groups/${groupId}`);
    state.queue = [g, ...state.queue.filter((x) => x.group_id !== groupId)];
    state.skipped.delete(groupId);
    state.total += 1;
    route("queue");
    await show();
  } catch (e) {
    toast(e.message, "warn");
  }
}

function openFull(im) {
  const g = current();
  if (!im && g) {
    const id = state.choice && state.choice.imageId;
    im = g.images.find((x) => x.image_id === id) || g.images[0];
  }
  if (!im) return;
  $("#full-name").textContent = `${im.name} · ${im.width}×${im.height}`;
  $("#full-img").src = `/api/images/${im.image_id}/full`;
  $("#full").hidden = false;
}

function closeOverlays() {
  let closed = !$("#full").hidden || !$("#help").hidden;
  $("#full").hidden = true;
  $("#full-img").removeAttribute("src");
  $("#help").hidden = true;
  return closed;
}

// ---- keys ------------------------------------------------------------------

document.addEventListener("keydown", (ev) => {
  if (ev.target.closest && ev.target.closest("input, select, textarea")) return;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const t0 = performance.now();
  const k = ev.key;
  if (k === "Escape") { closeOverlays(); return; }
  if (k === "?") { $("#help").hidden = !$("#help").hidden; return; }
  if (!$("#full").hidden && (k === "f" || k === "F")) { closeOverlays(); return; }
  if (!$("#help").hidden || !$("#full").hidden) return;
  if (k === "h" || k === "H") { location.hash = location.hash === "#history" ? "" : "#history"; return; }
  if ($("#queue-view").hidden) return;
  const step = ev.shiftKey ? 0.05 : 0.01;
  let handled = true;
  switch (k) {
    case "Enter": case " ": decide("accept", t0); break;
    case "x": case "X": case "Delete": decide("reject", t0); break;
    case "m": case "M": decide("manual", t0); break;
    case "s": case "S": skip(t0); break;
    case "u": case "U": case "z": case "Z": undoLast(); break;
    case "c": case "C": toggleCrop(); break;
    case "f": case "F": openFull(); break;
    case "ArrowLeft": handled = nudge(-step, 0); break;
    case "ArrowRight": handled = nudge(step, 0); break;
    case "ArrowUp": handled = nudge(0, -step); break;
    case "ArrowDown": handled = nudge(0, step); break;
    case "+": case "=": handled = nudge(0, 0, ev.shiftKey ? 0.05 : 0.02); break;
    case "-": case "_": handled = nudge(0, 0, ev.shiftKey ? -0.05 : -0.02); break;
    default:
      if (/^[1-9]$/.test(k)) choose(Number(k) - 1);
      else handled = false;
  }
  if (handled) ev.preventDefault();
});

for (const b of document.querySelectorAll("#actions button")) {
  b.addEventListener("click", () => {
    const t0 = performance.now();
    switch (b.dataset.act) {
      case "accept": decide("accept", t0); break;
      case "reject": decide("reject", t0); break;
      case "manual": decide("manual", t0); break;
      case "skip": skip(t0); break;
      case "undo": undoLast(); break;
      case "crop": toggleCrop(); break;
      case "full": openFull(); break;
    }
    b.blur();
  });
}
$("#help-button").addEventListener("click", () => { $("#help").hidden = false; });
$("#full").addEventListener("click", (e) => { if (e.target.id !== "full-img") closeOverlays(); });
$("#help").addEventListener("click", () => closeOverlays());

// ---- history -------------------------------------------------------------------

async function loadHistory() {
  const form = $("#filters");
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (v !== "") params.set(k, v);
  let data;
  try {
    data = await api(`/api/history?${params}`);
  } catch (e) {
    toast("Could not read the history: " + e.message, "error");
    return;
  }
  fillSelect(form.elements.project, data.projects, (p) => p);
  fillSelect(form.elements.model, data.models, (m) => `model ${m}`);
  const body = $("#history tbody");
  body.replaceChildren(...data.groups.map(historyRow));
  $("#history-empty").hidden = data.groups.length > 0;
}

function fillSelect(sel, values, label) {
  const keep = sel.value;
  const first = sel.options[0];
  sel.replaceChildren(first, ...values.map((v) => {
    const o = el("option", "", label(v));
    o.value = String(v);
    return o;
  }));
  sel.value = keep;
}

function historyRow(h) {
  const tr = el("tr");
  tr.dataset.groupId = h.group_id;
  const g = el("td");
  g.append(el("b", "", `#${h.group_id}`), el("div", "muted", h.project));
  const thumbs = el("td");
  const strip = el("div", "thumbs");
  for (const im of h.images || []) {
    const img = new Image();
    img.src = `${thumbURL(im.image_id)}?size=small`;
    img.alt = im.path.split("/").pop();
    img.title = `stage ${im.stage}: ${img.alt}`;
    img.loading = "lazy";
    if (im.image_id === h.chosen_image_id) img.className = "kept";
    strip.append(img);
  }
  thumbs.append(strip);
  const dec = el("td");
  dec.append(el("span", "outcome " + h.outcome, OUTCOMES[h.outcome] || h.outcome));
  if (h.chosen_image_id) {
    const idx = (h.images || []).findIndex((im) => im.image_id === h.chosen_image_id);
    dec.append(` image ${idx + 1}`);
  }
  if (h.crop) dec.append(el("div", "muted", `box ${h.crop.map((v) => v.toFixed(2)).join(", ")}`));
  if (!h.automatic && h.suggested_outcome) {
    const si = (h.images || []).findIndex((im) => im.image_id === h.suggested_image_id);
    const agreed = h.suggested_outcome === (h.outcome === "manual_crop" ? "crop" : h.outcome) && si >= 0 === !!h.chosen_image_id
      && (h.suggested_image_id || null) === (h.chosen_image_id || null);
    dec.append(el("div", "muted", `model: ${OUTCOMES[h.suggested_outcome]}${si >= 0 ? " image " + (si + 1) : ""}${agreed ? " (agreed)" : ""}`));
  }
  if (h.correction_of) dec.append(el("span", "tag correction", "correction"));
  const by = el("td");
  by.append(h.automatic ? el("span", "tag auto", "model") : document.createTextNode(h.decided_by));
  if (h.model_id) by.append(el("div", "muted", `model ${h.model_id}`));
  const conf = el("td", "", h.confidence === null || h.confidence === undefined ? "–" : h.confidence.toFixed(2));
  const when = el("td", "muted", new Date(h.decided_at).toLocaleString());
  const act = el("td");
  const btn = el("button", "", h.take_back_state ? "taking back…" : "Take back");
  btn.disabled = !!h.take_back_state;
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    btn.textContent = "taking back…";
    const st = await takeBack(h.group_id, false);
    if (st) {
      btn.textContent = "Review now";
      btn.disabled = false;
      btn.onclick = () => reviewGroup(h.group_id);
    } else {
      btn.textContent = "Take back";
      btn.disabled = false;
    }
  }, { once: true });
  act.append(btn);
  tr.append(g, thumbs, dec, by, conf, when, act);
  return tr;
}

$("#filters").addEventListener("change", loadHistory);
$("#filters").addEventListener("submit", (e) => { e.preventDefault(); loadHistory(); });

// ---- routing and start -------------------------------------------------------------

function route(view) {
  const past = view === "history";
  $("#queue-view").hidden = past;
  $("#history-view").hidden = !past;
  $("#nav-queue").classList.toggle("active", !past);
  $("#nav-history").classList.toggle("active", past);
  if (!past && location.hash === "#history") window.history.replaceState(null, "", "#");
}

window.addEventListener("hashchange", () => {
  if (location.hash === "#history") {
    route("history");
    loadHistory();
  } else {
    route("queue");
    refill(true).then(() => { if (!document.querySelector(".card")) show(); });
  }
});

async function start() {
  try {
    const s = await api("/api/session");
    state.csrf = s.csrf;
    $("#who").textContent = `reviewing as ${s.reviewer}`;
  } catch (e) {
    toast("Could not start a session: " + e.message, "error", 60000);
    return;
  }
  await refill(true);
  const m = location.hash.match(/^#group=(\d+)$/);
  if (m) await reviewGroup(Number(m[1]));
  if (location.hash === "#history") {
    route("history");
    loadHistory();
    show();
  } else {
    route("queue");
    await show();
  }
  document.body.dataset.ready = "1";
  // New groups arrive while the page is open.
  setInterval(() => { if (!$("#queue-view").hidden) refill(true).then(() => { updateCount(); if (!current()) show(); }); }, 5000);
}
start();
