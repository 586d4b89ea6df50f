// palmkey demo: the browser half of the WebAuthn ceremonies. The server sends options as
// WebAuthn JSON (binary fields base64url); this converts them for navigator.credentials,
// and the credential back to JSON, then posts it with the session's CSRF token.
"use strict";

const b64u = {
  decode(s) {
    const pad = "=".repeat((4 - (s.length % 4)) % 4);
    const bin = atob((s + pad).replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
  },
  encode(buf) {
    let bin = "";
    for (const b of new Uint8Array(buf)) bin += String.fromCharCode(b);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
};

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

async function postJson(url, body, signal) {
  const res = await fetch(url, {
    method: "POST",
    signal,
    credentials: "same-origin",
    headers: { "content-type": "application/json", "x-csrf-token": csrfToken() },
    body: JSON.stringify(body ?? {}),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || `${res.status} ${res.statusText}`);
  return data;
}

function status(text, isError) {
  const el = document.getElementById("status");
  if (!el) return;
  el.textContent = text;
  el.classList.toggle("error", !!isError);
}

function creationOptions(json) {
  const pk = structuredClone(json.publicKey);
  pk.challenge = b64u.decode(pk.challenge);
  pk.user.id = b64u.decode(pk.user.id);
  for (const c of pk.excludeCredentials || []) c.id = b64u.decode(c.id);
  return pk;
}

function requestOptions(json) {
  const pk = structuredClone(json.publicKey);
  pk.challenge = b64u.decode(pk.challenge);
  for (const c of pk.allowCredentials || []) c.id = b64u.decode(c.id);
  return pk;
}

function registrationJson(cred) {
  return {
    id: cred.id,
    rawId: b64u.encode(cred.rawId),
    type: cred.type,
    response: {
      attestationObject: b64u.encode(cred.response.attestationObject),
      clientDataJSON: b64u.encode(cred.response.clientDataJSON),
      transports: cred.response.getTransports ? cred.response.getTransports() : undefined,
    },
    extensions: cred.getClientExtensionResults(),
  };
}

function assertionJson(cred) {
  const r = cred.response;
  return {
    id: cred.id,
    rawId: b64u.encode(cred.rawId),
    type: cred.type,
    response: {
      authenticatorData: b64u.encode(r.authenticatorData),
      clientDataJSON: b64u.encode(r.clientDataJSON),
      signature: b64u.encode(r.signature),
      userHandle: r.userHandle ? b64u.encode(r.userHandle) : null,
    },
    extensions: cred.getClientExtensionResults(),
  };
}

async function register(form) {
  status("Waiting for your authenticator…");
  const displayName = form.elements.display_name ? form.elements.display_name.value : "";
  const options = await postJson("/register/start", { display_name: displayName });
  const cred = await navigator.credentials.create({ publicKey: creationOptions(options) });
  const done = await postJson("/register/finish", registrationJson(cred));
  location.assign(done.redirect);
}

// One sign-in at a time: the session has one pending sign-in challenge, so a new attempt
// (the button) aborts the running one (autofill) *before* asking for its own challenge, and an
// aborted attempt never posts a finish.
let pending = null;

async function login(mediation) {
  pending?.abort();
  const controller = new AbortController();
  pending = controller;
  const options = await postJson("/login/start", {}, controller.signal);
  if (controller.signal.aborted) return;
  const request = { publicKey: requestOptions(options), signal: controller.signal };
  if (mediation === "conditional") {
    request.mediation = "conditional";
  } else {
    status("Waiting for your authenticator…");
  }
  const cred = await navigator.credentials.get(request);
  if (controller.signal.aborted) return;
  pending = null;
  const done = await postJson("/login/finish", assertionJson(cred));
  location.assign(done.redirect);
}

// In-store POS: the cashier's basket goes to the server with the payment's start, so the
// palm authorises exactly that basket. No session change on the terminal.
function posItems(form) {
  return Array.from(form.querySelectorAll("tr.pos-product"), (row) => ({
    sku: row.dataset.sku,
    qty: Number(row.querySelector("input").value) || 0,
  })).filter((i) => i.qty > 0);
}

function posTotal(form) {
  let cents = 0;
  for (const row of form.querySelectorAll("tr.pos-product")) {
    cents += Number(row.dataset.priceCents) * (Number(row.querySelector("input").value) || 0);
  }
  const out = document.getElementById("pos-total");
  if (out) out.textContent = `€${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}`;
}

async function posPay(form) {
  const items = posItems(form);
  if (items.length === 0) throw new Error("The basket is empty.");
  status("Customer: hold your palm over the sensor…");
  const options = await postJson("/pos/pay/start", { items });
  const cred = await navigator.credentials.get({ publicKey: requestOptions(options) });
  const done = await postJson("/pos/pay/finish", assertionJson(cred));
  status(`Paid ${done.total} by member ${done.member}.`);
  location.assign(done.redirect);
}

function report(err) {
  if (err && err.name === "AbortError") return;
  status(err && err.message ? err.message : String(err), true);
}

document.addEventListener("DOMContentLoaded", async () => {
  if (!window.PublicKeyCredential) {
    status("This browser does not support passkeys.", true);
    return;
  }
  const reg = document.getElementById("register-form");
  if (reg) reg.addEventListener("submit", (e) => { e.preventDefault(); register(reg).catch(report); });
  const pos = document.getElementById("pos-form");
  if (pos) {
    pos.addEventListener("input", () => posTotal(pos));
    pos.addEventListener("submit", (e) => { e.preventDefault(); posPay(pos).catch(report); });
    posTotal(pos);
  }
  const log = document.getElementById("login-form");
  if (log) {
    log.addEventListener("submit", (e) => { e.preventDefault(); login("modal").catch(report); });
    if (PublicKeyCredential.isConditionalMediationAvailable &&
        await PublicKeyCredential.isConditionalMediationAvailable()) {
      login("conditional").catch(report);
    }
  }
});
