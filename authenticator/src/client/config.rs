//! authenticatorConfig (0x0D). pinUvAuthParam = authenticate(token, 32×0xFF || 0x0D ||
//! subCommand || subCommandParams).

use ciborium::Value;

use super::pin::PinUvAuthToken;
use crate::ctap::cbor::{bytes, encode, MapBuilder};

/// An authenticatorConfig subcommand with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigCommand {
    EnableEnterpriseAttestation,
    ToggleAlwaysUv,
    SetMinPinLength {
        new_min_pin_length: Option<u64>,
        min_pin_length_rp_ids: Vec<String>,
        force_change_pin: bool,
    },
}

impl ConfigCommand {
    fn subcommand(&self) -> u8 {
        match self {
            ConfigCommand::EnableEnterpriseAttestation => 0x01,
            ConfigCommand::ToggleAlwaysUv => 0x02,
            ConfigCommand::SetMinPinLength { .. } => 0x03,
        }
    }

    fn params(&self) -> Option<Value> {
        match self {
            ConfigCommand::SetMinPinLength {
                new_min_pin_length,
                min_pin_length_rp_ids,
                force_change_pin,
            } => {
                let rp_ids = (!min_pin_length_rp_ids.is_empty()).then(|| {
                    Value::Array(
                        min_pin_length_rp_ids
                            .iter()
                            .map(|s| Value::from(s.as_str()))
                            .collect(),
                    )
                });
                Some(
                    MapBuilder::new()
                        .insert_opt(0x01, *new_min_pin_length)
                        .insert_opt(0x02, rp_ids)
                        .insert_opt(0x03, force_change_pin.then_some(true))
                        .build(),
                )
            }
            _ => None,
        }
    }

    /// The CBOR parameters, authenticated with `token` when given.
    pub(crate) fn to_cbor(&self, token: Option<&PinUvAuthToken>) -> Vec<u8> {
        let params = self.params();
        let auth = token.map(|t| {
            let mut message = vec![0xFF; 32];
            message.push(0x0D);
            message.push(self.subcommand());
            if let Some(p) = &params {
                message.extend_from_slice(&encode(p.clone()));
            }
            t.authenticate(&message)
        });
        encode(
            MapBuilder::new()
                .insert(0x01, self.subcommand())
                .insert_opt(0x02, params)
                .insert_opt(0x03, auth.as_ref().map(|a| a.protocol))
                .insert_opt(0x04, auth.map(|a| bytes(a.param)))
                .build(),
        )
    }
}
