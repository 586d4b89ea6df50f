//! Finding and opening authenticators: USB HID devices on the FIDO usage page, and `palmkey
//! serve` simulators at known UDP addresses (probed with a short CTAPHID INIT).

use std::ffi::CString;
use std::net::SocketAddr;
use std::time::Duration;

use palmkey::client::transport::{
    list_devices, CancelToken, CtapHid, HidReports, TransportError, UdpReports,
};
use palmkey::client::{AuthenticatorInfo, BioCommand, BioEnrollment, Client};
use serde::Serialize;

use super::error::{AppError, AppResult};

/// How long a simulator address may take to answer CTAPHID INIT during discovery.
const PROBE_TIMEOUT: Duration = Duration::from_millis(400);

/// Where an authenticator is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceAddress {
    /// A USB (or uhid) HID device, by its hidraw path.
    Hid { path: String },
    /// A `palmkey serve` simulator's CTAPHID-over-UDP address.
    Udp { addr: SocketAddr },
}

impl DeviceAddress {
    /// `hid:<path>` or `udp:<addr>`: the ID the UI passes back to connect.
    pub fn id(&self) -> String {
        match self {
            DeviceAddress::Hid { path } => format!("hid:{path}"),
            DeviceAddress::Udp { addr } => format!("udp:{addr}"),
        }
    }

    pub fn parse(id: &str) -> AppResult<DeviceAddress> {
        if let Some(path) = id.strip_prefix("hid:") {
            return Ok(DeviceAddress::Hid { path: path.into() });
        }
        if let Some(addr) = id.strip_prefix("udp:") {
            let addr = addr
                .parse()
                .map_err(|_| AppError::Invalid(format!("not a UDP address: {addr:?}")))?;
            return Ok(DeviceAddress::Udp { addr });
        }
        Err(AppError::Invalid(format!("unknown device ID {id:?}")))
    }

    pub fn is_simulator(&self) -> bool {
        matches!(self, DeviceAddress::Udp { .. })
    }

    fn open(&self, timeout: Duration) -> Result<CtapHid, TransportError> {
        match self {
            DeviceAddress::Hid { path } => {
                let path = CString::new(path.as_bytes())
                    .map_err(|_| TransportError::Hid("device path contains NUL".into()))?;
                CtapHid::connect_with_timeout(Box::new(HidReports::open(&path)?), timeout)
            }
            DeviceAddress::Udp { addr } => {
                CtapHid::connect_with_timeout(Box::new(UdpReports::connect(*addr)?), timeout)
            }
        }
    }
}

/// One authenticator found by [`discover`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FoundDevice {
    pub id: String,
    /// "usb" or "simulator".
    pub kind: &'static str,
    pub label: String,
    pub detail: String,
}

/// Result of a discovery pass: the devices, and why HID could not be listed (if it could not).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Discovery {
    pub devices: Vec<FoundDevice>,
    pub hid_error: Option<String>,
}

/// HID devices on the FIDO usage page, then every simulator address that answers.
pub fn discover(simulators: &[SocketAddr]) -> Discovery {
    let mut devices = Vec::new();
    let hid_error = match list_devices() {
        Ok(list) => {
            for d in list {
                let path = d.path.to_string_lossy().into_owned();
                devices.push(FoundDevice {
                    id: DeviceAddress::Hid { path: path.clone() }.id(),
                    kind: "usb",
                    label: d
                        .product
                        .clone()
                        .filter(|p| !p.is_empty())
                        .unwrap_or_else(|| "FIDO security key".into()),
                    detail: format!(
                        "{} · {:04x}:{:04x} · {path}",
                        d.manufacturer.as_deref().unwrap_or("unknown maker"),
                        d.vendor_id,
                        d.product_id
                    ),
                });
            }
            None
        }
        Err(e) => Some(e.to_string()),
    };
    for addr in simulators {
        let address = DeviceAddress::Udp { addr: *addr };
        if address.open(PROBE_TIMEOUT).is_ok() {
            devices.push(FoundDevice {
                id: address.id(),
                kind: "simulator",
                label: "palmkey simulator".into(),
                detail: format!("CTAPHID over UDP at {addr}"),
            });
        }
    }
    Discovery { devices, hid_error }
}

/// An open authenticator: the typed client, what it said about itself, and a handle that
/// cancels its request in progress from another thread.
#[derive(Debug)]
pub struct Connection {
    pub address: DeviceAddress,
    pub client: Client<CtapHid>,
    pub info: AuthenticatorInfo,
    pub cancel: CancelToken,
    /// Bio enrollment command and modality, when the authenticator offers bio enrollment.
    bio: Option<(BioCommand, u8)>,
}

impl Connection {
    pub fn open(address: DeviceAddress) -> AppResult<Connection> {
        let transport = address
            .open(palmkey::client::transport::DEFAULT_TIMEOUT)
            .map_err(|e| AppError::from(palmkey::client::ClientError::from(e)))?;
        let cancel = transport.cancel_token();
        let mut client = Client::new(transport);
        let info = client.get_info()?;
        let bio = match BioCommand::advertised_by(&info) {
            Some(command) => Some((command, client.bio_enrollment()?.modality())),
            None => None,
        };
        Ok(Connection {
            address,
            client,
            info,
            cancel,
            bio,
        })
    }

    /// Bio enrollment on this connection (`Unsupported` when the authenticator has none).
    pub fn bio(&mut self) -> AppResult<BioEnrollment<'_, CtapHid>> {
        let (command, modality) = self.bio.ok_or(AppError::Unsupported("bio enrollment"))?;
        Ok(self.client.bio_enrollment_with(command, modality))
    }

    pub fn has_bio(&self) -> bool {
        self.bio.is_some()
    }

    /// getInfo again (after PIN changes, enrollments, reset).
    pub fn refresh_info(&mut self) -> AppResult<&AuthenticatorInfo> {
        self.info = self.client.get_info()?;
        Ok(&self.info)
    }

    /// The key under which this device's PIN and records are kept: its AAGUID.
    pub fn device_key(&self) -> String {
        hex::encode(self.info.aaguid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids_round_trip() {
        for a in [
            DeviceAddress::Hid {
                path: "/dev/hidraw3".into(),
            },
            DeviceAddress::Udp {
                addr: "127.0.0.1:8111".parse().unwrap(),
            },
        ] {
            assert_eq!(DeviceAddress::parse(&a.id()).unwrap(), a);
        }
        assert!(DeviceAddress::parse("usb:1").is_err());
        assert!(DeviceAddress::parse("udp:nonsense").is_err());
    }

    #[test]
    fn a_silent_simulator_address_is_not_listed() {
        let port = palmkey::client::simulator::free_udp_port().unwrap();
        let found = discover(&[SocketAddr::from(([127, 0, 0, 1], port))]);
        assert!(found.devices.iter().all(|d| d.kind != "simulator"));
    }
}
