//! Shingles and SimHash fingerprints (pure, no I/O).
//!
//! This module owns the feature hashing (token n-gram shingles), the SimHash kernel and the
//! cutting of a text into segments whose fingerprints feed the Hamming-distance index. It
//! must never do I/O or panic on any input, and its hash constants must never change
//! silently: stored fingerprints depend on them, and a test pins a fixed text to a fixed
//! SimHash so an accidental change is caught.
//!
//! Design choices:
//! - Shingles are [`SHINGLE_TOKENS`] = 3 consecutive tokens of one paragraph, for CJK
//!   characters and words alike. A Chinese word is 1.5–2 characters on average, so a
//!   character 3-gram spans about one word and a half, specific enough that unrelated
//!   articles share few of them, while a short paragraph still yields enough features for a
//!   stable SimHash. Word 3-grams are the classic w-shingling size for near-duplicate web
//!   text. Shingles never cross paragraph boundaries, so shuffling paragraphs leaves the
//!   feature multiset, and hence the whole-text SimHash, unchanged.
//! - A shingle hash packs the three token hashes with rotations by 0, 21 and 42 bits and
//!   finishes with [`mix64`]. CJK token hashes are code points (< 2^21), so for CJK the
//!   packing is lossless and a shingle costs two multiplications.
//! - The SimHash kernel ([`SimHashAccumulator`]) counts the 64 bit positions bit-sliced,
//!   with carry-save adders over blocks of 16 features (see its docs): about six bitwise
//!   operations per feature, about 3x faster than eight byte-lane table lookups per feature
//!   on this machine, and exactly the `simhash` crate's rule.
//! - Segments are paragraphs of at least [`SEGMENT_MIN_TOKENS`] tokens, on their own, so a
//!   paragraph pasted into a new template keeps exactly its fingerprint. Runs of shorter
//!   paragraphs (headings, captions, one-line paragraphs) are grouped until they reach that
//!   size, and a trailing group under half of it is dropped, so tiny lines don't become
//!   junk segments that match everything. Paragraphs over [`SEGMENT_MAX_TOKENS`] are cut
//!   into equal windows of about [`SEGMENT_WINDOW_TOKENS`], so an excerpt of a long
//!   paragraph still matches a segment.

use std::hash::{Hash, Hasher};
use std::ops::Range;

use crate::text::{Normalized, Token};

pub use crate::text::mix64;

/// Tokens per shingle, for CJK characters and for words.
pub const SHINGLE_TOKENS: usize = 3;
/// Paragraphs with at least this many tokens are segments of their own; shorter ones are
/// grouped with their neighbours.
pub const SEGMENT_MIN_TOKENS: usize = 32;
/// Paragraphs longer than this are split into windows.
pub const SEGMENT_MAX_TOKENS: usize = 384;
/// Target size of the windows a long paragraph is split into.
pub const SEGMENT_WINDOW_TOKENS: usize = 256;

/// Fingerprints of one text: whole-text SimHash and one per segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint {
    /// SimHash of all shingles of the text.
    pub whole: u64,
    /// Segments in source order.
    pub segments: Vec<Segment>,
    /// Winnowed anchor hashes (sorted, distinct): see [`anchors`].
    pub anchors: Vec<u64>,
}

/// A segment (paragraph or fixed window) and its SimHash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Character offsets of the segment in the source text.
    pub start: u32,
    /// End (exclusive) of the segment in the source text, in characters.
    pub end: u32,
    /// SimHash of the segment's shingles.
    pub simhash: u64,
}

/// Hamming distance of two SimHashes.
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// Hash of a shingle from its token hashes (see the module notes). For up to three tokens
/// it is `mix64(h0 ^ h1.rotate_left(21) ^ h2.rotate_left(42))`.
#[inline]
pub fn shingle_hash(token_hashes: &[u64]) -> u64 {
    let mut packed = 0u64;
    let mut rotation = 0u32;
    for &h in token_hashes {
        packed ^= h.rotate_left(rotation);
        rotation = (rotation + 21) % 64;
    }
    mix64(packed)
}

