"use strict";
// The dashboard: plain JavaScript over the node's own API; no library, nothing from the internet.
const V2 = "/spacemesh.v2alpha1.";
const V1 = "/spacemesh.v1.";
const SMIDGE_PER_SMH = 1000000000n;
const state = { hrp: "sm", unitBytes: 0, minUnits: 1, maxUnits: 1, labelsPerUnit: 0, rate: null, wallet: null };
const $ = (id) => document.getElementById(id);

function authHeaders() {
  const token = localStorage.getItem("spacemesh_token");
  return token ? { Authorization: "Bearer " + token } : {};
}

// The token is kept the two ways the node accepts it: the Authorization header (fetch, from
// localStorage) and the spacemesh_token cookie (what the browser sends with the event stream).
function storeToken(token) {
  localStorage.setItem("spacemesh_token", token);
  document.cookie = "spacemesh_token=" + encodeURIComponent(token) + "; SameSite=Strict; path=/; max-age=31536000";
}

// While the node refuses our token (or wants one), API calls wait here until the user pastes it.
let tokenWait = null;
let tokenGiven = null;

function askToken(reason) {
  $("token-reason").textContent = reason || "";
  $("token-box").classList.remove("hidden");
  $("token-input").focus();
  if (!tokenWait) tokenWait = new Promise((resolve) => { tokenGiven = resolve; });
  return tokenWait;
}

function saveToken() {
  const token = $("token-input").value.trim();
  if (!token) return;
  storeToken(token);
  $("token-input").value = "";
  $("token-box").classList.add("hidden");
  const resolve = tokenGiven;
  tokenWait = null; tokenGiven = null;
  if (resolve) resolve();
}

async function call(path, body, method) {
  for (;;) {
    const init = { method: method || "POST", headers: authHeaders() };
    if (init.method === "POST") {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body || {});
    }
    const response = await fetch(path, init);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (response.status === 401) {  // no token, or a wrong one: ask for it, then try again
      await askToken(data && data.reason);
      continue;
    }
    if (!response.ok) {
      const err = new Error((data && data.reason) || ("HTTP " + response.status));
      err.status = response.status; err.data = data;
      throw err;
    }
    return data;
  }
}

function smh(smidgeText) {
  const v = BigInt(smidgeText || "0");
  const whole = v / SMIDGE_PER_SMH, frac = (v % SMIDGE_PER_SMH).toString().padStart(9, "0").replace(/0+$/, "");
  return whole.toString() + (frac ? "." + frac : "") + " SMH";
}

function bytesText(n) {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let i = 0; let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i ? v.toFixed(1) : v.toString()) + " " + units[i];
}

function durationText(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "unknown";
  if (seconds < 60) return Math.max(1, Math.round(seconds)) + " seconds";
  if (seconds < 3600) return Math.round(seconds / 60) + " minutes";
  if (seconds < 86400 * 2) return (seconds / 3600).toFixed(1) + " hours";
  return (seconds / 86400).toFixed(1) + " days";
}

// ---- first-run wizard -----------------------------------------------------------------------

function wantedUnits() {
  const amount = Number($("wiz-space").value);
  const unit = $("wiz-space-unit").value;
  if (!(amount > 0)) return 0;
  if (unit === "units") return Math.floor(amount);
  const bytes = amount * (unit === "GiB" ? 1024 ** 3 : 1024 ** 2);
  return Math.floor(bytes / state.unitBytes);
}

function showSize() {
  const units = wantedUnits();
  const ok = units >= state.minUnits && units <= state.maxUnits;
  $("wiz-size").textContent = units + " space units = " + bytesText(units * state.unitBytes) +
    (ok ? "" : " (choose between " + state.minUnits + " and " + state.maxUnits + " units)");
  $("wiz-size").className = ok ? "muted" : "error";
  if (state.rate) showEstimate();
  return ok;
}

function showEstimate() {
  const labels = wantedUnits() * state.labelsPerUnit;
  $("wiz-estimate-out").textContent = "This computer prepares about " + Math.round(state.rate).toLocaleString() +
    " labels per second, so preparing the data takes about " + durationText(labels / state.rate) + ".";
}

async function checkFolder() {
  const path = $("wiz-folder").value.trim();
  try {
    const info = await call("/api/v1/post/folder?path=" + encodeURIComponent(path), null, "GET");
    $("wiz-folder-info").textContent = (info.writable ? "OK: " : "Cannot write there. ") +
      bytesText(info.freeBytes) + " free" + (info.hasPostData ? "; data is already there and will be resumed" : "");
    $("wiz-folder-info").className = info.writable ? "ok" : "error";
  } catch (e) { $("wiz-folder-info").textContent = e.message; $("wiz-folder-info").className = "error"; }
}

