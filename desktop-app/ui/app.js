// palmkey desktop UI: plain JS over Tauri's invoke(); every action is a command of the Rust
// command layer. Text from the device is always set with textContent (never parsed as HTML).
"use strict";

const invoke = (cmd, args = {}) => window.__TAURI__.core.invoke(cmd, args);
const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function toast(message, kind = "") {
  const t = el("div", { class: `toast ${kind}` }, message);
  $("toasts").append(t);
  setTimeout(() => t.remove(), kind === "error" ? 7000 : 4000);
}

function errorText(e) {
  return (e && e.message) || String(e);
}

let session = { connected: false, unlocked: false, pinSet: false };
let current = "device";

// ---------- session, navigation, lock ----------

function applySession(s) {
  session = s;
  $("conn-dot").className = "dot" + (s.connected ? (s.unlocked ? " on" : " locked") : "");
  $("conn-text").textContent = s.connected ? (s.simulator ? "Simulator " : "Key ") + s.deviceId.replace(/^\w+:/, "") : "Not connected";
  $("lock-text").textContent = !s.connected ? "" : !s.pinSet ? "No PIN set yet" : s.unlocked ? `Unlocked · idle lock after ${Math.round(s.idleTimeoutSecs / 60)} min` : "Locked";
  $("lock-btn").hidden = !s.unlocked;
  for (const b of document.querySelectorAll("#nav button[data-needs]")) {
    const need = b.dataset.needs;
    b.disabled = need === "unlocked" ? !s.unlocked : !s.connected;
  }
  const locked = s.connected && s.pinSet && !s.unlocked;
  const overlay = $("lock-screen");
  if (locked && overlay.hidden) {
    overlay.hidden = false;
    $("unlock-pin").value = "";
    $("unlock-pin").focus();
  } else if (!locked) {
    overlay.hidden = true;
  }
  $("audit-path").textContent = s.auditLog || "";
  $("sim-card").hidden = !s.simulator;
  renderVault();
  const btn = document.querySelector(`#nav button[data-screen="${current}"]`);
  if (btn && btn.disabled) show("device");
}

async function refreshSession() {
  try {
    applySession(await invoke("status"));
  } catch (e) {
    toast(errorText(e), "error");
  }
}

