//! Server-rendered HTML. Every interpolated value goes through [`escape`]; the CSRF token is
//! in a `<meta>` for the script and in hidden fields for forms.

use std::fmt::Write;

use axum::http::StatusCode;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::store::{Account, PasskeyRecord, SignInRecord};

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

fn when(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

fn layout(title: &str, csrf: Option<&str>, body: &str) -> String {
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
<header><a href="/" class="brand">palmkey demo</a></header>
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
<p class="actions"><a class="button" href="/login">Sign in</a>
<a class="button secondary" href="/register">Create an account</a></p>"#,
    )
}

pub fn register(csrf: &str, signed_in: bool) -> String {
    let body = if signed_in {
        r#"<h1>Add a passkey</h1>
<p>Register another authenticator for your account.</p>
<form id="register-form" data-ceremony="register">
<button type="submit">Add passkey</button>
</form>
<p id="status" role="status"></p>"#
            .to_owned()
    } else {
        r#"<h1>Create an account</h1>
<p>Your passkey is your account: no username. The name below is only for display.</p>
<form id="register-form" data-ceremony="register">
<label>Display name (optional) <input name="display_name" maxlength="64" autocomplete="nickname"></label>
<button type="submit">Create passkey</button>
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
<label>Passkey <input name="username" autocomplete="username webauthn" placeholder="choose a passkey"></label>
<button type="submit">Sign in with a passkey</button>
</form>
<p id="status" role="status"></p>
<p>New here? <a href="/register">Create an account</a>.</p>"#,
    )
}

pub fn account(
    csrf: &str,
    account: &Account,
    passkeys: &[PasskeyRecord],
    history: &[SignInRecord],
) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        r#"<h1>{name}</h1>
<p>Member since {since}.</p>
<h2>Your passkeys</h2>
<table class="passkeys">
<thead><tr><th>Name</th><th>Created</th><th>Last used</th><th>Authenticator (AAGUID)</th><th>User verified</th><th>Status</th></tr></thead>
<tbody>
"#,
        name = escape(&account.display_name),
        since = when(account.created),
    );
    for p in passkeys {
        let _ = writeln!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            escape(&p.name),
            when(p.created),
            p.last_used.map(when).unwrap_or_else(|| "never".into()),
            p.aaguid,
            if p.user_verified { "yes" } else { "no" },
            match p.counter_regression {
                Some(at) => format!(
                    r#"<span class="flag">signature counter went backwards at {}</span>"#,
                    when(at)
                ),
                None => "ok".into(),
            },
        );
    }
    body.push_str("</tbody>\n</table>\n<h2>Recent sign-ins</h2>\n<ul class=\"history\">\n");
    for h in history {
        let _ = writeln!(body, "<li>{} — {}</li>", when(h.at), escape(&h.outcome));
    }
    let _ = write!(
        body,
        r#"</ul>
<p class="actions"><a class="button secondary" href="/register">Add a passkey</a></p>
<form method="post" action="/logout">
<input type="hidden" name="csrf" value="{}">
<button type="submit">Sign out</button>
</form>"#,
        escape(csrf)
    );
    layout("Your account", Some(csrf), &body)
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
