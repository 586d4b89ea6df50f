//! CTAPHID: framing of CTAP messages into 64-byte HID reports, channels, keep-alive and
//! cancel, and the transports that carry reports (UDP simulator, Linux uhid).

pub mod command;
pub mod packet;

pub use command::{Command, HidError, VendorCommand};
pub use packet::{ChannelId, Report, REPORT_SIZE};
pub mod app;
pub mod channels;
pub mod ctaphid;

pub use app::App;
pub mod server;