async function show(name) {
  current = name;
  for (const s of document.querySelectorAll(".screen")) s.hidden = s.id !== `screen-${name}`;
  for (const b of document.querySelectorAll("#nav button")) {
    if (b.dataset.screen === name) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  const loaders = { device: loadDevice, people: loadPeople, credentials: loadCredentials, audit: loadAudit, security: loadSecurity, enroll: loadEnroll };
  if (loaders[name]) await loaders[name]();
  $("main").focus();
}

// A failed command: lock screen for "locked", a toast otherwise.
async function handle(e) {
  if (e && e.code === "locked") await refreshSession();
  else if (e && e.code === "not-connected") { await refreshSession(); show("device"); }
  toast(errorText(e), "error");
}

// ---------- device ----------

async function loadDevice() {
  await discover();
  await loadInfo();
}

async function discover() {
  const list = $("device-list");
  list.replaceChildren(el("li", {}, el("span", { class: "muted" }, "Searching…")));
  try {
    const found = await invoke("discover");
    list.replaceChildren();
    if (found.devices.length === 0) list.append(el("li", {}, el("span", { class: "muted" }, "No authenticator found. Plug in a security key or start a palmkey simulator.")));
    for (const d of found.devices) {
      const connected = session.deviceId === d.id;
      list.append(el("li", {},
        el("span", { class: "kind" }, d.kind === "simulator" ? "Simulator" : "USB"),
        el("span", { class: "grow" }, el("strong", {}, d.label), el("span", { class: "detail" }, d.detail)),
        connected ? el("span", { class: "muted" }, "Connected")
          : el("button", { class: "primary", dataset: { device: d.id }, onclick: () => connect(d.id) }, "Connect")));
    }
    $("hid-note").textContent = found.hidError ? `USB devices could not be listed: ${found.hidError}` : "";
  } catch (e) { handle(e); }
}

async function connect(id) {
  try {
    applySession(await invoke("connect", { id }));
    toast("Connected", "ok");
    await loadDevice();
    if (!session.pinSet) { toast("This authenticator has no PIN yet: set one to administer it."); show("security"); }
  } catch (e) { handle(e); }
}

function stat(value, label) {
  return el("div", { class: "stat" }, el("b", {}, value ?? "—"), el("span", {}, label));
}

async function loadInfo() {
  const card = $("info-card");
  if (!session.connected) { card.hidden = true; return; }
  try {
    const i = await invoke("device_info");
    card.hidden = false;
    $("info-stats").replaceChildren(
      stat(i.remainingCredentials, "passkey slots left"),
      stat(i.pinSet ? i.pinRetries : "not set", "PIN attempts left"),
      stat(i.uvRetries, "palm attempts left"),
      stat(i.bioEnrollment ? "palm" : "none", "built-in verification"));
    const facts = [["AAGUID", i.aaguid], ["Versions", i.versions.join(", ")], ["Extensions", i.extensions.join(", ") || "—"],
      ["PIN protocols", i.pinProtocols.join(", ")], ["Minimum PIN length", i.minPinLength], ["Transports", i.transports.join(", ") || "—"],
      ["Algorithms", i.algorithms.join(", ")], ["Max message size", i.maxMsgSize ?? "—"], ["Firmware", i.firmwareVersion ?? "—"], ["Address", i.id]];
    $("info-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]));
    $("info-options").replaceChildren(...i.options.map((o) => el("li", { class: o.value ? "on" : "off" }, `${o.name}: ${o.value}`)));
    $("min-pin").textContent = i.minPinLength;
  } catch (e) { handle(e); }
}

// ---------- people ----------

function when(iso) {
  if (!iso) return el("span", { class: "muted" }, "not recorded here");
  const d = new Date(iso);
  return el("time", { datetime: iso }, d.toLocaleString());
}

function renderPeople(people) {
  $("people-count").textContent = people.length;
  $("people-empty").hidden = people.length > 0;
  $("people-table").hidden = people.length === 0;
  $("people-body").replaceChildren(...people.map((p) => {
    const name = p.memberId ?? "(unnamed)";
    return el("tr", { dataset: { member: name } },
      el("td", { class: "member" }, name),
      el("td", {}, when(p.enrolledAt)),
      el("td", { class: "mono" }, p.templateId),
      el("td", { class: "actions" },
        el("button", { class: "secondary", "aria-label": `Rename ${name}`, onclick: () => renamePerson(p) }, "Rename"),
        el("button", { class: "ghost", "aria-label": `Remove ${name}`, onclick: () => removePerson(p) }, "Remove")));
  }));
}

async function loadPeople() {
  try { renderPeople(await invoke("people")); } catch (e) { handle(e); }
}

// A modal built from nodes; resolves to true on OK.
function ask(title, body, okText, okClass = "primary") {
  const d = $("dialog");
  $("dialog-title").textContent = title;
  $("dialog-body").replaceChildren(...body);
  $("dialog-ok").textContent = okText;
  $("dialog-ok").className = okClass;
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
    d.showModal();
    const input = d.querySelector("#dialog-body input");
    (input || $("dialog-ok")).focus();
  });
}

async function renamePerson(p) {
  const input = el("input", { id: "rename-input", value: p.memberId ?? "", maxlength: "64", spellcheck: "false" });
  const ok = await ask(`Rename ${p.memberId ?? "enrollment"}`, [el("label", { for: "rename-input" }, "New member ID"), input], "Rename");
  if (!ok) return;
  try {
    renderPeople(await invoke("rename_person", { templateId: p.templateId, memberId: input.value }));
    toast(`Renamed to ${input.value.trim()}`, "ok");
  } catch (e) { handle(e); }
}

async function removePerson(p) {
  const name = p.memberId ?? "this enrollment";
  const ok = await ask(`Remove ${name}?`, [
    el("p", { class: "warning" }, `${name}'s palm will no longer verify on this authenticator. Passkeys they created with their palm can no longer be unlocked by it: they will have to register again on those websites. Their passkeys are listed under Passkeys, where you can delete them.`),
  ], "Remove", "danger");
  if (!ok) return;
  try {
    renderPeople(await invoke("remove_person", { templateId: p.templateId }));
    toast(`${name} removed`, "ok");
  } catch (e) { handle(e); }
}

