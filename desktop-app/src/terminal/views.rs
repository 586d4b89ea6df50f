//! What the command layer hands to the UI (serialized as camelCase JSON).

use palmkey::client::AuthenticatorInfo;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionView {
    pub name: String,
    pub value: bool,
}

/// getInfo and the retry counters of the connected authenticator.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceView {
    pub id: String,
    pub simulator: bool,
    pub versions: Vec<String>,
    pub extensions: Vec<String>,
    /// Formatted as a UUID.
    pub aaguid: String,
    pub options: Vec<OptionView>,
    pub pin_set: bool,
    pub min_pin_length: u64,
    pub remaining_credentials: Option<u64>,
    pub pin_retries: Option<u8>,
    pub uv_retries: Option<u8>,
    pub pin_protocols: Vec<u8>,
    pub transports: Vec<String>,
    pub algorithms: Vec<i64>,
    pub max_msg_size: Option<u64>,
    pub firmware_version: Option<u64>,
    pub bio_enrollment: bool,
    pub uv_modality: Option<u64>,
}

impl DeviceView {
    pub fn new(
        id: String,
        simulator: bool,
        info: &AuthenticatorInfo,
        pin_retries: Option<u8>,
        uv_retries: Option<u8>,
    ) -> DeviceView {
        DeviceView {
            id,
            simulator,
            versions: info.versions.clone(),
            extensions: info.extensions.clone(),
            aaguid: uuid::Uuid::from_bytes(info.aaguid).hyphenated().to_string(),
            options: info
                .options
                .iter()
                .map(|(name, value)| OptionView {
                    name: name.clone(),
                    value: *value,
                })
                .collect(),
            pin_set: info.pin_is_set(),
            min_pin_length: info.min_pin_length.unwrap_or(4),
            remaining_credentials: info.remaining_discoverable_credentials,
            pin_retries,
            uv_retries,
            pin_protocols: info.pin_uv_auth_protocols.clone(),
            transports: info.transports.clone(),
            algorithms: info.algorithms.iter().map(|a| a.alg).collect(),
            max_msg_size: info.max_msg_size,
            firmware_version: info.firmware_version,
            bio_enrollment: palmkey::client::BioCommand::advertised_by(info).is_some(),
            uv_modality: info.uv_modality,
        }
    }
}

/// The state the whole UI hangs off: connection, lock, where the PIN is kept.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub connected: bool,
    pub device_id: Option<String>,
    pub simulator: bool,
    pub pin_set: bool,
    pub unlocked: bool,
    pub pin_remembered: bool,
    pub vault: String,
    pub vault_is_keyring: bool,
    pub idle_timeout_secs: u64,
    pub bio_enrollment: bool,
    pub enrollment_in_progress: bool,
    pub audit_log: String,
}

/// One enrolled person.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonView {
    pub template_id: String,
    pub member_id: Option<String>,
    /// From this app's local record; `None` when enrolled elsewhere or before the record.
    pub enrolled_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialView {
    pub credential_id: String,
    pub user_id: String,
    pub user_name: Option<String>,
    pub display_name: Option<String>,
}

/// One relying party and its discoverable credentials.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RpView {
    pub rp_id: String,
    pub rp_name: Option<String>,
    pub credentials: Vec<CredentialView>,
}
