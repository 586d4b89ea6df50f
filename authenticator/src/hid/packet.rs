//! CTAPHID report framing (CTAP 2.1 §11.2.4): a message travels as one initialization packet
//! followed by up to 128 continuation packets, each exactly one 64-byte HID report.
//!
//! Pure and I/O free: the device side ([`crate::hid`]) and the host side
//! ([`crate::client::transport`]) both frame and reassemble with this module.

use thiserror::Error;

/// Size of one HID report (the FIDO report descriptor declares 64-byte reports both ways).
pub const REPORT_SIZE: usize = 64;
/// Payload bytes carried by an initialization packet (CID 4 + CMD 1 + BCNT 2 = 7 header bytes).
pub const INIT_DATA_SIZE: usize = REPORT_SIZE - 7;
/// Payload bytes carried by a continuation packet (CID 4 + SEQ 1 = 5 header bytes).
pub const CONT_DATA_SIZE: usize = REPORT_SIZE - 5;
/// Highest continuation sequence number (the top bit marks an initialization packet).
pub const MAX_SEQ: u8 = 0x7f;
/// Largest message one transaction can carry: 57 + 128 × 59 = 7609 bytes.
pub const MAX_MESSAGE_SIZE: usize = INIT_DATA_SIZE + (MAX_SEQ as usize + 1) * CONT_DATA_SIZE;

/// Bit 7 of byte 4 set means "initialization packet"; the low 7 bits are the command.
const INIT_FLAG: u8 = 0x80;

/// One raw 64-byte HID report, without any report-ID prefix.
pub type Report = [u8; REPORT_SIZE];

/// A CTAPHID channel identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId(pub u32);

impl ChannelId {
    /// The broadcast channel: only CTAPHID_INIT may use it, to obtain a channel of one's own.
    pub const BROADCAST: ChannelId = ChannelId(0xffff_ffff);
    /// Reserved: never allocated, always invalid.
    pub const RESERVED: ChannelId = ChannelId(0);

    pub fn to_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }

    pub fn from_bytes(bytes: [u8; 4]) -> ChannelId {
        ChannelId(u32::from_be_bytes(bytes))
    }

    pub fn is_broadcast(self) -> bool {
        self == Self::BROADCAST
    }
}

impl std::fmt::Display for ChannelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// A parsed report: the header fields plus a view of the payload bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// First packet of a message. `cmd` is the command byte without the 0x80 flag.
    Init {
        cid: ChannelId,
        cmd: u8,
        /// Total message length announced by the sender.
        bcnt: u16,
        data: &'a [u8; INIT_DATA_SIZE],
    },
    /// Following packet of a message.
    Cont {
        cid: ChannelId,
        seq: u8,
        data: &'a [u8; CONT_DATA_SIZE],
    },
}

impl<'a> Packet<'a> {
    /// Every 64-byte report is either an init or a continuation packet; the checks on the
    /// content (lengths, sequence, channels) belong to [`Reassembler`] and the state machine.
    pub fn parse(report: &'a Report) -> Packet<'a> {
        let cid = ChannelId::from_bytes([report[0], report[1], report[2], report[3]]);
        if report[4] & INIT_FLAG != 0 {
            Packet::Init {
                cid,
                cmd: report[4] & !INIT_FLAG,
                bcnt: u16::from_be_bytes([report[5], report[6]]),
                data: report[7..].try_into().expect("57 bytes"),
            }
        } else {
            Packet::Cont {
                cid,
                seq: report[4],
                data: report[5..].try_into().expect("59 bytes"),
            }
        }
    }

    pub fn cid(&self) -> ChannelId {
        match *self {
            Packet::Init { cid, .. } | Packet::Cont { cid, .. } => cid,
        }
    }
}

/// Why a message could not be framed or reassembled. Each maps to one CTAPHID error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The message is longer than [`MAX_MESSAGE_SIZE`] (CTAPHID ERR_INVALID_LEN).
    #[error("message of {0} bytes exceeds the CTAPHID maximum of {MAX_MESSAGE_SIZE}")]
    TooLong(usize),
    /// A continuation packet arrived out of order (CTAPHID ERR_INVALID_SEQ).
    #[error("continuation sequence {got} where {expected} was expected")]
    BadSequence { expected: u8, got: u8 },
}

/// Build the initialization report header and copy the first chunk.
fn init_report(cid: ChannelId, cmd: u8, bcnt: u16, chunk: &[u8]) -> Report {
    let mut report = [0u8; REPORT_SIZE];
    report[..4].copy_from_slice(&cid.to_bytes());
    report[4] = cmd | INIT_FLAG;
    report[5..7].copy_from_slice(&bcnt.to_be_bytes());
    report[7..7 + chunk.len()].copy_from_slice(chunk);
    report
}