// ---------- enrollment ----------

let enrolling = false;
let cancelRequested = false;
// Badge scanners type a whole ID within milliseconds and press Enter.
let keyTimes = [];

function loadEnroll() {
  if (!enrolling) $("member-id").focus();
}

function setPalm(state) {
  $("palm-visual").className = "palm " + state;
}

function showProgress(p) {
  $("guidance-title").textContent = p.title;
  $("guidance-detail").textContent = p.guidance;
  $("enroll-progress").max = Math.max(p.total, 1);
  $("enroll-progress").value = p.captured;
  $("enroll-count").textContent = p.state === "done" ? `${p.captured} good samples · enrolled as ${p.memberId}` : `${p.captured} of ${p.total} good samples · ${p.remaining} to go`;
  $("samples").append(el("li", { class: p.goodSample ? "good" : "bad", title: p.title }, p.goodSample ? "✓" : "!"));
  setPalm(p.state === "failed" ? "failed" : p.state === "done" ? "good" : p.goodSample ? "active" : "adjust");
}

function enrollUi(active) {
  enrolling = active;
  $("enroll-cancel").hidden = !active;
  $("enroll-start").disabled = active;
  $("member-id").disabled = active;
}

async function startEnrollment(memberId) {
  cancelRequested = false;
  $("samples").replaceChildren();
  $("enroll-again").hidden = true;
  $("enroll-progress").value = 0;
  $("guidance-title").textContent = "Hold your palm over the sensor";
  $("guidance-detail").textContent = "Open hand, fingers slightly apart, about a hand's width away.";
  $("enroll-count").textContent = "Capturing the first sample…";
  setPalm("active");
  enrollUi(true);
  try {
    let p = await invoke("enroll_begin", { memberId });
    showProgress(p);
    while (p.state === "capturing" && !cancelRequested) {
      p = await invoke("enroll_next");
      showProgress(p);
    }
    if (p.state === "done") toast(`${p.memberId} is enrolled`, "ok");
    if (p.state === "failed") toast(`Enrollment of ${p.memberId} stopped: ${p.title}`, "error");
    $("enroll-again").hidden = false;
  } catch (e) {
    setPalm("failed");
    $("guidance-title").textContent = e.code === "enrollment-cancelled" ? "Enrollment cancelled" : "Enrollment failed";
    $("guidance-detail").textContent = errorText(e);
    $("enroll-again").hidden = false;
    if (e.code !== "enrollment-cancelled") handle(e);
  } finally {
    enrollUi(false);
  }
}

async function cancelEnrollment() {
  cancelRequested = true;
  try { await invoke("enroll_cancel"); } catch (e) { if (e.code !== "no-enrollment") handle(e); }
}

function resetEnrollForm() {
  $("member-id").value = "";
  $("member-source").textContent = "Focus this field and scan a badge, or type.";
  $("samples").replaceChildren();
  $("enroll-progress").value = 0;
  $("enroll-count").textContent = "No samples yet.";
  $("guidance-title").textContent = "Waiting for a member ID";
  $("guidance-detail").textContent = "Enter or scan a member ID to begin.";
  $("enroll-again").hidden = true;
  setPalm("");
  $("member-id").focus();
}

async function qrFromBytes(base64, source) {
  try {
    const id = await invoke("decode_qr", { image: base64 });
    $("member-id").value = id;
    $("member-source").textContent = `Read from a QR code (${source}).`;
    toast(`Member ID ${id} read from the QR code`, "ok");
  } catch (e) { handle(e); }
}

let stream = null;
async function openCamera() {
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" } });
    $("camera").srcObject = stream;
    $("camera-box").hidden = false;
  } catch (e) {
    toast(`No camera available: ${e.message || e}`, "error");
  }
}
function closeCamera() {
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  $("camera-box").hidden = true;
}
async function snapFrame() {
  const v = $("camera");
  const c = document.createElement("canvas");
  c.width = v.videoWidth; c.height = v.videoHeight;
  c.getContext("2d").drawImage(v, 0, 0);
  // The frame lives only in this canvas and the decode request; nothing is stored.
  await qrFromBytes(c.toDataURL("image/png").split(",")[1], "camera");
}

