//! Reports over a real (or uhid virtual) USB HID device through hidapi.

use std::ffi::{CStr, CString};
use std::time::Duration;

use super::{ReportIo, TransportError};
use crate::hid::packet::{Report, REPORT_SIZE};

/// The FIDO Alliance HID usage page.
pub const FIDO_USAGE_PAGE: u16 = 0xf1d0;
/// The CTAPHID usage on that page.
pub const FIDO_USAGE: u16 = 0x01;

/// One FIDO HID device found by [`list_devices`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HidDeviceInfo {
    pub path: CString,
    pub vendor_id: u16,
    pub product_id: u16,
    pub product: Option<String>,
    pub manufacturer: Option<String>,
}

/// All HID devices exposing the FIDO usage page (0xF1D0, usage 0x01).
pub fn list_devices() -> Result<Vec<HidDeviceInfo>, TransportError> {
    let api = hidapi::HidApi::new()?;
    Ok(api
        .device_list()
        .filter(|d| d.usage_page() == FIDO_USAGE_PAGE && d.usage() == FIDO_USAGE)
        .map(|d| HidDeviceInfo {
            path: d.path().to_owned(),
            vendor_id: d.vendor_id(),
            product_id: d.product_id(),
            product: d.product_string().map(str::to_owned),
            manufacturer: d.manufacturer_string().map(str::to_owned),
        })
        .collect())
}

/// An open hidapi device.
pub struct HidReports {
    device: hidapi::HidDevice,
}

impl std::fmt::Debug for HidReports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HidReports").finish_non_exhaustive()
    }
}

impl HidReports {
    pub fn open(path: &CStr) -> Result<HidReports, TransportError> {
        let api = hidapi::HidApi::new()?;
        let device = api.open_path(path)?;
        Ok(HidReports { device })
    }

    /// Open the first FIDO device found.
    pub fn open_first() -> Result<HidReports, TransportError> {
        let first = list_devices()?
            .into_iter()
            .next()
            .ok_or(TransportError::NoDevice)?;
        Self::open(&first.path)
    }
}

impl ReportIo for HidReports {
    fn send(&self, report: &Report) -> Result<(), TransportError> {
        // hidapi wants the report ID first; the FIDO descriptor has none, so 0.
        let mut buf = [0u8; REPORT_SIZE + 1];
        buf[1..].copy_from_slice(report);
        let written = self.device.write(&buf)?;
        if written < REPORT_SIZE {
            return Err(TransportError::Hid(format!(
                "short HID write: {written} bytes"
            )));
        }
        Ok(())
    }

    fn recv(&self, timeout: Duration) -> Result<Option<Report>, TransportError> {
        let mut report = [0u8; REPORT_SIZE];
        let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        match self.device.read_timeout(&mut report, millis)? {
            0 => Ok(None),
            REPORT_SIZE => Ok(Some(report)),
            n => Err(TransportError::Hid(format!("short HID report: {n} bytes"))),
        }
    }
}