fn cont_report(cid: ChannelId, seq: u8, chunk: &[u8]) -> Report {
    let mut report = [0u8; REPORT_SIZE];
    report[..4].copy_from_slice(&cid.to_bytes());
    report[4] = seq;
    report[5..5 + chunk.len()].copy_from_slice(chunk);
    report
}

/// Split a message into reports: one init packet, then continuation packets with SEQ 0, 1, ...
/// Unused trailing bytes of the last report are zero.
pub fn fragment(cid: ChannelId, cmd: u8, message: &[u8]) -> Result<Vec<Report>, FrameError> {
    if message.len() > MAX_MESSAGE_SIZE {
        return Err(FrameError::TooLong(message.len()));
    }
    let bcnt = message.len() as u16; // ≤ 7609, fits
    let first = message.len().min(INIT_DATA_SIZE);
    let mut reports =
        Vec::with_capacity(1 + message.len().saturating_sub(first).div_ceil(CONT_DATA_SIZE));
    reports.push(init_report(cid, cmd & !INIT_FLAG, bcnt, &message[..first]));
    for (seq, chunk) in message[first..].chunks(CONT_DATA_SIZE).enumerate() {
        reports.push(cont_report(cid, seq as u8, chunk)); // ≤ 128 chunks: seq ≤ 0x7f
    }
    Ok(reports)
}

/// A complete reassembled message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub cid: ChannelId,
    pub cmd: u8,
    pub payload: Vec<u8>,
}

/// Collects the packets of one message on one channel.
///
/// Channel filtering is the caller's job (it decides what a packet from another channel
/// means); the reassembler checks length and sequence.
#[derive(Debug)]
pub struct Reassembler {
    cid: ChannelId,
    cmd: u8,
    expected: usize,
    payload: Vec<u8>,
    next_seq: u8,
}

/// Result of feeding a packet to a [`Reassembler`].
#[derive(Debug)]
pub enum Progress {
    /// More continuation packets are needed.
    Partial(Reassembler),
    /// The message is complete.
    Complete(Message),
}

impl Reassembler {
    /// Start a message from its initialization packet.
    pub fn start(
        cid: ChannelId,
        cmd: u8,
        bcnt: u16,
        data: &[u8; INIT_DATA_SIZE],
    ) -> Result<Progress, FrameError> {
        let expected = usize::from(bcnt);
        if expected > MAX_MESSAGE_SIZE {
            return Err(FrameError::TooLong(expected));
        }
        let first = expected.min(INIT_DATA_SIZE);
        let mut payload = Vec::with_capacity(expected);
        payload.extend_from_slice(&data[..first]);
        Ok(Reassembler {
            cid,
            cmd,
            expected,
            payload,
            next_seq: 0,
        }
        .progress())
    }

    /// Add the next continuation packet. A wrong sequence number aborts the message.
    pub fn push(mut self, seq: u8, data: &[u8; CONT_DATA_SIZE]) -> Result<Progress, FrameError> {
        if seq != self.next_seq {
            return Err(FrameError::BadSequence {
                expected: self.next_seq,
                got: seq,
            });
        }
        // `progress` completes the message before SEQ could pass 0x7f, because
        // `expected ≤ MAX_MESSAGE_SIZE`.
        self.next_seq += 1;
        let take = (self.expected - self.payload.len()).min(CONT_DATA_SIZE);
        self.payload.extend_from_slice(&data[..take]);
        Ok(self.progress())
    }

    fn progress(self) -> Progress {
        if self.payload.len() == self.expected {
            Progress::Complete(Message {
                cid: self.cid,
                cmd: self.cmd,
                payload: self.payload,
            })
        } else {
            Progress::Partial(self)
        }
    }

    pub fn cid(&self) -> ChannelId {
        self.cid
    }

    pub fn cmd(&self) -> u8 {
        self.cmd
    }
}