async function simulate(mode) {
  const identity = Number($("sim-identity").value || 0);
  try {
    await invoke("simulate_hand", { mode, identity: mode === "none" ? null : identity });
    $("sim-state").textContent = mode === "synthetic" ? `Synthetic person #${identity} is holding out their palm.`
      : mode === "photo-attack" ? `A printed photo of person #${identity} is in front of the sensor.` : "No hand on the sensor.";
  } catch (e) { handle(e); }
}

// ---------- credentials ----------

async function loadCredentials() {
  try {
    const rps = await invoke("credentials");
    $("rp-empty").hidden = rps.length > 0;
    $("rp-list").replaceChildren(...rps.map((rp) => el("div", { class: "card rp" },
      el("h2", {}, rp.rpId, rp.rpName ? el("small", {}, rp.rpName) : null),
      el("table", { class: "table" },
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "User"), el("th", { scope: "col" }, "Display name"), el("th", { scope: "col" }, "Credential ID"), el("th", { scope: "col" }, el("span", { class: "sr-only" }, "Actions")))),
        el("tbody", {}, rp.credentials.map((c) => el("tr", {},
          el("td", { class: "member" }, c.userName ?? c.userId),
          el("td", {}, c.displayName ?? "—"),
          el("td", { class: "mono" }, c.credentialId.slice(0, 24) + "…"),
          el("td", { class: "actions" }, el("button", { class: "ghost", "aria-label": `Delete passkey of ${c.userName ?? c.userId} for ${rp.rpId}`, onclick: () => deleteCredential(rp, c) }, "Delete")))))))));
  } catch (e) { handle(e); }
}

async function deleteCredential(rp, c) {
  const ok = await ask("Delete this passkey?", [el("p", { class: "warning" }, `${c.userName ?? c.userId} will no longer be able to sign in to ${rp.rpId} with this authenticator.`)], "Delete", "danger");
  if (!ok) return;
  try { await invoke("delete_credential", { rpId: rp.rpId, credentialId: c.credentialId }); toast("Passkey deleted", "ok"); loadCredentials(); } catch (e) { handle(e); }
}

// ---------- security ----------

function renderVault() {
  const v = $("vault-desc");
  v.textContent = session.vault ? `PIN storage: ${session.vault}` : "";
  v.className = "vault" + (session.vaultIsKeyring ? "" : " file");
  $("vault-state").textContent = session.pinRemembered ? "The PIN of this authenticator is remembered." : "No PIN is remembered for this authenticator.";
  $("forget-pin").hidden = !session.pinRemembered;
}

function loadSecurity() {
  const change = session.pinSet;
  $("pin-form-title").textContent = change ? "Change the terminal PIN" : "Set the terminal PIN";
  $("pin-submit").textContent = change ? "Change PIN" : "Set PIN";
  $("current-pin-row").hidden = !change;
  $("current-pin").required = change;
  $("idle-mins").value = Math.round((session.idleTimeoutSecs || 300) / 60);
  renderVault();
  (change ? $("current-pin") : $("new-pin")).focus();
}

async function submitPin(ev) {
  ev.preventDefault();
  const pin = $("new-pin").value;
  if (pin !== $("new-pin2").value) { toast("The two new PINs differ", "error"); return; }
  const remember = $("pin-remember").checked;
  try {
    if (session.pinSet) applySession(await invoke("change_pin", { current: $("current-pin").value, pin, remember }));
    else applySession(await invoke("set_pin", { pin, remember }));
    for (const id of ["current-pin", "new-pin", "new-pin2"]) $(id).value = "";
    toast("PIN saved", "ok");
    loadSecurity();
  } catch (e) { handle(e); }
}

// ---------- audit ----------

function describeEvent(e) {
  const d = e.data || {};
  return Object.entries(d).filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => `${k}: ${v}`).join(" · ") || "—";
}

