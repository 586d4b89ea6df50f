//! Per-byte bit counts on AVX2, which has no vector popcount instruction (AVX-512 VPOPCNTDQ
//! has): each byte's two nibbles index a 16-entry table with `vpshufb` (Muła's method). Shared
//! by the vector kernels of the matcher and of the 1:N pre-selection.

use std::arch::x86_64::*;

/// Set bits of each byte of `v`.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) unsafe fn bytes(v: __m256i) -> __m256i {
    let table = _mm256_setr_epi8(
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3,
        3, 4,
    );
    let low = _mm256_set1_epi8(0x0f);
    let lo = _mm256_shuffle_epi8(table, _mm256_and_si256(v, low));
    let hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16::<4>(v), low));
    _mm256_add_epi8(lo, hi)
}
