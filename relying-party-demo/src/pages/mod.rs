//! Server-rendered HTML. Every interpolated value goes through [`escape`]; the CSRF token is
//! in a `<meta>` for the script and in hidden fields for forms. Element ids are a contract
//! with the browser tests (/work/notes/rp-pages.md): keep them stable.

mod account;
pub mod shop;

pub use account::account;
pub use shop::{orders, pos, receipt, shop};

use axum::http::StatusCode;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// HTML-escape text for element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn when(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

pub(crate) fn layout(title: &str, csrf: Option<&str>, body: &str) -> String {
    let meta = csrf
        .map(|t| format!(r#"<meta name="csrf-token" content="{}">"#, escape(t)))
        .unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{meta}
<title>{title} · palmkey demo</title>
<link rel="stylesheet" href="/static/app.css">
<script src="/static/webauthn.js" defer></script>
</head>
<body>
<header>
<a href="/" class="brand">palmkey demo shop</a>
<nav aria-label="main"><a id="nav-shop" href="/shop">Shop</a> <a id="nav-orders" href="/orders">Orders</a> <a id="nav-account" href="/account">Account</a> <a id="nav-pos" href="/pos">In-store POS</a></nav>
</header>
<main>
{body}
</main>
</body>
</html>
"#,
        title = escape(title),
    )
}

pub fn home(csrf: &str) -> String {
    layout(
        "Welcome",
        Some(csrf),
        r#"<h1>Passwordless, by palm</h1>
<p>Sign in with a passkey: no username, no password. On a palmkey terminal your palm is the
verification.</p>
<p class="actions"><a id="nav-login" class="button" href="/login">Sign in</a>
<a id="nav-register" class="button secondary" href="/register">Create an account</a></p>
<p>Members pay in store with their palm at the shared terminal: <a href="/pos">in-store POS</a>.</p>"#,
    )
}

pub fn register(csrf: &str, signed_in: bool) -> String {
    let body = if signed_in {
        r#"<h1>Add a passkey</h1>
<p>Register another authenticator for your account.</p>
<form id="register-form" data-ceremony="register">
<button id="register-button" type="submit">Add passkey</button>
</form>
<p id="status" role="status"></p>"#
            .to_owned()
    } else {
        r#"<h1>Create an account</h1>
<p>Your passkey is your account: no username. The name below is only for display.</p>
<form id="register-form" data-ceremony="register">
<label for="display-name">Display name (optional)</label>
<input id="display-name" name="display_name" maxlength="64" autocomplete="nickname">
<button id="register-button" type="submit">Create passkey</button>
</form>
<p id="status" role="status"></p>
<p>Already registered? <a href="/login">Sign in</a>.</p>"#
            .to_owned()
    };
    layout("Register", Some(csrf), &body)
}

pub fn login(csrf: &str) -> String {
    layout(
        "Sign in",
        Some(csrf),
        r#"<h1>Sign in</h1>
<form id="login-form" data-ceremony="login">
<!-- Conditional UI: browsers offer saved passkeys in this field's autofill. -->
<label for="passkey-autofill">Passkey</label>
<input id="passkey-autofill" name="username" autocomplete="username webauthn" placeholder="choose a passkey">
<button id="login-button" type="submit">Sign in with a passkey</button>
</form>
<p id="status" role="status"></p>
<p>New here? <a href="/register">Create an account</a>.</p>"#,
    )
}

pub fn error_page(status: StatusCode, message: &str) -> String {
    let body = format!(
        r#"<h1>{}</h1>
<p class="error">{}</p>
<p><a href="/">Back to the start</a></p>"#,
        escape(status.canonical_reason().unwrap_or("Error")),
        escape(message)
    );
    layout("Error", None, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