/// Hash of a shingle given as already folded text in which every character is one token
/// (a CJK run): equal to [`shingle_hash`] of the characters' token hashes, so it yields the
/// same features as [`fingerprint`] without building tokens first.
#[inline]
pub fn shingle_hash_str(shingle: &str) -> u64 {
    let b = shingle.as_bytes();
    // Fast path for the common case, three characters of three UTF-8 bytes each (all of
    // the BMP's CJK): decode with bit operations instead of the general decoder. The input
    // is valid UTF-8, so three lead bytes at 0, 3 and 6 imply continuation bytes between.
    if b.len() == 9 && b[0] & 0xF0 == 0xE0 && b[3] & 0xF0 == 0xE0 && b[6] & 0xF0 == 0xE0 {
        let decode = |i: usize| {
            (u64::from(b[i] & 0x0F) << 12)
                | (u64::from(b[i + 1] & 0x3F) << 6)
                | u64::from(b[i + 2] & 0x3F)
        };
        return mix64(decode(0) ^ (decode(3) << 21) ^ (decode(6) << 42));
    }
    let mut packed = 0u64;
    let mut rotation = 0u32;
    for c in shingle.chars() {
        packed ^= u64::from(u32::from(c)).rotate_left(rotation);
        rotation = (rotation + 21) % 64;
    }
    mix64(packed)
}

/// Byte `b` spread into the eight byte lanes of a u64: lane j is 1 when bit j of `b` is
/// set. Adding these for the eight bytes of a word adds all 64 of its bits to 64 byte-wide
/// counters with eight table lookups and eight additions.
static SPREAD: [u64; 256] = spread_table();

const fn spread_table() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut lanes = 0u64;
        let mut j = 0;
        while j < 8 {
            if (b >> j) & 1 == 1 {
                lanes |= 1 << (8 * j);
            }
            j += 1;
        }
        table[b] = lanes;
        b += 1;
    }
    table
}

/// Features per carry-save block.
const BLOCK: usize = 16;
/// Byte lanes hold at most 255, so they are flushed to the wide counters every 255 blocks.
const LANE_CAPACITY: usize = 255;

/// Carry-save adder on 64 bit-parallel 1-bit inputs: returns (sum, carry) of a + b + c.
#[inline(always)]
fn csa(a: u64, b: u64, c: u64) -> (u64, u64) {
    let u = a ^ b;
    (u ^ c, (a & b) | (u & c))
}

/// Streaming SimHash kernel: feed feature hashes, then [`finish`](Self::finish).
///
/// Bit i of the result is set iff more features have bit i set than clear; ties give 0.
/// This is the rule of the `simhash` crate (its counters saturate at ±2^31 features, ours
/// don't, so results agree for any realistic input).
///
/// The 64 per-bit counts are kept bit-sliced (a positional population count in the style
/// of Harley and Seal): `ones`, `twos`, `fours` and `eights` hold bit k of all 64 counters
/// in one word each, and a tree of carry-save adders folds 16 features into them with 75
/// bitwise operations, emitting one word of weight 16. Only that word is spread into byte
/// lanes (eight table lookups per 16 features), which are flushed to wide counters every
/// 255 blocks. That is about six operations per feature instead of 64 counter updates.
#[derive(Debug, Clone)]
pub struct SimHashAccumulator {
    /// Bit planes of weight 1, 2, 4 and 8 of the 64 counters.
    ones: u64,
    twos: u64,
    fours: u64,
    eights: u64,
    /// Byte-lane counters of the weight-16 words: lanes[k] byte j counts bit 8k+j.
    lanes: [u64; 8],
    /// Blocks added to `lanes` since the last flush.
    lane_blocks: usize,
    /// Per-bit counts of weight-16 words over all flushed blocks.
    sixteens: [u64; 64],
    /// Features waiting for a full block.
    pending: [u64; BLOCK],
    /// Number of features in `pending`.
    pending_len: usize,
    /// Number of features seen.
    total: u64,
}

