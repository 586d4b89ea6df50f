//! What the x86-64 vector kernels of the matcher and of the 1:N pre-selection share: which
//! instruction sets this CPU has, and per-byte bit counts on AVX2, which has no vector popcount
//! instruction (AVX-512 VPOPCNTDQ has): each byte's two nibbles index a 16-entry table with
//! `vpshufb` (Muła's method).

use std::arch::x86_64::*;

/// The instruction sets the kernels exist for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// AVX-512F with VPOPCNTDQ (one vector per 8 code rows, hardware popcount), on a CPU that
    /// also has AVX2.
    Avx512,
    /// AVX2 (two vectors per 8 code rows, nibble-table popcount).
    Avx2,
}

impl Isa {
    /// Every kernel instruction set this CPU has, fastest first.
    pub(crate) fn available() -> impl Iterator<Item = Isa> {
        let avx2 = std::is_x86_feature_detected!("avx2");
        let avx512 = avx2
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512vpopcntdq");
        [(avx512, Isa::Avx512), (avx2, Isa::Avx2)]
            .into_iter()
            .filter(|&(has, _)| has)
            .map(|(_, isa)| isa)
    }
}

/// Set bits of each byte of `v`.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) unsafe fn popcount_bytes(v: __m256i) -> __m256i {
    let table = _mm256_setr_epi8(
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3,
        3, 4,
    );
    let low = _mm256_set1_epi8(0x0f);
    let lo = _mm256_shuffle_epi8(table, _mm256_and_si256(v, low));
    let hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16::<4>(v), low));
    _mm256_add_epi8(lo, hi)
}