async function estimate() {
  $("wiz-estimate-out").textContent = "Measuring this computer's speed…";
  try {
    const probe = await call("/api/v1/post/probe", { seconds: 0.3 });
    state.rate = probe.labelsPerSecond;
    showEstimate();
  } catch (e) { $("wiz-estimate-out").textContent = e.message; }
}

async function startSmeshing() {
  if (!showSize()) return;
  $("wiz-message").textContent = "Starting…";
  try {
    await call(V1 + "SmesherService/StartSmeshing",
               { opts: { dataDir: $("wiz-folder").value.trim(), numUnits: wantedUnits() } });
    $("wiz-message").textContent = "Started. You can follow the progress under Smeshing status.";
    $("wiz-message").className = "ok";
  } catch (e) { $("wiz-message").textContent = "Could not start: " + e.message; $("wiz-message").className = "error"; }
}

// ---- smeshing status ------------------------------------------------------------------------

const STATE_WORDS = {
  STATE_NOT_STARTED: "Not started yet. Use Start smeshing to begin.",
  STATE_IN_PROGRESS: "Preparing your data…",
  STATE_COMPLETE: "Your data is ready.",
  STATE_STOPPED: "Paused. Start again to continue where it stopped.",
  STATE_ERROR: "Something went wrong while preparing the data.",
  NO_SMESHING: "This node does not smesh: its plugin bundle has no smeshing plugin.",
};

async function refreshSmeshing() {
  const o = await call("/api/v1/smeshing/overview", {});
  const s = o.postSetup || { state: "NO_SMESHING" };
  const done = Number(s.numLabelsWritten || 0), total = Number(s.numLabelsTotal || 0);
  const pct = total ? Math.min(100, (100 * done) / total) : (s.state === "STATE_COMPLETE" ? 100 : 0);
  $("post-state").textContent = (STATE_WORDS[s.state] || s.state) + (s.error ? " " + s.error : "");
  $("post-state").dataset.state = s.state;
  $("post-bar").style.width = pct.toFixed(1) + "%";
  $("post-bar").dataset.done = String(done);
  $("post-detail").textContent = total ? (pct.toFixed(1) + "% (" + done.toLocaleString() + " of " +
    total.toLocaleString() + " labels)" + (s.secondsLeft ? ", about " + durationText(s.secondsLeft) + " left" : "")) : "";
  showStopButton(s.state, o.isSmeshing);
  const poet = o.poet;
  $("poet-line").textContent = poet.servers.length ? ("Next proof-of-time round (" + poet.openRound +
    ") closes registration in " + durationText(poet.secondsToDeadline) + ".") : "Proof of time: no PoET server is configured.";
  const last = o.lastAtx ? ("Your last activation was published for epoch " + o.lastAtx.publishEpoch +
    " with " + o.lastAtx.numUnits + " space units.") : "";
  // what keeps this node from publishing activations comes first, in the node's own words
  $("atx-line").textContent = o.activationProblem ? (o.activationProblem + (last ? " " + last : "")) :
    (last || (o.atxBuilder ? "No activation published yet." : "No activations: this node does not smesh."));
  $("atx-line").className = o.activationProblem ? "error" : "";
  $("elig-line").textContent = o.eligibilities ? eligibilityText(o.eligibilities) :
    "Upcoming chances to earn: " + o.eligibilitiesReason + ".";
  $("elig-line").dataset.layers = o.eligibilities ? o.eligibilities.map((e) => e.layer).join(",") : "";
}

// One button stops whatever runs: while the data is prepared it pauses that (resumable); once the data
// is ready it stops smeshing itself (no more activations, so no more rewards, until started again).
function showStopButton(setupState, running) {
  const button = $("smesh-stop");
  const ready = setupState === "STATE_COMPLETE";
  button.textContent = ready ? "Stop smeshing" : "Pause data preparation";
  button.dataset.action = ready ? "stop" : "pause";
  button.disabled = !running;
  const help = !running ? "Nothing runs now: use Start smeshing to begin or continue." : ready ?
    "Stops building activations: this node stops earning rewards until you start again. Your data stays on disk." :
    "Pauses preparing the data; start again to continue where it stopped.";
  button.title = help;
  $("smesh-stop-help").textContent = help;
}

function listText(words) {
  return words.length < 2 ? words.join("") : words.slice(0, -1).join(", ") + " and " + words[words.length - 1];
}

