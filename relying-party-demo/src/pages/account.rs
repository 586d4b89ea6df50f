//! The account page: passkeys (rename, delete), saved payment methods, sign-in history.

use std::fmt::Write;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::{escape, layout, when};
use crate::authenticators;
use crate::store::shop::PaymentMethod;
use crate::store::{Account, PasskeyRecord, SignInRecord};

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn backup(p: &PasskeyRecord) -> &'static str {
    match (p.backup_eligible, p.backup_state) {
        (false, _) => "device-bound",
        (true, false) => "syncable, not backed up",
        (true, true) => "synced",
    }
}

fn passkey_row(body: &mut String, csrf: &str, p: &PasskeyRecord) {
    let id = URL_SAFE_NO_PAD.encode(&p.credential_id);
    let status = match p.counter_regression {
        Some(at) => format!(
            r#"<span class="flag">signature counter went backwards at {}</span>"#,
            when(at)
        ),
        None => "ok".into(),
    };
    let _ = write!(
        body,
        r#"<tr class="passkey" data-credential-id="{id}">
<td class="passkey-name">{name}</td>
<td class="passkey-created">{created}</td>
<td class="passkey-last-used">{last}</td>
<td class="passkey-authenticator">{model}<br><code>{aaguid}</code></td>
<td class="passkey-uv">{uv}</td>
<td class="passkey-backup">{backup}</td>
<td class="passkey-status">{status}</td>
<td class="passkey-actions">
<form class="rename-passkey" method="post" action="/account/passkeys/rename">
<input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="credential_id" value="{id}">
<label>New name <input name="name" maxlength="64" required value="{name}"></label>
<button type="submit">Rename</button>
</form>
<form class="delete-passkey" method="post" action="/account/passkeys/delete">
<input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="credential_id" value="{id}">
<button type="submit" class="danger" aria-label="Delete passkey {name}">Delete</button>
</form>
</td>
</tr>
"#,
        name = escape(&p.name),
        created = when(p.created),
        last = p.last_used.map(when).unwrap_or_else(|| "never".into()),
        model = escape(authenticators::name(p.aaguid)),
        aaguid = p.aaguid,
        uv = yes_no(p.user_verified),
        backup = backup(p),
        csrf = escape(csrf),
    );
}

pub fn account(
    csrf: &str,
    account: &Account,
    passkeys: &[PasskeyRecord],
    payment_methods: &[PaymentMethod],
    history: &[SignInRecord],
) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        r#"<h1 id="account-name">{name}</h1>
<p>Member number <strong id="member-id">{member}</strong> · member since {since}.</p>
<h2>Your passkeys</h2>
<table id="passkeys">
<thead><tr><th>Name</th><th>Created</th><th>Last used</th><th>Authenticator</th><th>User verified</th><th>Backup</th><th>Status</th><th>Manage</th></tr></thead>
<tbody>
"#,
        name = escape(&account.display_name),
        member = escape(&account.member_id()),
        since = when(account.created),
    );
    for p in passkeys {
        passkey_row(&mut body, csrf, p);
    }
    body.push_str(
        "</tbody>\n</table>\n<p class=\"actions\"><a id=\"add-passkey\" class=\"button secondary\" href=\"/register\">Add a passkey</a></p>\n",
    );
    body.push_str(
        "<h2>Payment methods</h2>\n<p>Used when you pay in store with your palm (the newest is the default). \
         This demo keeps only a token and a label: no card numbers.</p>\n<table id=\"payment-methods\">\n\
         <thead><tr><th>Card</th><th>Added</th></tr></thead>\n<tbody>\n",
    );
    for (i, m) in payment_methods.iter().enumerate() {
        let _ = writeln!(
            body,
            r#"<tr class="payment-method" data-payment-method-id="{}"><td>{}{}</td><td>{}</td></tr>"#,
            m.id,
            escape(&m.display()),
            if i == 0 { " (default)" } else { "" },
            when(m.created)
        );
    }
    let _ = write!(
        body,
        r#"</tbody>
</table>
<form id="add-payment-method" method="post" action="/account/payment-methods">
<input type="hidden" name="csrf" value="{csrf}">
<label for="pm-label">Card label</label>
<input id="pm-label" name="label" maxlength="32" required placeholder="Visa">
<label for="pm-last4">Last 4 digits</label>
<input id="pm-last4" name="last4" required pattern="[0-9]{{4}}" inputmode="numeric" maxlength="4" placeholder="4242">
<button id="add-payment-method-button" type="submit">Save payment method</button>
</form>
<h2>Recent sign-ins</h2>
<ul id="sign-in-history" class="history">
"#,
        csrf = escape(csrf)
    );
    for h in history {
        let _ = writeln!(body, "<li>{} — {}</li>", when(h.at), escape(&h.outcome));
    }
    let _ = write!(
        body,
        r#"</ul>
<form id="logout-form" method="post" action="/logout">
<input type="hidden" name="csrf" value="{}">
<button id="logout-button" type="submit">Sign out</button>
</form>"#,
        escape(csrf)
    );
    layout("Your account", Some(csrf), &body)
}