/// Reassemble a complete message from a list of reports (all on one channel, in order).
/// Convenient for tests and for hosts reading a response.
pub fn reassemble(reports: &[Report]) -> Result<Option<Message>, FrameError> {
    let mut iter = reports.iter();
    let Some(first) = iter.next() else {
        return Ok(None);
    };
    let Packet::Init {
        cid,
        cmd,
        bcnt,
        data,
    } = Packet::parse(first)
    else {
        return Ok(None);
    };
    let mut progress = Reassembler::start(cid, cmd, bcnt, data)?;
    for report in iter {
        let Progress::Partial(partial) = progress else {
            break;
        };
        match Packet::parse(report) {
            Packet::Cont { seq, data, .. } => progress = partial.push(seq, data)?,
            Packet::Init { .. } => return Ok(None),
        }
    }
    Ok(match progress {
        Progress::Complete(message) => Some(message),
        Progress::Partial(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CID: ChannelId = ChannelId(0x0102_0304);

    fn message(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[test]
    fn max_message_size_is_7609() {
        assert_eq!(MAX_MESSAGE_SIZE, 7609);
    }

    #[test]
    fn init_packet_layout() {
        let reports = fragment(CID, 0x10, &[0xaa, 0xbb]).unwrap();
        assert_eq!(reports.len(), 1);
        let r = &reports[0];
        assert_eq!(&r[..7], &[0x01, 0x02, 0x03, 0x04, 0x90, 0x00, 0x02]);
        assert_eq!(&r[7..9], &[0xaa, 0xbb]);
        assert!(r[9..].iter().all(|&b| b == 0));
    }

    #[test]
    fn empty_message_is_one_init_packet() {
        let reports = fragment(CID, 0x01, &[]).unwrap();
        assert_eq!(reports.len(), 1);
        assert_eq!(&reports[0][4..7], &[0x81, 0, 0]);
        let msg = reassemble(&reports).unwrap().unwrap();
        assert!(msg.payload.is_empty());
    }

    #[test]
    fn continuation_layout_and_count() {
        let data = message(INIT_DATA_SIZE + CONT_DATA_SIZE + 1);
        let reports = fragment(CID, 0x10, &data).unwrap();
        assert_eq!(reports.len(), 3);
        assert_eq!(reports[1][4], 0);
        assert_eq!(reports[2][4], 1);
        assert_eq!(
            &reports[1][5..],
            &data[INIT_DATA_SIZE..INIT_DATA_SIZE + CONT_DATA_SIZE]
        );
        assert_eq!(reports[2][5], *data.last().unwrap());
        assert!(reports[2][6..].iter().all(|&b| b == 0));
    }

    #[test]
    fn round_trip_at_boundaries() {
        for len in [
            0,
            1,
            INIT_DATA_SIZE - 1,
            INIT_DATA_SIZE,
            INIT_DATA_SIZE + 1,
            INIT_DATA_SIZE + CONT_DATA_SIZE,
            1024,
            MAX_MESSAGE_SIZE - 1,
            MAX_MESSAGE_SIZE,
        ] {
            let data = message(len);
            let reports = fragment(CID, 0x10, &data).unwrap();
            let expected_reports = 1 + len.saturating_sub(INIT_DATA_SIZE).div_ceil(CONT_DATA_SIZE);
            assert_eq!(reports.len(), expected_reports, "len {len}");
            let msg = reassemble(&reports).unwrap().expect("complete");
            assert_eq!(msg.payload, data, "len {len}");
            assert_eq!(msg.cmd, 0x10);
            assert_eq!(msg.cid, CID);
        }
    }

    #[test]
    fn max_message_uses_last_sequence_number() {
        let reports = fragment(CID, 0x10, &message(MAX_MESSAGE_SIZE)).unwrap();
        assert_eq!(reports.len(), 129);
        assert_eq!(reports.last().unwrap()[4], MAX_SEQ);
    }

    #[test]
    fn too_long_is_rejected_both_ways() {
        assert_eq!(
            fragment(CID, 0x10, &message(MAX_MESSAGE_SIZE + 1)),
            Err(FrameError::TooLong(MAX_MESSAGE_SIZE + 1))
        );
        let report = init_report(CID, 0x10, (MAX_MESSAGE_SIZE + 1) as u16, &[]);
        let Packet::Init {
            cid,
            cmd,
            bcnt,
            data,
        } = Packet::parse(&report)
        else {
            panic!("init expected")
        };
        assert!(matches!(
            Reassembler::start(cid, cmd, bcnt, data),
            Err(FrameError::TooLong(7610))
        ));
    }

    #[test]
    fn wrong_sequence_is_rejected() {
        let mut reports = fragment(CID, 0x10, &message(200)).unwrap();
        reports.swap(1, 2);
        assert_eq!(
            reassemble(&reports),
            Err(FrameError::BadSequence {
                expected: 0,
                got: 1
            })
        );
    }

    #[test]
    fn repeated_sequence_is_rejected() {
        let mut reports = fragment(CID, 0x10, &message(200)).unwrap();
        reports[2] = reports[1];
        assert_eq!(
            reassemble(&reports),
            Err(FrameError::BadSequence {
                expected: 1,
                got: 0
            })
        );
    }

    #[test]
    fn incomplete_message_is_partial() {
        let reports = fragment(CID, 0x10, &message(200)).unwrap();
        assert_eq!(reassemble(&reports[..2]).unwrap(), None);
    }

    #[test]
    fn parse_distinguishes_packet_kinds() {
        let reports = fragment(ChannelId::BROADCAST, 0x06, &message(100)).unwrap();
        match Packet::parse(&reports[0]) {
            Packet::Init { cid, cmd, bcnt, .. } => {
                assert!(cid.is_broadcast());
                assert_eq!(cmd, 0x06);
                assert_eq!(bcnt, 100);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            Packet::parse(&reports[1]),
            Packet::Cont { seq: 0, .. }
        ));
    }
}