// [{layer: 1234, count: 1}, {layer: 1240, count: 2}] -> "You will propose in layers 1234 and 1240 (twice)."
function eligibilityText(eligibilities) {
  const words = eligibilities.map((e) => e.layer + (e.count > 1 ? (e.count === 2 ? " (twice)" : " (" + e.count +
    " times)") : ""));
  return "You will propose in layer" + (eligibilities.length > 1 ? "s " : " ") + listText(words) +
    ": each proposal earns a share of that layer's reward.";
}

// ---- rewards --------------------------------------------------------------------------------

function drawRewards(rewards) {
  const width = 420, height = 160, pad = 30;
  if (!rewards.length) {
    $("rewards-chart").innerHTML = "<p class='muted'>No rewards yet. They appear here once your node earns them.</p>";
    $("rewards-total").textContent = "";
    return;
  }
  let total = 0n;
  const points = rewards.map((r) => { total += BigInt(r.total); return [r.layer, Number(total)]; });
  const minX = points[0][0], maxX = Math.max(points[points.length - 1][0], minX + 1);
  const maxY = Math.max(points[points.length - 1][1], 1);
  const xy = points.map(([x, y]) => [pad + ((x - minX) / (maxX - minX)) * (width - 2 * pad),
                                      height - pad - (y / maxY) * (height - 2 * pad)]);
  const path = xy.map((p) => p[0].toFixed(1) + "," + p[1].toFixed(1)).join(" ");
  $("rewards-chart").innerHTML =
    `<svg id="rewards-svg" width="${width}" height="${height}" role="img" aria-label="rewards over time">` +
    `<line x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}" stroke="#8795a6"/>` +
    `<line x1="${pad}" y1="${pad}" x2="${pad}" y2="${height - pad}" stroke="#8795a6"/>` +
    `<polyline fill="none" stroke="#23a559" stroke-width="2" points="${path}"/>` +
    xy.map((p) => `<circle cx="${p[0].toFixed(1)}" cy="${p[1].toFixed(1)}" r="3" fill="#23a559"/>`).join("") +
    `<text x="${pad}" y="${height - 8}">layer ${minX}</text>` +
    `<text x="${width - pad - 60}" y="${height - 8}">layer ${maxX}</text>` +
    `<text x="${pad + 4}" y="${pad - 8}">${smh(total.toString())}</text></svg>`;
  $("rewards-total").textContent = rewards.length + " rewards, " + smh(total.toString()) + " in total.";
}

async function refreshRewards() {
  const coinbase = (await call(V1 + "SmesherService/Coinbase", {})).accountId.address;
  try {
    const answer = await call(V2 + "RewardService/List", { coinbase: coinbase, limit: 1000 });
    drawRewards(answer.rewards);
  } catch (e) {
    $("rewards-chart").innerHTML = "";
    $("rewards-total").textContent = "Rewards cannot be shown: " + e.message;
  }
}

// ---- wallet ---------------------------------------------------------------------------------

async function refreshWallet() {
  try {
    const w = await call("/api/v1/wallet", {});
    state.wallet = w;
    $("wallet-address").textContent = w.address;
    $("wallet-balance").textContent = smh(w.current.balance);
    $("wallet-balance").dataset.smidge = w.current.balance;
    $("wallet-pending").textContent = w.projected.balance !== w.current.balance ?
      "(after pending transactions: at least " + smh(w.projected.balance) + ")" : "";
    const history = await call(V2 + "TransactionService/List", { address: w.address, limit: 50 });
    $("history").innerHTML = "";
    for (const item of history.transactions.slice().reverse()) {
      const tx = item.tx, row = document.createElement("tr");
      const send = tx.contents && tx.contents.send;
      const incoming = send && send.destination === w.address && tx.principal !== w.address;
      const what = send ? (incoming ? "Received from " + tx.principal.slice(0, 14) + "…" :
                                      "Sent to " + send.destination.slice(0, 14) + "…") : "Wallet activation";
      const ok = item.txResult ? (item.txResult.status === "TRANSACTION_STATUS_SUCCESS" ? "done" : "failed") : "waiting";
      for (const text of [what, send ? smh(send.amount) : "", ok, item.txResult ? item.txResult.layer : ""]) {
        const td = document.createElement("td"); td.textContent = text; row.appendChild(td);
      }
      row.dataset.state = ok;
      $("history").appendChild(row);
    }
  } catch (e) {
    $("wallet-address").textContent = "not available";
    $("wallet-balance").textContent = e.message;
  }
}

