// A small Chrome DevTools Protocol client for the real-browser tests: it starts Debian's
// Chromium headless with `--remote-debugging-pipe` (CDP as NUL-separated JSON on file
// descriptors 3 and 4), so it needs no WebSocket library, no npm package and no browser
// download. Every call has a deadline: a test fails, it never hangs.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Default deadline of one protocol call or wait (ms). */
export const STEP_TIMEOUT = 15_000;

const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--no-default-browser-check",
  "--disable-dev-shm-usage",
  "--remote-debugging-pipe",
];

function withDeadline(promise, ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** One Chromium process and its protocol connection. */
export class Browser {
  static async launch({ executable = process.env.CHROMIUM || "/usr/bin/chromium" } = {}) {
    const profile = mkdtempSync(join(tmpdir(), "rp-browser-profile-"));
    const child = spawn(executable, [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, "about:blank"], {
      stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"],
    });
    const browser = new Browser(child, profile);
    const version = await browser.send("Browser.getVersion");
    browser.version = version.product;
    return browser;
  }

  constructor(child, profile) {
    this.child = child;
    this.profile = profile;
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = new Set();
    this.stderr = "";
    this.exited = false;
    let buffered = "";
    child.stdio[4].setEncoding("utf8");
    child.stdio[4].on("data", (chunk) => {
      buffered += chunk;
      let end;
      while ((end = buffered.indexOf("\0")) >= 0) {
        const text = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        this.dispatch(JSON.parse(text));
      }
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => {
      // Keep only the tail: enough to explain a crash.
      this.stderr = (this.stderr + chunk).slice(-4000);
    });
    child.on("exit", (code, signal) => {
      this.exited = true;
      const error = new Error(`chromium exited (code ${code}, signal ${signal}): ${this.stderr}`);
      for (const { reject } of this.pending.values()) reject(error);
      this.pending.clear();
    });
    // A failed write (Chromium gone) shows up as a rejected call, not an unhandled error.
    child.stdio[3].on("error", () => {});
  }

  dispatch(message) {
    if (message.id !== undefined) {
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.error) {
        waiter.reject(new Error(`${waiter.method}: ${message.error.message} ${message.error.data ?? ""}`));
      } else {
        waiter.resolve(message.result);
      }
      return;
    }
    for (const listener of [...this.listeners]) listener(message);
  }

  /** Send one CDP command (to a page when `sessionId` is given) and await its result. */
  send(method, params = {}, sessionId = undefined, timeout = STEP_TIMEOUT) {
    if (this.exited) return Promise.reject(new Error(`chromium is not running (${method})`));
    const id = this.nextId++;
    const message = { id, method, params };
    if (sessionId) message.sessionId = sessionId;
    const answer = new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
    });
    this.child.stdio[3].write(JSON.stringify(message) + "\0");
    return withDeadline(answer, timeout, method).finally(() => this.pending.delete(id));
  }

  /** The next event `method` of `sessionId` that satisfies `predicate`. */
  waitForEvent(method, sessionId, predicate = () => true, timeout = STEP_TIMEOUT) {
    let listener;
    const seen = new Promise((resolve) => {
      listener = (m) => {
        if (m.method === method && m.sessionId === sessionId && predicate(m.params)) resolve(m.params);
      };
      this.listeners.add(listener);
    });
    return withDeadline(seen, timeout, `event ${method}`).finally(() => this.listeners.delete(listener));
  }

  /** A new tab in its own browser context (own cookies: a separate person or device). */
  async newPage({ width = 1024, height = 900 } = {}) {
    const { browserContextId } = await this.send("Target.createBrowserContext", { disposeOnDetach: true });
    const { targetId } = await this.send("Target.createTarget", { url: "about:blank", browserContextId });
    const { sessionId } = await this.send("Target.attachToTarget", { targetId, flatten: true });
    const page = new Page(this, sessionId, targetId);
    await page.send("Page.enable");
    await page.send("Runtime.enable");
    await page.send("Emulation.setDeviceMetricsOverride", {
      width,
      height,
      deviceScaleFactor: 1,
      mobile: false,
    });
    return page;
  }

  async close() {
    if (!this.exited) {
      const gone = new Promise((resolve) => this.child.once("exit", resolve));
      this.send("Browser.close", {}, undefined, 3000).catch(() => {});
      await withDeadline(gone, 5000, "chromium exit").catch(() => this.child.kill("SIGKILL"));
    }
    rmSync(this.profile, { recursive: true, force: true });
  }
}

/** One tab. */
export class Page {
  constructor(browser, sessionId, targetId) {
    this.browser = browser;
    this.sessionId = sessionId;
    this.targetId = targetId;
    this.consoleErrors = [];
    browser.listeners.add((m) => {
      if (m.sessionId !== sessionId) return;
      if (m.method === "Runtime.exceptionThrown") {
        this.consoleErrors.push(m.params.exceptionDetails.exception?.description ?? m.params.exceptionDetails.text);
      }
    });
  }

  send(method, params = {}, timeout = STEP_TIMEOUT) {
    return this.browser.send(method, params, this.sessionId, timeout);
  }

  /** Load `url` and wait for its load event. */
  async goto(url) {
    const loaded = this.browser.waitForEvent("Page.loadEventFired", this.sessionId);
    const result = await this.send("Page.navigate", { url });
    if (result.errorText) throw new Error(`navigating to ${url}: ${result.errorText}`);
    await loaded;
  }

