//! authenticatorClientPIN (0x06), CTAP 2.1 §6.5.5.