impl Default for SimHashAccumulator {
    fn default() -> Self {
        SimHashAccumulator {
            ones: 0,
            twos: 0,
            fours: 0,
            eights: 0,
            lanes: [0; 8],
            lane_blocks: 0,
            sixteens: [0; 64],
            pending: [0; BLOCK],
            pending_len: 0,
            total: 0,
        }
    }
}

impl SimHashAccumulator {
    /// A fresh accumulator with no features.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one feature hash.
    #[inline]
    pub fn add(&mut self, feature: u64) {
        self.pending[self.pending_len] = feature;
        self.pending_len += 1;
        self.total += 1;
        if self.pending_len == BLOCK {
            let block = self.pending;
            self.add_block(&block);
            self.pending_len = 0;
        }
    }

    /// Adds a batch of feature hashes; the fast path.
    pub fn add_slice(&mut self, mut features: &[u64]) {
        while self.pending_len != 0 && !features.is_empty() {
            self.add(features[0]);
            features = &features[1..];
        }
        let mut blocks = features.chunks_exact(BLOCK);
        for block in &mut blocks {
            // chunks_exact yields slices of exactly BLOCK elements, so the conversion to an
            // array reference cannot fail; the fallback only keeps the code panic-free.
            if let Ok(block) = <&[u64; BLOCK]>::try_from(block) {
                self.add_block(block);
                self.total += BLOCK as u64;
            }
        }
        for &f in blocks.remainder() {
            self.add(f);
        }
    }

    /// Folds 16 features into the bit planes (does not count them in `total`).
    #[inline]
    fn add_block(&mut self, d: &[u64; BLOCK]) {
        let (o, twos_a) = csa(self.ones, d[0], d[1]);
        let (o, twos_b) = csa(o, d[2], d[3]);
        let (t, fours_a) = csa(self.twos, twos_a, twos_b);
        let (o, twos_a) = csa(o, d[4], d[5]);
        let (o, twos_b) = csa(o, d[6], d[7]);
        let (t, fours_b) = csa(t, twos_a, twos_b);
        let (f, eights_a) = csa(self.fours, fours_a, fours_b);
        let (o, twos_a) = csa(o, d[8], d[9]);
        let (o, twos_b) = csa(o, d[10], d[11]);
        let (t, fours_a) = csa(t, twos_a, twos_b);
        let (o, twos_a) = csa(o, d[12], d[13]);
        let (o, twos_b) = csa(o, d[14], d[15]);
        let (t, fours_b) = csa(t, twos_a, twos_b);
        let (f, eights_b) = csa(f, fours_a, fours_b);
        let (e, sixteens) = csa(self.eights, eights_a, eights_b);
        (self.ones, self.twos, self.fours, self.eights) = (o, t, f, e);
        for (k, lane) in self.lanes.iter_mut().enumerate() {
            *lane += SPREAD[((sixteens >> (8 * k)) & 0xff) as usize];
        }
        self.lane_blocks += 1;
        if self.lane_blocks == LANE_CAPACITY {
            self.flush_lanes();
        }
    }

    fn flush_lanes(&mut self) {
        for (k, lanes) in self.lanes.iter_mut().enumerate() {
            for j in 0..8 {
                self.sixteens[8 * k + j] += (*lanes >> (8 * j)) & 0xff;
            }
            *lanes = 0;
        }
        self.lane_blocks = 0;
    }

    /// Number of features added so far.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// True when no feature was added.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The SimHash of the features added so far.
    pub fn finish(&self) -> u64 {
        let mut done = self.clone();
        done.flush_lanes();
        let mut simhash = 0u64;
        for i in 0..64 {
            let bit = |plane: u64| (plane >> i) & 1;
            let mut set = 16 * done.sixteens[i]
                + 8 * bit(done.eights)
                + 4 * bit(done.fours)
                + 2 * bit(done.twos)
                + bit(done.ones);
            set += done.pending[..done.pending_len]
                .iter()
                .map(|&f| bit(f))
                .sum::<u64>();
            // Set beats clear (total - set) strictly; ties give 0.
            if 2 * set > done.total {
                simhash |= 1 << i;
            }
        }
        simhash
    }
}