async function loadAudit() {
  try {
    const events = await invoke("audit_log", { limit: 200 });
    $("audit-body").replaceChildren(...events.map((e) => el("tr", {},
      el("td", { class: "mono" }, e.time.replace("T", " ").replace(/\.\d+Z$|Z$/, "")),
      el("td", {}, e.type.replace("dev.palmkey.desktop.", "")),
      el("td", {}, describeEvent(e)))));
  } catch (e) { handle(e); }
}

// ---------- wiring ----------

let lastTouch = 0;
function activity() {
  const now = Date.now();
  if (session.unlocked && now - lastTouch > 15000) {
    lastTouch = now;
    invoke("touch").then(applySession).catch(() => {});
  }
}

window.addEventListener("DOMContentLoaded", async () => {
  for (const b of document.querySelectorAll("#nav button")) b.addEventListener("click", () => show(b.dataset.screen));
  for (const b of document.querySelectorAll("[data-go]")) b.addEventListener("click", () => show(b.dataset.go));
  $("discover-btn").addEventListener("click", discover);
  $("disconnect-btn").addEventListener("click", async () => { applySession(await invoke("disconnect")); loadDevice(); });
  $("lock-btn").addEventListener("click", async () => applySession(await invoke("lock")));
  $("lock-devices").addEventListener("click", async () => { applySession(await invoke("disconnect")); show("device"); });
  $("unlock-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      applySession(await invoke("unlock", { pin: $("unlock-pin").value, remember: $("unlock-remember").checked }));
      $("unlock-pin").value = "";
      show(current);
    } catch (e) {
      $("lock-reason").textContent = errorText(e);
      $("unlock-pin").select();
    }
  });
  $("member-id").addEventListener("keydown", (ev) => {
    keyTimes.push(performance.now());
    if (ev.key === "Enter" && keyTimes.length > 4) {
      const gaps = keyTimes.slice(1).map((t, i) => t - keyTimes[i]);
      const scanned = gaps.every((g) => g < 40);
      $("member-source").textContent = scanned ? "Read from a badge scanner." : "Typed.";
    }
    if (ev.key === "Enter") keyTimes = [];
  });
  $("member-id").addEventListener("input", () => { if ($("member-id").value === "") keyTimes = []; });
  $("member-form").addEventListener("submit", (ev) => { ev.preventDefault(); startEnrollment($("member-id").value); });
  $("qr-file").addEventListener("change", () => {
    const f = $("qr-file").files[0];
    if (!f) return;
    const r = new FileReader();
    r.onload = () => qrFromBytes(String(r.result).split(",")[1], f.name);
    r.readAsDataURL(f);
    $("qr-file").value = "";
  });
  $("camera-btn").addEventListener("click", openCamera);
  $("camera-stop").addEventListener("click", closeCamera);
  $("snap-btn").addEventListener("click", snapFrame);
  $("enroll-cancel").addEventListener("click", cancelEnrollment);
  $("enroll-again").addEventListener("click", resetEnrollForm);
  $("sim-present").addEventListener("click", () => simulate("synthetic"));
  $("sim-photo").addEventListener("click", () => simulate("photo-attack"));
  $("sim-none").addEventListener("click", () => simulate("none"));
  $("pin-form").addEventListener("submit", submitPin);
  $("forget-pin").addEventListener("click", async () => { try { applySession(await invoke("forget_pin")); } catch (e) { handle(e); } });
  $("idle-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { applySession(await invoke("set_idle_timeout", { secs: Number($("idle-mins").value) * 60 })); toast("Idle lock saved", "ok"); } catch (e) { handle(e); }
  });
  $("reset-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const ok = await ask("Erase this authenticator?", [el("p", { class: "warning" }, "Every passkey, every enrolled palm and the PIN will be erased.")], "Erase", "danger");
    if (!ok) return;
    try { applySession(await invoke("reset_device", { confirmation: $("reset-confirm").value })); $("reset-confirm").value = ""; toast("The authenticator was reset", "ok"); show("device"); } catch (e) { handle(e); }
  });
  for (const ev of ["keydown", "pointerdown", "wheel"]) document.addEventListener(ev, activity, { passive: true });
  // The idle lock is enforced in Rust; polling shows the lock screen when it happens.
  setInterval(() => { if (session.connected && !enrolling) refreshSession(); }, 5000);
  await refreshSession();
  await show("device");
});
