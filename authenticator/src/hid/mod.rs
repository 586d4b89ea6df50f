//! CTAPHID: framing of CTAP messages into 64-byte HID reports, channels, keep-alive and
//! cancel, and the transports that carry reports (UDP simulator, Linux uhid).
//!
//! - [`packet`]: report framing, shared with the host side ([`crate::client::transport`]).
//! - [`ctaphid`]: the protocol state machine, transport independent and I/O free.
//! - [`server`]: runs the state machine over a transport with a worker thread for the [`App`].
//! - [`udp`], [`uhid`]: the transports.

pub mod app;
pub mod channels;
pub mod command;
mod ctap_app;
pub mod ctaphid;
pub mod descriptor;
pub mod packet;
pub mod server;
pub mod udp;
pub mod uhid;

pub use app::{App, InFlight};
pub use command::{Command, HidError, VendorCommand};
pub use ctap_app::CtapApp;
pub use ctaphid::Config;
pub use packet::{ChannelId, Report, REPORT_SIZE};
pub use server::SharedApp;
pub use udp::UdpTransport;
pub use uhid::UhidTransport;