/// SimHash over precomputed 64-bit feature hashes: bit i is set when more features have
/// bit i set than clear (same rule as the `simhash` crate).
pub fn simhash(features: &[u64]) -> u64 {
    let mut acc = SimHashAccumulator::new();
    acc.add_slice(features);
    acc.finish()
}

/// Feature hashes are produced into a buffer of this size before being fed to the kernel,
/// so hashing and counting each run as a tight loop.
const FEATURE_BATCH: usize = 512;

/// SimHash of string shingles hashed with a cheap hash of their own: our fast path.
pub fn simhash_str_shingles<'a>(
    shingles: impl IntoIterator<Item = &'a str>,
    hash: impl Fn(&str) -> u64,
) -> u64 {
    let mut acc = SimHashAccumulator::new();
    let mut batch = [0u64; FEATURE_BATCH];
    let mut filled = 0;
    for shingle in shingles {
        batch[filled] = hash(shingle);
        filled += 1;
        if filled == FEATURE_BATCH {
            acc.add_slice(&batch);
            filled = 0;
        }
    }
    acc.add_slice(&batch[..filled]);
    acc.finish()
}

/// The feature hash the `simhash` crate uses for a `&str` feature (its default
/// `hasher-sip` feature): SipHash-2-4 with zero keys over the string as `Hash` writes it.
pub fn sip_feature(shingle: &str) -> u64 {
    let mut hasher = siphasher::sip::SipHasher::new();
    shingle.hash(&mut hasher);
    hasher.finish()
}

/// SimHash of string shingles with SipHash feature hashing: gives exactly what
/// `simhash::simhash_stream` gives for the same shingles, through our kernel.
pub fn simhash_sip_stream<'a>(shingles: impl IntoIterator<Item = &'a str>) -> u64 {
    simhash_str_shingles(shingles, sip_feature)
}

/// Pushes the shingle features of one run of tokens (a paragraph or a window). A run
/// shorter than a shingle still contributes one feature, so short texts are not empty.
fn push_features(tokens: &[Token], out: &mut Vec<u64>) {
    if tokens.len() < SHINGLE_TOKENS {
        if !tokens.is_empty() {
            let hashes: Vec<u64> = tokens.iter().map(|t| t.hash).collect();
            out.push(shingle_hash(&hashes));
        }
        return;
    }
    out.extend(tokens.windows(SHINGLE_TOKENS).map(|w| {
        // shingle_hash on a stack array of the three hashes.
        shingle_hash(&[w[0].hash, w[1].hash, w[2].hash])
    }));
}

/// The paragraph ranges of `text`, clamped to its tokens, so a hand-built `Normalized`
/// with inconsistent ranges cannot make us panic.
fn paragraphs(text: &Normalized) -> Vec<Range<usize>> {
    let n = text.tokens.len();
    let mut out: Vec<Range<usize>> = text
        .paragraphs
        .iter()
        .map(|p| p.start.min(n)..p.end.min(n))
        .filter(|p| p.start < p.end)
        .collect();
    if out.is_empty() && n > 0 {
        out.push(0..n);
    }
    out
}

/// One segment before hashing: the token runs it consists of.
struct Piece {
    runs: Vec<Range<usize>>,
    len: usize,
}

impl Piece {
    fn new() -> Piece {
        Piece {
            runs: Vec::new(),
            len: 0,
        }
    }

    fn push(&mut self, run: Range<usize>) {
        self.len += run.len();
        self.runs.push(run);
    }
}

/// Cuts the paragraphs into segment pieces (see the module notes for the rule).
fn pieces(paragraphs: &[Range<usize>]) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut group = Piece::new();
    for p in paragraphs {
        let len = p.len();
        if len < SEGMENT_MIN_TOKENS {
            group.push(p.clone());
            if group.len >= SEGMENT_MIN_TOKENS {
                out.push(std::mem::replace(&mut group, Piece::new()));
            }
            continue;
        }
        if group.len >= SEGMENT_MIN_TOKENS / 2 {
            out.push(std::mem::replace(&mut group, Piece::new()));
        } else {
            group = Piece::new();
        }
        let windows = if len > SEGMENT_MAX_TOKENS {
            len.div_ceil(SEGMENT_WINDOW_TOKENS)
        } else {
            1
        };
        for w in 0..windows {
            let mut piece = Piece::new();
            piece.push(p.start + len * w / windows..p.start + len * (w + 1) / windows);
            out.push(piece);
        }
    }
    if group.len >= SEGMENT_MIN_TOKENS / 2 || (out.is_empty() && group.len > 0) {
        out.push(group);
    }
    out
}

