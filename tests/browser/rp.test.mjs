// Real-browser tests of the relying-party demo: headless Debian Chromium with the DevTools
// WebAuthn virtual authenticator (CTAP 2.1, platform transport, resident keys, built-in UV)
// drives the site's own pages and script. Run by tests/browser/run.sh, which starts the server
// and sets RP_URL, and RP_SHORT_TTL_URL (an instance whose challenges expire after
// RP_SHORT_TTL_SECONDS). Element ids: /work/notes/rp-pages.md (the site's contract).
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
  await page.screenshot(join(ARTIFACTS, `${String(shot).padStart(2, "0")}-${name}.png`));
}

let browser;
before(async () => {
  browser = await Browser.launch();
});
after(async () => {
  await browser?.close();
});

/** A person at their own browser: a fresh context (own cookies) with its own authenticator.
 * Autofill is reported unavailable unless asked for, so the sign-in button is what signs in
 * (Chromium's virtual authenticator answers a conditional request by itself). */
async function person({ autofill = false } = {}) {
  const page = await browser.newPage();
  await page.setAutofill(autofill);
  const authenticator = await VirtualAuthenticator.add(page);
  return { page, authenticator };
}

async function register(page, displayName, base = RP_URL) {
  await page.goto(`${base}/register`);
  if (displayName) await page.type("#display-name", displayName);
  await page.click("#register-button");
  await page.waitForPath("/account");
}

async function signIn(page, base = RP_URL) {
  await page.goto(`${base}/login`);
  await page.click("#login-button");
  await page.waitForPath("/account");
}