  /** Evaluate an expression in the page (awaiting promises) and return its JSON value. */
  async eval(expression) {
    const result = await this.send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
      userGesture: true,
    });
    if (result.exceptionDetails) {
      throw new Error(`page threw: ${result.exceptionDetails.exception?.description ?? result.exceptionDetails.text}`);
    }
    return result.result.value;
  }

  /** Poll `expression` until it is truthy; returns its value. */
  async waitFor(expression, what = expression, timeout = STEP_TIMEOUT) {
    const start = Date.now();
    let last;
    for (;;) {
      try {
        last = await this.eval(expression);
        if (last) return last;
      } catch (error) {
        // A navigation in flight destroys the context; try again.
        last = error.message;
      }
      if (Date.now() - start > timeout) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The page's path once it is `path` and loaded. */
  waitForPath(path, timeout = STEP_TIMEOUT) {
    return this.waitFor(
      `location.pathname === ${JSON.stringify(path)} && document.readyState === "complete"`,
      `the page ${path}`,
      timeout,
    );
  }

  /** Text of the first element matching `selector` (null when there is none). */
  text(selector) {
    return this.eval(`document.querySelector(${JSON.stringify(selector)})?.textContent.trim() ?? null`);
  }

  /** All texts of elements matching `selector`. */
  texts(selector) {
    return this.eval(`[...document.querySelectorAll(${JSON.stringify(selector)})].map((e) => e.textContent.trim())`);
  }

  /** Type into a form field (focus + real key input). */
  async type(selector, value) {
    await this.eval(`(() => { const e = document.querySelector(${JSON.stringify(selector)});
      if (!e) throw new Error("no element ${selector.replace(/"/g, "'")}"); e.focus(); e.select?.(); })()`);
    await this.send("Input.insertText", { text: String(value) });
  }

  /** A real mouse click in the middle of the element (gives the page user activation). */
  async click(selector) {
    const box = await this.waitFor(
      `(() => { const e = document.querySelector(${JSON.stringify(selector)});
        if (!e) return null; e.scrollIntoView({ block: "center" });
        const r = e.getBoundingClientRect(); return r.width > 0 ? { x: r.x + r.width / 2, y: r.y + r.height / 2 } : null; })()`,
      `a visible ${selector}`,
    );
    for (const type of ["mousePressed", "mouseReleased"]) {
      await this.send("Input.dispatchMouseEvent", { type, x: box.x, y: box.y, button: "left", clickCount: 1 });
    }
  }

  /** Click, and wait for the navigation the click causes (a form post, a link). */
  async clickAndWaitForLoad(selector) {
    const loaded = this.browser.waitForEvent("Page.loadEventFired", this.sessionId);
    await this.click(selector);
    await loaded;
  }

  /** Save a full-page PNG screenshot. */
  async screenshot(file) {
    const { data } = await this.send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true });
    writeFileSync(file, Buffer.from(data, "base64"));
  }

  /** Whether later page loads report conditional mediation (passkey autofill) as available;
   * off, the site falls back to its sign-in button, as in a browser without autofill. */
  async setAutofill(available) {
    if (available && this.noAutofillScript) {
      await this.send("Page.removeScriptToEvaluateOnNewDocument", { identifier: this.noAutofillScript });
      this.noAutofillScript = null;
    } else if (!available && !this.noAutofillScript) {
      const { identifier } = await this.send("Page.addScriptToEvaluateOnNewDocument", {
        source: "if (window.PublicKeyCredential) PublicKeyCredential.isConditionalMediationAvailable = async () => false;",
      });
      this.noAutofillScript = identifier;
    }
  }

  /** Cookies the page's context holds for `url`. */
  async cookies(url) {
    const { cookies } = await this.send("Network.getCookies", { urls: [url] });
    return cookies;
  }
}

/** The WebAuthn domain's virtual authenticator attached to one page's context. */
export class VirtualAuthenticator {
  /** A platform authenticator with resident keys and built-in user verification (CTAP 2.1). */
  static async add(page, overrides = {}) {
    await page.send("WebAuthn.enable", { enableUI: false });
    const { authenticatorId } = await page.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2",
        ctap2Version: "ctap2_1",
        transport: "internal",
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
        ...overrides,
      },
    });
    return new VirtualAuthenticator(page, authenticatorId);
  }

  constructor(page, id) {
    this.page = page;
    this.id = id;
  }

  async credentials() {
    const { credentials } = await this.page.send("WebAuthn.getCredentials", { authenticatorId: this.id });
    return credentials;
  }

  addCredential(credential) {
    return this.page.send("WebAuthn.addCredential", { authenticatorId: this.id, credential });
  }

  removeCredential(credentialId) {
    return this.page.send("WebAuthn.removeCredential", { authenticatorId: this.id, credentialId });
  }

  /** Move this authenticator's credential `credentialId` (key and counter) to `other`: the
   * same physical authenticator carried to another machine. */
  async moveCredentialTo(other, credentialId) {
    const credential = (await this.credentials()).find((c) => c.credentialId === credentialId);
    if (!credential) throw new Error(`no credential ${credentialId} to move`);
    await this.removeCredential(credentialId);
    await other.addCredential(credential);
  }

  setUserVerified(isUserVerified) {
    return this.page.send("WebAuthn.setUserVerified", { authenticatorId: this.id, isUserVerified });
  }

  remove() {
    return this.page.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId: this.id });
  }
}
