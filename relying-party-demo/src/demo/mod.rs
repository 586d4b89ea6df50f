//! The end-to-end demo: synthetic people enroll their palm on a simulated palm terminal,
//! create a passkey on the web shop by palm, sign in by palm without a username, and pay in
//! store by palm — with palmkey's CTAP client acting as the browser, over real HTTP and
//! CTAPHID/UDP — and a few people try what must fail (someone else's palm, a stranger, a
//! photo). Every step is timed; [`Report::table`] prints what happened.

pub mod web;

use std::fmt::Write;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use palmkey::client::transport::CtapHid;
use palmkey::client::{Client, Permission, SimulatedHand};
use serde_json::{json, Value};
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse};

use crate::browser::{Browser, BrowserError, UserVerification};
use crate::terminal::Terminal;
use web::{Tab, WebError};

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("web: {0}")]
    Web(#[from] WebError),
    #[error("{0}")]
    Browser(#[from] BrowserError),
    #[error("authenticator admin: {0}")]
    Admin(#[from] palmkey::client::ClientError),
    #[error("{0}")]
    Unexpected(String),
}

/// A synthetic person: the simulated sensor renders their palm from `identity`.
#[derive(Debug, Clone)]
pub struct Person {
    pub name: String,
    pub identity: u64,
    pub card_last4: String,
}

/// The demo's cast.
pub fn cast() -> Vec<Person> {
    [
        ("Ada", 1101, "4242"),
        ("Bea", 2202, "5555"),
        ("Chen", 3303, "1881"),
    ]
    .into_iter()
    .map(|(name, identity, last4)| Person {
        name: name.into(),
        identity,
        card_last4: last4.into(),
    })
    .collect()
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Step {
    pub who: String,
    pub step: String,
    pub outcome: String,
    /// True when the step ended as it must (for the failure cases: refused).
    pub as_expected: bool,
    pub took: Duration,
}

#[derive(Debug, Default)]
pub struct Report {
    pub steps: Vec<Step>,
}

impl Report {
    pub fn all_as_expected(&self) -> bool {
        !self.steps.is_empty() && self.steps.iter().all(|s| s.as_expected)
    }

    fn push(&mut self, who: &str, step: &str, took: Duration, result: Result<String, String>) {
        let (as_expected, outcome) = match result {
            Ok(o) => (true, o),
            Err(e) => (false, e),
        };
        self.steps.push(Step {
            who: who.to_owned(),
            step: step.to_owned(),
            outcome,
            as_expected,
            took,
        });
    }

    /// A plain-text table: who, step, result, time.
    pub fn table(&self) -> String {
        let w_who = self
            .steps
            .iter()
            .map(|s| s.who.chars().count())
            .max()
            .unwrap_or(3)
            .max(3);
        let w_step = self
            .steps
            .iter()
            .map(|s| s.step.chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        let w_out = self
            .steps
            .iter()
            .map(|s| s.outcome.chars().count())
            .max()
            .unwrap_or(7)
            .max(7);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<w_who$}  {:<w_step$}  {:<4}  {:<w_out$}  {:>9}",
            "who", "step", "ok?", "outcome", "time"
        );
        let _ = writeln!(out, "{}", "-".repeat(w_who + w_step + w_out + 4 + 9 + 8));
        for s in &self.steps {
            let _ = writeln!(
                out,
                "{:<w_who$}  {:<w_step$}  {:<4}  {:<w_out$}  {:>6.1} ms",
                s.who,
                s.step,
                if s.as_expected { "yes" } else { "NO" },
                s.outcome,
                s.took.as_secs_f64() * 1e3
            );
        }
        out
    }
}

/// What the demo keeps about an enrolled, registered person.
struct Member {
    person: Person,
    member_id: String,
    credential_id: Option<Vec<u8>>,
    tab: Tab,
}

/// Drives the scenario against a running site (`base`, reached as `origin` by browsers).
pub struct Scenario<'a> {
    pub terminal: &'a Terminal,
    pub base: String,
    pub origin: String,
    /// The terminal administrator's PIN (set on a fresh terminal).
    pub admin_pin: String,
    /// The first member number the (fresh) site will hand out.
    pub first_member_no: i64,
}

fn timed<T>(f: impl FnOnce() -> Result<T, DemoError>) -> (Duration, Result<T, String>) {
    let start = Instant::now();
    let result = f().map_err(|e| e.to_string());
    (start.elapsed(), result)
}

fn expect(cond: bool, what: impl Into<String>) -> Result<(), DemoError> {
    if cond {
        Ok(())
    } else {
        Err(DemoError::Unexpected(what.into()))
    }
}

impl Scenario<'_> {
    fn admin(&self) -> Result<Client<CtapHid>, DemoError> {
        let mut client = self.terminal.client()?;
        let info = client.get_info()?;
        if info.options.get("clientPin") != Some(&true) {
            let protocol = client.preferred_protocol()?;
            client.set_pin(protocol, &self.admin_pin)?;
        }
        Ok(client)
    }

    fn browser(&self) -> Result<Browser<CtapHid>, DemoError> {
        Ok(Browser::new(
            self.terminal.client()?,
            self.origin.clone(),
            UserVerification::BuiltIn,
        ))
    }

    /// The whole story for `people`; the report says what happened.
    pub fn run(&self, people: &[Person]) -> Result<Report, DemoError> {
        let mut report = Report::default();
        let mut admin = self.admin()?;
        let mut members = Vec::new();
        for (i, person) in people.iter().enumerate() {
            let member_id = format!("M-{}", self.first_member_no + i as i64);
            let (took, result) = timed(|| enroll(&mut admin, &self.admin_pin, person, &member_id));
            report.push(&person.name, "enroll palm (bio enrollment)", took, result);
            members.push(Member {
                person: person.clone(),
                member_id,
                credential_id: None,
                tab: Tab::new(&self.base),
            });
        }
        let mut browser = self.browser()?;
        let mut pos_tab = Tab::new(&self.base);
        for m in &mut members {
            let who = m.person.name.clone();
            let (took, result) = timed(|| self.register(&mut browser, m));
            report.push(&who, "register passkey by palm", took, result);
            let (took, result) = timed(|| self.sign_out(m));
            report.push(&who, "sign out", took, result);
            let (took, result) = timed(|| self.palm_login(&mut browser, m));
            report.push(&who, "usernameless palm sign-in", took, result);
            let (took, result) = timed(|| self.pos_purchase(&mut browser, &mut pos_tab, m));
            report.push(&who, "in-store purchase by palm", took, result);
        }
        if members.len() >= 2 {
            let (victim, intruder) = (&members[0], &members[1]);
            let (took, result) = timed(|| self.other_palm(&mut browser, victim, intruder));
            report.push(
                &intruder.person.name,
                &format!("sign in as {} with own palm", victim.person.name),
                took,
                result,
            );
        }
        if let Some(first) = members.first() {
            let stranger = SimulatedHand::Synthetic {
                identity: 9_999_999,
            };
            let (took, result) = timed(|| self.refused_login(&mut browser, &stranger));
            report.push("stranger", "palm sign-in, not enrolled", took, result);
            let photo = SimulatedHand::PhotoAttack {
                identity: first.person.identity,
            };
            let (took, result) = timed(|| self.refused_login(&mut browser, &photo));
            report.push(
                "attacker",
                &format!("photo of {}'s palm", first.person.name),
                took,
                result,
            );
        }
        let (took, result) = timed(|| rearm_palm_uv(&mut admin, &self.admin_pin));
        report.push("admin", "PIN re-arms palm UV retries", took, result);
        // Leave the first person's palm on the sensor, for a real browser afterwards.
        if let Some(first) = people.first() {
            admin.set_simulated_hand(&SimulatedHand::Synthetic {
                identity: first.identity,
            })?;
        }
        Ok(report)
    }

    fn register(
        &self,
        browser: &mut Browser<CtapHid>,
        m: &mut Member,
    ) -> Result<String, DemoError> {
        hand(browser, m.person.identity)?;
        m.tab.get("/register")?;
        let start = m
            .tab
            .post_json("/register/start", &json!({ "display_name": m.person.name }))?;
        let options: CreationChallengeResponse = parse(&start.body)?;
        let credential = browser.create(&options)?;
        m.credential_id = Some(credential.raw_id.to_vec());
        m.tab.post_json("/register/finish", &credential)?;
        let account = m.tab.get("/account")?;
        let shown = account.text_of("member-id").unwrap_or_default();
        expect(
            shown == m.member_id,
            format!(
                "account shows member {shown:?}, the terminal enrolled {:?}",
                m.member_id
            ),
        )?;
        m.tab.post_form(
            "/account/payment-methods",
            &[("label", "Visa"), ("last4", &m.person.card_last4)],
        )?;
        Ok(format!(
            "account {} + passkey (UV by palm{}), card ···· {} saved",
            m.member_id,
            reads(browser),
            m.person.card_last4
        ))
    }

    fn sign_out(&self, m: &mut Member) -> Result<String, DemoError> {
        m.tab.get("/account")?;
        m.tab.post_form("/logout", &[])?;
        let after = m.tab.get("/account")?;
        expect(
            after.location.as_deref() == Some("/login"),
            "still signed in after sign-out",
        )?;
        Ok("session ended".into())
    }

    fn palm_login(
        &self,
        browser: &mut Browser<CtapHid>,
        m: &mut Member,
    ) -> Result<String, DemoError> {
        hand(browser, m.person.identity)?;
        m.tab.get("/login")?;
        let start = m.tab.post_json("/login/start", &json!({}))?;
        let options: RequestChallengeResponse = parse(&start.body)?;
        let assertion = browser.get(&options)?;
        m.tab.post_json("/login/finish", &assertion)?;
        let account = m.tab.get("/account")?;
        let (name, member) = (
            account.text_of("account-name").unwrap_or_default(),
            account.text_of("member-id").unwrap_or_default(),
        );
        expect(
            name == m.person.name && member == m.member_id,
            format!(
                "signed in as {name} {member}, expected {} {}",
                m.person.name, m.member_id
            ),
        )?;
        Ok(format!(
            "signed in as {name} {member}, no username typed{}",
            reads(browser)
        ))
    }

    fn pos_purchase(
        &self,
        browser: &mut Browser<CtapHid>,
        pos: &mut Tab,
        m: &mut Member,
    ) -> Result<String, DemoError> {
        pos.get("/pos")?;
        let items = json!({ "items": [
            { "sku": "COFFEE", "qty": 1 },
            { "sku": "CROISSANT", "qty": 2 },
        ]});
        let start = pos.post_json("/pos/pay/start", &items)?;
        let options: RequestChallengeResponse = parse(&start.body)?;
        hand(browser, m.person.identity)?;
        let assertion = browser.get(&options)?;
        let paid: Value = parse(&pos.post_json("/pos/pay/finish", &assertion)?.body)?;
        let member = paid["member"].as_str().unwrap_or_default();
        expect(
            member == m.member_id,
            format!("the palm paid as {member}, expected {}", m.member_id),
        )?;
        let order_id = paid["order_id"].as_i64().unwrap_or_default();
        let receipt = pos.get(&format!("/pos/receipt/{order_id}"))?;
        expect(receipt.status == 200, "no receipt on the terminal")?;
        let terminal_account = pos.get("/account")?;
        expect(
            terminal_account.location.as_deref() == Some("/login"),
            "the terminal got a member session",
        )?;
        let orders = m.tab.get("/orders")?;
        expect(
            orders
                .body
                .contains(&format!(r#"data-order-id="{order_id}""#))
                && orders.body.contains("in store"),
            "the purchase is not in the member's online order history",
        )?;
        Ok(format!(
            "order #{order_id} {} for {member}{}; receipt printed; in online history; terminal signed out",
            paid["total"].as_str().unwrap_or_default(),
            reads(browser)
        ))
    }

    /// The site asks for `victim`'s passkey specifically (as a username-first site would);
    /// `intruder` holds out their own palm. Palm UV identifies the intruder, and the
    /// authenticator shows only the intruder's credentials: nothing for the victim's ID.
    fn other_palm(
        &self,
        browser: &mut Browser<CtapHid>,
        victim: &Member,
        intruder: &Member,
    ) -> Result<String, DemoError> {
        let victim_credential = victim
            .credential_id
            .as_ref()
            .ok_or_else(|| DemoError::Unexpected("victim has no passkey".into()))?;
        let mut tab = Tab::new(&self.base);
        tab.get("/login")?;
        let start = tab.post_json("/login/start", &json!({}))?;
        let mut options: Value = parse(&start.body)?;
        options["publicKey"]["allowCredentials"] = json!([{
            "type": "public-key",
            "id": URL_SAFE_NO_PAD.encode(victim_credential),
        }]);
        let options: RequestChallengeResponse = serde_json::from_value(options)
            .map_err(|e| DemoError::Unexpected(format!("options: {e}")))?;
        hand(browser, intruder.person.identity)?;
        match browser.get(&options) {
            Ok(_) => Err(DemoError::Unexpected(format!(
                "{}'s palm produced an assertion for {}'s passkey",
                intruder.person.name, victim.person.name
            ))),
            Err(e) => Ok(format!("refused by the terminal ({e})")),
        }
    }

    /// A usernameless sign-in that must not happen.
    fn refused_login(
        &self,
        browser: &mut Browser<CtapHid>,
        on_sensor: &SimulatedHand,
    ) -> Result<String, DemoError> {
        let mut tab = Tab::new(&self.base);
        tab.get("/login")?;
        let start = tab.post_json("/login/start", &json!({}))?;
        let options: RequestChallengeResponse = parse(&start.body)?;
        browser.client_mut().set_simulated_hand(on_sensor)?;
        match browser.get(&options) {
            Ok(assertion) => {
                let reply = tab.post_json_raw("/login/finish", &assertion)?;
                Err(DemoError::Unexpected(format!(
                    "an assertion was made; the site answered {}",
                    reply.status
                )))
            }
            Err(e) => Ok(format!("refused by the terminal ({e})")),
        }
    }
}

/// ", 2 palm reads" when the palm needed another try.
fn reads(browser: &Browser<CtapHid>) -> String {
    match browser.last_uv_attempts() {
        0 | 1 => String::new(),
        n => format!(", {n} palm reads"),
    }
}

fn hand(browser: &mut Browser<CtapHid>, identity: u64) -> Result<(), DemoError> {
    browser
        .client_mut()
        .set_simulated_hand(&SimulatedHand::Synthetic { identity })?;
    Ok(())
}

fn parse<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, DemoError> {
    serde_json::from_str(body).map_err(|e| DemoError::Unexpected(format!("{e}: {body}")))
}

/// Refused palms used up palm-UV attempts; the administrator's PIN restores them (CTAP 2.1:
/// a PIN token resets the UV retry counter), so the terminal is ready for the next customer.
fn rearm_palm_uv(admin: &mut Client<CtapHid>, pin: &str) -> Result<String, DemoError> {
    let before = admin.uv_retries()?;
    let protocol = admin.preferred_protocol()?;
    admin.get_pin_uv_auth_token(protocol, pin, Permission::BE, None)?;
    let after = admin.uv_retries()?;
    expect(after >= before, "UV retries went down")?;
    Ok(format!("palm UV retries {before} -> {after}"))
}

/// Bio enrollment of `person` under their member ID, by the terminal administrator.
pub fn enroll(
    admin: &mut Client<CtapHid>,
    pin: &str,
    person: &Person,
    member_id: &str,
) -> Result<String, DemoError> {
    admin.set_simulated_hand(&SimulatedHand::Synthetic {
        identity: person.identity,
    })?;
    let protocol = admin.preferred_protocol()?;
    let token = admin.get_pin_uv_auth_token(protocol, pin, Permission::BE, None)?;
    let mut samples = 0;
    let template = admin
        .bio_enrollment()?
        .enroll(&token, Some(member_id), |_| samples += 1)?;
    Ok(format!(
        "template {} named {member_id}, {samples} samples",
        hex::encode(&template[..template.len().min(4)])
    ))
}