async function signOut(page) {
  await page.click("#logout-button");
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

/** Add a saved payment method on the account page. */
async function addPaymentMethod(page, label, last4) {
  await page.goto(`${RP_URL}/account`);
  await page.type("#pm-label", label);
  await page.type("#pm-last4", last4);
  await page.clickAndWaitForLoad("#add-payment-method-button");
}

/** The orders table as objects. */
function orders(page) {
  return page.eval(`[...document.querySelectorAll("tr.order")].map((r) => ({
    id: r.dataset.orderId,
    channel: r.querySelector(".order-channel").textContent.trim(),
    items: r.querySelector(".order-items").textContent.trim(),
    total: r.querySelector(".order-total").textContent.trim(),
    payment: r.querySelector(".order-payment").textContent.trim(),
  }))`);
}

describe("passkeys, shop and in-store checkout in a real browser", () => {
  const alice = {};
  let terminal;
  let receiptPath;

  test("register: a discoverable, user-verified passkey creates the account", async () => {
    Object.assign(alice, await person());
    const { page, authenticator } = alice;
    await page.goto(`${RP_URL}/register`);
    assert.equal(await page.eval("window.isSecureContext && !!window.PublicKeyCredential"), true);
    await page.type("#display-name", "Alice Browser");
    await snap(page, "register-form");
    await page.click("#register-button");
    await page.waitForPath("/account");
    await snap(page, "account-after-register");

    assert.equal(await page.text("#account-name"), "Alice Browser");
    alice.memberId = await page.text("#member-id");
    assert.match(alice.memberId, /\S/);
    const creds = await authenticator.credentials();
    assert.equal(creds.length, 1);
    assert.equal(creds[0].isResidentCredential, true, "the site asked for a discoverable credential");
    assert.equal(creds[0].rpId, "localhost");
    alice.credentialId = creds[0].credentialId;
    alice.credential = creds[0];
    const rows = await page.eval(`[...document.querySelectorAll("#passkeys tr.passkey")].map((r) => ({
      id: r.dataset.credentialId, uv: r.querySelector(".passkey-uv").textContent.trim(),
      lastUsed: r.querySelector(".passkey-last-used").textContent.trim() }))`);
    assert.equal(rows.length, 1);
    assert.equal(Buffer.from(rows[0].id, "base64url").toString("base64"), creds[0].credentialId);
    assert.equal(rows[0].uv, "yes");
    // The session cookie is HttpOnly and SameSite=Lax: the page's script cannot read it.
    const cookie = (await page.cookies(RP_URL)).find((c) => c.name === "palmkey_rp_session");
    assert.ok(cookie, "session cookie set");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Lax");
    assert.equal(await page.eval(`document.cookie.includes("palmkey_rp_session")`), false);
    assert.deepEqual(page.consoleErrors, []);
  });

  test("account page: rename the passkey, save a payment method", async () => {
    const { page } = alice;
    await page.eval(`(() => { const i = document.querySelector("tr.passkey form.rename-passkey input[name=name]");
      i.value = ""; })()`);
    await page.type("tr.passkey form.rename-passkey input[name=name]", "Palm terminal");
    await page.clickAndWaitForLoad("tr.passkey form.rename-passkey button");
    assert.equal(await page.eval("location.pathname"), "/account");
    assert.equal(await page.text("tr.passkey .passkey-name"), "Palm terminal");
    await addPaymentMethod(page, "Visa", "4242");
    const methods = await page.texts("#payment-methods tr.payment-method");
    assert.equal(methods.length, 1);
    assert.match(methods[0], /Visa/);
    assert.match(methods[0], /4242/);
    await snap(page, "account-renamed-and-card");
  });

  test("sign out: the account page is no longer reachable", async () => {
    const { page } = alice;
    await signOut(page);
    await snap(page, "signed-out-home");
    await page.goto(`${RP_URL}/account`);
    await page.waitForPath("/login");
  });

  test("usernameless sign-in with the button: the passkey identifies the account", async () => {
    const { page, authenticator } = alice;
    const before = (await authenticator.credentials())[0].signCount;
    await page.goto(`${RP_URL}/login`);
    await snap(page, "login-page");
    await page.click("#login-button");
    await page.waitForPath("/account");
    await snap(page, "account-after-sign-in");
    assert.equal(await page.text("#account-name"), "Alice Browser");
    const history = await page.texts("#sign-in-history li");
    assert.ok(history.some((h) => /signed in/.test(h)), `sign-in history lists it: ${JSON.stringify(history)}`);
    assert.notEqual(await page.text("tr.passkey .passkey-last-used"), "never");
    const after = (await authenticator.credentials())[0].signCount;
    assert.ok(after > before, `the signature counter moved (${before} -> ${after})`);
  });

  test("usernameless sign-in through passkey autofill (conditional mediation)", async () => {
    const { page } = alice;
    await signOut(page);
    await page.setAutofill(true);
    try {
      // Loading the page starts the conditional request; the virtual authenticator answers
      // it as a user picking the passkey from the autofill list would. No click.
      await page.goto(`${RP_URL}/login`);
      await page.waitForPath("/account");
    } finally {
      await page.setAutofill(false);
    }
    assert.equal(await page.text("#account-name"), "Alice Browser");
  });

  test("web shop: basket and online checkout land in the order history", async () => {
    const { page } = alice;
    await page.goto(`${RP_URL}/shop`);
    const skus = await page.eval(`[...document.querySelectorAll("tr.product")].map((r) => r.dataset.sku)`);
    assert.ok(skus.includes("COFFEE") && skus.includes("CROISSANT"), `catalog: ${skus}`);
    await page.eval(`document.querySelector('tr.product[data-sku="COFFEE"] input[name=qty]').value = "2"`);
    await page.clickAndWaitForLoad('tr.product[data-sku="COFFEE"] form.add-to-basket button');
    await page.clickAndWaitForLoad('tr.product[data-sku="CROISSANT"] form.add-to-basket button');
    const lines = await page.eval(`[...document.querySelectorAll("#basket tr.basket-line")].map((r) => r.dataset.sku)`);
    assert.deepEqual(lines.sort(), ["COFFEE", "CROISSANT"]);
    const basketTotal = await page.text("#basket-total");
    await snap(page, "shop-basket");
    await page.clickAndWaitForLoad("#checkout-button");
    await page.waitForPath("/orders");
    const list = await orders(page);
    assert.equal(list.length, 1);
    assert.equal(list[0].channel, "online");
    assert.equal(list[0].total, basketTotal);
    assert.match(list[0].payment, /4242/);
    await snap(page, "orders-online");
  });

  test("in-store POS: the palm identifies the member, the basket is paid, no session made", async () => {
    terminal = await person();
    const { page } = terminal;
    await page.goto(`${RP_URL}/pos`);
    await page.type("#pos-qty-APPLES", "3");
    await page.type("#pos-qty-TOTE-BAG", "1");
    const total = await page.text("#pos-total");
    assert.notEqual(total, "€0.00", "the page totals the basket as the cashier types");
    await snap(page, "pos-basket");
    // Alice holds out her palm: her credential is on the terminal's authenticator for this.
    await alice.authenticator.moveCredentialTo(terminal.authenticator, alice.credentialId);
    try {
      await page.click("#pay-with-palm");
      await page.waitFor(`location.pathname.startsWith("/pos/receipt/") && document.readyState === "complete"`, "the receipt");
    } finally {
      await terminal.authenticator.moveCredentialTo(alice.authenticator, alice.credentialId);
    }
    receiptPath = await page.eval("location.pathname");
    await snap(page, "pos-receipt");
    assert.equal(await page.text("#receipt-member"), alice.memberId);
    assert.equal(await page.text("#receipt-total"), total);
    assert.match(await page.text("#receipt-payment"), /4242/);
    // The terminal holds no member session.
    await page.goto(`${RP_URL}/account`);
    await page.waitForPath("/login");
  });

  test("the in-store purchase shows in the member's online order history", async () => {
    const { page } = alice;
    await page.goto(`${RP_URL}/orders`);
    const list = await orders(page);
    const inStore = list.filter((o) => o.channel === "in store");
    assert.equal(inStore.length, 1, JSON.stringify(list));
    assert.equal(`/pos/receipt/${inStore[0].id}`, receiptPath);
    assert.match(inStore[0].items, /APPLES|Apples/i);
    await snap(page, "orders-with-in-store");
    // The receipt itself belongs to the terminal that took the payment.
    await page.goto(`${RP_URL}${receiptPath}`);
    assert.equal(await page.eval("document.getElementById('receipt')"), null);
  });

  test("POS refuses a member with no saved payment method", async () => {
    const bob = await person();
    await register(bob.page, "Bob Nocard");
    const bobId = (await bob.authenticator.credentials())[0].credentialId;
    const { page } = terminal;
    await page.goto(`${RP_URL}/pos`);
    await page.type("#pos-qty-COFFEE", "1");
    await bob.authenticator.moveCredentialTo(terminal.authenticator, bobId);
    try {
      await page.click("#pay-with-palm");
      const error = await statusError(page);
      assert.match(error, /no saved payment method/);
    } finally {
      await terminal.authenticator.moveCredentialTo(bob.authenticator, bobId);
    }
    await snap(page, "pos-no-payment-method");
    assert.equal(await page.eval("location.pathname"), "/pos");
    await bob.page.goto(`${RP_URL}/orders`);
    assert.equal((await orders(bob.page)).length, 0);
  });

  test("wrong account: Alice's key presented under Bob's user handle is refused", async () => {
    // A device holds a copy of Alice's private key but claims Bob's user handle: the credential
    // does not belong to that account, so the site must refuse the sign-in.
    const bob = await person();
    await register(bob.page, "Bob Again");
    const bobHandle = (await bob.authenticator.credentials())[0].userHandle;
    await signOut(bob.page);
    await bob.authenticator.remove();
    const forged = await VirtualAuthenticator.add(bob.page);
    await forged.addCredential({ ...alice.credential, userHandle: bobHandle, signCount: 1000 });
    await bob.page.goto(`${RP_URL}/login`);
    await bob.page.click("#login-button");
    const error = await statusError(bob.page);
    await snap(bob.page, "wrong-account-refused");
    assert.match(error, /unknown credential/i);
    assert.equal(await bob.page.eval("location.pathname"), "/login");
    await bob.page.goto(`${RP_URL}/account`);
    await bob.page.waitForPath("/login");
  });

  test("no user verification: Chromium and the site refuse a passkey without UV", async () => {
    const carol = await person();
    await carol.authenticator.setUserVerified(false);
    await carol.page.goto(`${RP_URL}/register`);
    await carol.page.click("#register-button");
    const error = await statusError(carol.page);
    await snap(carol.page, "no-uv-refused");
    assert.ok(error.length > 0);
    await carol.page.goto(`${RP_URL}/account`);
    await carol.page.waitForPath("/login");
  });

  test("a cloned key whose counter went backwards is refused and flagged", async () => {
    // Last: it flags Alice's passkey. A second authenticator holds her key with a counter
    // behind the one the site has seen.
    const clone = await person();
    const aliceNow = (await alice.authenticator.credentials())[0];
    await clone.authenticator.addCredential({ ...aliceNow, signCount: 0 });
    await clone.page.goto(`${RP_URL}/login`);
    await clone.page.click("#login-button");
    const error = await statusError(clone.page);
    await snap(clone.page, "counter-regression-refused");
    assert.match(error, /counter/i);
    await alice.page.goto(`${RP_URL}/account`);
    assert.match(await alice.page.text("tr.passkey .passkey-status"), /counter went backwards/);
    await snap(alice.page, "account-counter-flag");
  });
});

describe("challenges expire", () => {
  test("a sign-in answered after the challenge's deadline is refused", async () => {
    assert.ok(RP_SHORT_TTL_URL, "RP_SHORT_TTL_URL is set by run.sh");
    const dave = await person();
    await register(dave.page, "Dave Late", RP_SHORT_TTL_URL);
    await signOut(dave.page);
    await dave.page.goto(`${RP_SHORT_TTL_URL}/login`);
    // The person is slow at the sensor: the authenticator's answer reaches the page only
    // after the challenge's deadline.
    await dave.page.eval(`(() => {
      const get = navigator.credentials.get.bind(navigator.credentials);
      navigator.credentials.get = async (options) => {
        const cred = await get(options);
        await new Promise((r) => setTimeout(r, ${(SHORT_TTL_SECONDS + 1) * 1000}));
        return cred;
      };
    })()`);
    await dave.page.click("#login-button");
    const error = await statusError(dave.page);
    await snap(dave.page, "expired-challenge-refused");
    assert.match(error, /expired/i);
    await dave.page.goto(`${RP_SHORT_TTL_URL}/account`);
    await dave.page.waitForPath("/login");
  });
});
