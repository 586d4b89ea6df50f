//! The CTAP 2.1 core as the CTAPHID application.

use super::app::App;
use crate::ctap::{Authenticator, Interaction};

impl App for Authenticator {
    fn cbor(&mut self, request: &[u8], io: &dyn Interaction) -> Vec<u8> {
        self.process(request, io)
    }

    fn wink(&mut self) {
        Authenticator::wink(self);
    }
}
