// Real-browser tests of the relying-party demo: headless Debian Chromium with the DevTools
// WebAuthn virtual authenticator (CTAP 2.1, platform, resident keys, built-in UV) runs the
// site's own pages and script. Run by tests/browser/run.sh, which starts the server and sets
// RP_URL (and RP_SHORT_TTL_URL: an instance whose challenges expire after 2 s).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Browser, VirtualAuthenticator } from "./cdp.mjs";

const RP_URL = process.env.RP_URL;
const RP_SHORT_TTL_URL = process.env.RP_SHORT_TTL_URL;
const SHORT_TTL_SECONDS = Number(process.env.RP_SHORT_TTL_SECONDS || 2);
const ARTIFACTS = process.env.ARTIFACTS || join(import.meta.dirname, "artifacts");
if (!RP_URL) throw new Error("RP_URL is not set: run tests/browser/run.sh");
mkdirSync(ARTIFACTS, { recursive: true });

let shot = 0;
/** Screenshot named after the step, numbered in test order. */
async function snap(page, name) {
  shot += 1;
  const file = join(ARTIFACTS, `${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot(file);
  return file;
}

/** Bytes of a base64 / base64url string. */
const b64bytes = (s) => Buffer.from(s.replace(/-/g, "+").replace(/_/g, "/"), "base64");

let browser;
before(async () => {
  browser = await Browser.launch();
});
after(async () => {
  await browser?.close();
});

/** A signed-out person at their own device: a fresh context with its own authenticator. */
async function person() {
  const page = await browser.newPage();
  const authenticator = await VirtualAuthenticator.add(page);
  return { page, authenticator };
}

async function register(page, displayName, base = RP_URL) {
  await page.goto(`${base}/register`);
  await page.type('form#register-form input[name="display_name"]', displayName);
  await page.click('form#register-form button[type="submit"]');
  await page.waitForPath("/account");
}

async function signIn(page, base = RP_URL) {
  await page.goto(`${base}/login`);
  await page.click('form#login-form button[type="submit"]');
  await page.waitForPath("/account");
}

async function signOut(page) {
  await page.click('form[action="/logout"] button[type="submit"]');
  await page.waitForPath("/");
}

/** The error text the page's script shows after a failed ceremony. */
function statusError(page) {
  return page.waitFor(
    `(() => { const s = document.getElementById("status");
      return s && s.classList.contains("error") && s.textContent.trim() ? s.textContent.trim() : null; })()`,
    "an error in #status",
  );
}

describe("passkeys in a real browser", () => {
  const alice = {};

  test("register: a discoverable, user-verified passkey creates the account", async () => {
    Object.assign(alice, await person());
    const { page, authenticator } = alice;
    await page.goto(`${RP_URL}/register`);
    assert.equal(await page.eval("window.isSecureContext && !!window.PublicKeyCredential"), true);
    await page.type('form#register-form input[name="display_name"]', "Alice Browser");
    await snap(page, "register-form");
    await page.click('form#register-form button[type="submit"]');
    await page.waitForPath("/account");
    await snap(page, "account-after-register");

    assert.match(await page.text("h1"), /Alice Browser/);
    const rows = await page.texts("table.passkeys tbody tr, table#passkeys tbody tr");
    assert.equal(rows.length, 1, `one passkey row, got ${JSON.stringify(rows)}`);
    const creds = await authenticator.credentials();
    assert.equal(creds.length, 1);
    assert.equal(creds[0].isResidentCredential, true, "the site asked for a discoverable credential");
    assert.equal(creds[0].rpId, "localhost");
    alice.userHandle = creds[0].userHandle;
    alice.credential = creds[0];
    // The session cookie is HttpOnly and SameSite (not readable by the page's script).
    const cookie = (await page.cookies(RP_URL)).find((c) => c.name === "palmkey_rp_session");
    assert.ok(cookie, "session cookie set");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Lax");
    assert.equal(await page.eval(`document.cookie.includes("palmkey_rp_session")`), false);
    assert.deepEqual(page.consoleErrors, []);
  });

  test("sign out: the account page is no longer reachable", async () => {
    const { page } = alice;
    await signOut(page);
    await snap(page, "signed-out-home");
    await page.goto(`${RP_URL}/account`);
    await page.waitForPath("/login");
  });

  test("usernameless sign-in: no name typed, the passkey identifies the account", async () => {
    const { page, authenticator } = alice;
    const before = (await authenticator.credentials())[0].signCount;
    await page.goto(`${RP_URL}/login`);
    await snap(page, "login-page");
    await page.click('form#login-form button[type="submit"]');
    await page.waitForPath("/account");
    await snap(page, "account-after-sign-in");
    assert.match(await page.text("h1"), /Alice Browser/);
    const history = await page.texts("ul.history li, ul#sign-in-history li");
    assert.ok(history.some((h) => /signed in/.test(h)), `sign-in history lists it: ${JSON.stringify(history)}`);
    const lastUsed = await page.texts("table.passkeys tbody td:nth-child(3), td.passkey-last-used");
    assert.ok(lastUsed.length >= 1 && !lastUsed.includes("never"), `last use shown: ${lastUsed}`);
    const after = (await authenticator.credentials())[0].signCount;
    assert.ok(after > before, `the signature counter moved (${before} -> ${after})`);
  });

  test("a second person's passkey signs in to their own account only", async () => {
    const bob = await person();
    await register(bob.page, "Bob Browser");
    await signOut(bob.page);
    await signIn(bob.page);
    assert.match(await bob.page.text("h1"), /Bob Browser/);
    const bobCred = (await bob.authenticator.credentials())[0];
    assert.notEqual(bobCred.userHandle, alice.userHandle);
    await snap(bob.page, "second-account");
  });

  test("wrong account: Alice's key presented under Bob's user handle is refused", async () => {
    // Another device holds a copy of Alice's private key but claims Bob's user handle: the
    // credential ID does not belong to that account, so the site must refuse the sign-in.
    const bob = await person();
    await register(bob.page, "Bob Again");
    const bobHandle = (await bob.authenticator.credentials())[0].userHandle;
    await signOut(bob.page);
    await bob.authenticator.remove();
    const forged = await VirtualAuthenticator.add(bob.page);
    await forged.addCredential({ ...alice.credential, userHandle: bobHandle, signCount: 1000 });
    await bob.page.goto(`${RP_URL}/login`);
    await bob.page.click('form#login-form button[type="submit"]');
    const error = await statusError(bob.page);
    await snap(bob.page, "wrong-account-refused");
    assert.match(error, /unknown credential/i);
    assert.equal(await bob.page.eval("location.pathname"), "/login");
    await bob.page.goto(`${RP_URL}/account`);
    await bob.page.waitForPath("/login");
  });

  test("a cloned key whose counter went backwards is refused and flagged", async () => {
    // A second authenticator with Alice's key and a counter behind the site's.
    const clone = await person();
    const aliceNow = (await alice.authenticator.credentials())[0];
    const cloneAuthenticator = clone.authenticator;
    await cloneAuthenticator.addCredential({ ...aliceNow, signCount: 0 });
    await clone.page.goto(`${RP_URL}/login`);
    await clone.page.click('form#login-form button[type="submit"]');
    const error = await statusError(clone.page);
    await snap(clone.page, "counter-regression-refused");
    assert.match(error, /counter/i);
    // Alice sees the flag on her account page.
    await alice.page.goto(`${RP_URL}/account`);
    const status = await alice.page.text("table.passkeys tbody, table#passkeys tbody");
    assert.match(status, /counter went backwards/);
    await snap(alice.page, "account-counter-flag");
  });

  test("no user verification: the site refuses a passkey without UV", async () => {
    const carol = await person();
    await carol.authenticator.setUserVerified(false);
    await carol.page.goto(`${RP_URL}/register`);
    await carol.page.click('form#register-form button[type="submit"]');
    // Chromium itself refuses when UV is required and fails; either way no account appears.
    const outcome = await carol.page.waitFor(
      `(() => { const s = document.getElementById("status");
        return s && s.classList.contains("error") ? s.textContent.trim() : null; })()`,
      "a refused registration",
    );
    await snap(carol.page, "no-uv-refused");
    assert.ok(outcome.length > 0);
    await carol.page.goto(`${RP_URL}/account`);
    await carol.page.waitForPath("/login");
  });
});

describe("challenges expire", { skip: !RP_SHORT_TTL_URL && "RP_SHORT_TTL_URL not set" }, () => {
  test("a sign-in answered after the challenge's deadline is refused", async () => {
    const dave = await person();
    await register(dave.page, "Dave Late", RP_SHORT_TTL_URL);
    await signOut(dave.page);
    await dave.page.goto(`${RP_SHORT_TTL_URL}/login`);
    // Hold the authenticator's answer past the deadline: the page's fetch of /login/finish
    // goes out only after the wait (the user was slow at the sensor).
    await dave.page.eval(`(() => {
      const get = navigator.credentials.get.bind(navigator.credentials);
      navigator.credentials.get = async (options) => {
        if (options.mediation === "conditional") return new Promise(() => {});
        const cred = await get(options);
        await new Promise((r) => setTimeout(r, ${(SHORT_TTL_SECONDS + 1) * 1000}));
        return cred;
      };
    })()`);
    await dave.page.click('form#login-form button[type="submit"]');
    const error = await statusError(dave.page);
    await snap(dave.page, "expired-challenge-refused");
    assert.match(error, /expired/i);
  });
});