async function send(event) {
  event.preventDefault();
  $("send-message").textContent = "Sending…";
  try {
    const answer = await call("/api/v1/wallet/send", { to: $("send-to").value.trim(), amount: $("send-amount").value });
    $("send-message").textContent = answer.deferred.length ?
      "Sent. Your wallet is activated with the next layer; the payment follows one layer later." :
      "Sent. It is applied with the next layer.";
    $("send-message").className = "ok";
    refreshWallet();
  } catch (e) { $("send-message").textContent = "Not sent: " + e.message; $("send-message").className = "error"; }
}

// ---- network and events ---------------------------------------------------------------------

const SYNC_WORDS = { SYNC_STATUS_SYNCED: "in step with the network", SYNC_STATUS_SYNCING: "catching up",
  SYNC_STATUS_OFFLINE: "not in step with the network yet", SYNC_STATUS_UNSPECIFIED: "not known" };

async function refreshNetwork() {
  const s = await call(V2 + "NodeService/Status", {});
  $("net-layer").textContent = "The network is at layer " + s.currentLayer + " (epoch " + s.currentEpoch + ")" +
    (s.appliedLayer !== null ? "; this node has applied up to layer " + s.appliedLayer + "." : ".");
  $("net-peers").textContent = s.connectedPeers === null ? "Peers: not known (" + s.peersReason + ")." :
    "Connected to " + s.connectedPeers + " other node" + (s.connectedPeers === "1" ? "" : "s") + ".";
  $("net-sync").textContent = "Sync: " + (SYNC_WORDS[s.status] || s.status) + (s.syncReason ? " (" + s.syncReason + ")" : "") + ".";
  $("headline").textContent = "Layer " + s.currentLayer + " · " + (SYNC_WORDS[s.status] || "");
}

const EVENT_WORDS = {
  "clock.layer_ticked": (b) => "Layer " + b.layer + " started.",
  "kernel.loop_lag_detected": (b) => "The node was busy for " + b.lag_s.toFixed(1) + " s.",
};

function startEvents() {
  const source = new EventSource("/api/v1/events");
  source.onmessage = null;
  const add = (event) => {
    const data = JSON.parse(event.data);
    const words = EVENT_WORDS[data.topic] ? EVENT_WORDS[data.topic](data.body) : data.topic.replace(/[._]/g, " ");
    const li = document.createElement("li"); li.textContent = words;
    $("events").prepend(li);
    while ($("events").children.length > 8) $("events").lastChild.remove();
    if (data.topic === "clock.layer_ticked") refreshAll();
  };
  source.addEventListener("open", () => { document.body.dataset.events = "open"; });
  for (const topic of ["clock.layer_ticked", "kernel.loop_lag_detected", "kernel.service_started"]) {
    source.addEventListener(topic, add);
  }
}

// ---- main -----------------------------------------------------------------------------------

async function refreshAll() {
  for (const part of [refreshNetwork, refreshSmeshing, refreshWallet, refreshRewards]) {
    try { await part(); } catch (e) { console.log(part.name, e.message); }
  }
}

async function init() {
  $("token-save").onclick = saveToken;
  $("token-input").onkeydown = (e) => { if (e.key === "Enter") saveToken(); };
  const saved = localStorage.getItem("spacemesh_token");
  if (saved) storeToken(saved);  // the cookie (for the event stream) may have expired before localStorage
  const info = await call(V2 + "NetworkService/Info", {});
  state.hrp = info.hrp;
  const post = await call(V1 + "SmesherService/PostConfig", {});
  state.unitBytes = Number(post.unitBytes); state.labelsPerUnit = Number(post.labelsPerUnit);
  state.minUnits = post.minNumUnits; state.maxUnits = post.maxNumUnits;
  $("wiz-space").value = state.minUnits;
  const folder = await call("/api/v1/post/folder", null, "GET");
  $("wiz-folder").value = folder.path;
  $("wiz-space").oninput = showSize; $("wiz-space-unit").onchange = showSize;
  $("wiz-check").onclick = checkFolder; $("wiz-estimate").onclick = estimate; $("wiz-start").onclick = startSmeshing;
  $("smesh-stop").onclick = async () => { await call(V1 + "SmesherService/StopSmeshing", {}); refreshSmeshing(); };
  $("send-form").onsubmit = send;
  showSize();
  await refreshAll();
  startEvents();
  setInterval(() => { if (!tokenWait) refreshSmeshing().catch((e) => console.log("refreshSmeshing", e.message)); },
              1000);
  document.body.dataset.ready = "yes";
}

init().catch((e) => { $("headline").textContent = "The node did not answer: " + e.message; });