/// Whole-text SimHash plus one SimHash per segment.
pub fn fingerprint(text: &Normalized) -> Fingerprint {
    let tokens = &text.tokens;
    let paragraphs = paragraphs(text);
    let mut features = Vec::with_capacity(tokens.len());
    for p in &paragraphs {
        push_features(&tokens[p.clone()], &mut features);
    }
    let whole = simhash(&features);

    let mut segments = Vec::new();
    for piece in pieces(&paragraphs) {
        features.clear();
        for run in &piece.runs {
            push_features(&tokens[run.clone()], &mut features);
        }
        let (Some(first), Some(last)) = (piece.runs.first(), piece.runs.last()) else {
            continue;
        };
        segments.push(Segment {
            start: tokens[first.start].start,
            end: tokens[last.end - 1].end,
            simhash: simhash(&features),
        });
    }
    Fingerprint {
        whole,
        segments,
        anchors: anchors(text),
    }
}

/// Tokens per anchor shingle: six CJK characters (a short clause) or six words.
pub const ANCHOR_TOKENS: usize = 6;
/// Winnowing window, in shingles. Any run of `ANCHOR_TOKENS + ANCHOR_WINDOW - 1` = 15
/// tokens that two texts share yields at least one anchor they share.
pub const ANCHOR_WINDOW: usize = 10;

/// Winnowed shingle hashes of a text (Schleimer, Wilkerson and Aiken's winnowing, as in
/// MOSS): in every window of [`ANCHOR_WINDOW`] consecutive [`ANCHOR_TOKENS`]-token
/// shingles of a paragraph, the smallest hash is an anchor.
///
/// SimHash segments find copies whose paragraphs survive nearly whole; anchors find the
/// rest: an excerpt cut mid-paragraph, a text with an edit every few words, paragraphs
/// glued together by a template. A candidate page that shares one anchor with an original
/// is worth verifying; the verification decides. Returned sorted and without duplicates.
pub fn anchors(text: &Normalized) -> Vec<u64> {
    let mut out = Vec::new();
    let mut shingles = Vec::new();
    let mut token_hashes = [0u64; ANCHOR_TOKENS];
    for p in paragraphs(text) {
        let tokens = &text.tokens[p];
        if tokens.len() < ANCHOR_TOKENS {
            continue;
        }
        shingles.clear();
        for window in tokens.windows(ANCHOR_TOKENS) {
            for (slot, t) in token_hashes.iter_mut().zip(window) {
                *slot = t.hash;
            }
            // A different finaliser from the SimHash features, so anchors and features
            // are independent hash families.
            shingles.push(mix64(shingle_hash(&token_hashes) ^ 0xa5a5_5a5a_c3c3_3c3c));
        }
        if shingles.len() <= ANCHOR_WINDOW {
            out.extend(shingles.iter().min());
            continue;
        }
        // The rightmost minimum of each window; consecutive windows usually share it, so
        // it is recorded once.
        let mut last_pick = usize::MAX;
        for start in 0..=shingles.len() - ANCHOR_WINDOW {
            let mut pick = start;
            for i in start..start + ANCHOR_WINDOW {
                if shingles[i] <= shingles[pick] {
                    pick = i;
                }
            }
            if pick != last_pick {
                out.push(shingles[pick]);
                last_pick = pick;
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Number of anchors two sorted, distinct anchor lists share.
pub fn shared_anchors(a: &[u64], b: &[u64]) -> usize {
    let (mut i, mut j, mut shared) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    shared
}

#[cfg(test)]
mod tests;
