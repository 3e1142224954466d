//! The archive index as one flat byte image, so that it can be built once, written to a
//! file and memory-mapped by every worker on a machine instead of each loading its own
//! copy from the store.
//!
//! This module owns the format and its validation: [`write`] turns an [`ArchiveIndex`]
//! into bytes, and [`read`] turns bytes (any [`SharedBytes`]: a memory map, or a `Vec` in
//! tests) back into an index whose arrays are views into those bytes, after checking
//! that they are a complete, undamaged image. It does no I/O of its own: the file, the
//! map and the lock are `crate::originals::mapped`'s.
//!
//! # Format (version 1, little-endian, every array 8-byte aligned)
//!
//! A 64-byte header: magic `CPHNDIDX`, format version (u32), `0x0102_0304` (u32, so a
//! file from a machine of the other byte order is refused), max distance and table
//! count (u32 each), the store generation it was built at (i64), entries per table
//! (u64), anchor pairs (u64), the file's length (u64) and a checksum of everything after
//! the header (u64). Then, per table: its directory bits (u32, padded to 8 bytes), its
//! `2^bits + 1` directory offsets (u32), its rotated fingerprints (u64) and ids (u32);
//! then the anchors (u64) and their originals (u32). Each array is padded to 8 bytes.
//!
//! The checksum detects a file damaged on disk or cut short by a crash mid-write (the
//! writer renames a complete file into place, so only outside damage can cause either);
//! it is not a defence against someone who can write the file, who could as well write
//! the database.

use std::io::Write;

use super::archive::ArchiveIndex;
use super::column::{Column, Plain, SharedBytes};
use super::layout::Layout;
use super::table::Table;
use super::{HammingIndex, IndexError, MAX_ENTRIES};

/// The first eight bytes of every image.
pub const MAGIC: &[u8; 8] = b"CPHNDIDX";

/// The format version this copyhound writes and reads.
pub const VERSION: u32 = 1;

/// Written as a little-endian u32; reads back differently on a big-endian machine.
const BYTE_ORDER: u32 = 0x0102_0304;

/// Header bytes before the first array.
pub const HEADER_LEN: usize = 64;

/// The largest directory a table may declare (as [`super::table`]'s cap).
const MAX_BUCKET_BITS: u32 = 24;

/// Why bytes are not a usable index image. The caller adds which file they came from.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Fewer bytes than a header, or than the header says the image has.
    #[error("truncated: {actual} bytes where {expected} were expected")]
    Truncated {
        /// Bytes the header (or the header's own size) calls for.
        expected: u64,
        /// Bytes there are.
        actual: u64,
    },
    /// More bytes than the header says.
    #[error("{actual} bytes where the header says {expected}")]
    TrailingBytes {
        /// Bytes the header calls for.
        expected: u64,
        /// Bytes there are.
        actual: u64,
    },
    /// Not an index image at all.
    #[error("not a copyhound index file (bad magic)")]
    Magic,
    /// Written by another copyhound with another format.
    #[error("index format version {found}, this copyhound reads version {VERSION}")]
    Version {
        /// The version in the file.
        found: u32,
    },
    /// Written on a machine of the other byte order.
    #[error("index file written on a machine of another byte order")]
    ByteOrder,
    /// The bytes after the header are not those the writer wrote.
    #[error("checksum mismatch: the file is damaged")]
    Checksum,
    /// The header's max distance and table count make no valid layout.
    #[error("invalid layout: {0}")]
    Layout(#[from] IndexError),
    /// A section that cannot be what the writer wrote (the checksum matched, so only a
    /// writer bug or a forged file gets here).
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// Writing the image failed.
    #[error("cannot write the index image: {0}")]
    Write(#[from] std::io::Error),
    /// This machine is big-endian; the format is little-endian and mapped as is.
    #[error("index files are only supported on little-endian machines")]
    BigEndian,
}

/// Writes `index` (compacted first, so that every entry is in the sorted arrays) as an
/// image stamped with `generation`, the store's change counter it was built at. The
/// checksum needs the whole body, so it is computed over the arrays before any byte is
/// written and the writer gets the image in one pass.
///
/// # Errors
/// [`ImageError::Write`] when `out` fails; [`ImageError::BigEndian`] on a big-endian
/// machine.
pub fn write(
    index: &mut ArchiveIndex,
    generation: i64,
    out: &mut impl Write,
) -> Result<u64, ImageError> {
    if cfg!(target_endian = "big") {
        return Err(ImageError::BigEndian);
    }
    index.compact();
    // Two passes over the same sections, each made into bytes one at a time: the first
    // sums them for the header, the second writes them. Never more than one section
    // (at most one table's fingerprints) is copied at once.
    let mut checksum = Checksum::default();
    let mut body_len = 0u64;
    for_each_section(&*index, &mut |bytes| {
        checksum.feed(bytes);
        body_len += bytes.len() as u64;
        Ok(())
    })?;
    let segments = &index.segments;
    let file_len = HEADER_LEN as u64 + body_len;
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.extend_from_slice(&BYTE_ORDER.to_le_bytes());
    header.extend_from_slice(&segments.layout.max_distance.to_le_bytes());
    header.extend_from_slice(&(segments.layout.blocks.len() as u32).to_le_bytes());
    header.extend_from_slice(&generation.to_le_bytes());
    header.extend_from_slice(&(segments.len as u64).to_le_bytes());
    header.extend_from_slice(&(index.anchor_keys.len() as u64).to_le_bytes());
    header.extend_from_slice(&file_len.to_le_bytes());
    header.extend_from_slice(&checksum.finish().to_le_bytes());
    out.write_all(&header)?;
    for_each_section(&*index, &mut |bytes| out.write_all(bytes))?;
    Ok(file_len)
}

/// Calls `f` with each body section in file order, as little-endian bytes padded to a
/// multiple of 8.
fn for_each_section(
    index: &ArchiveIndex,
    f: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    for table in &index.segments.main {
        f(&u64::from(table.bucket_bits).to_le_bytes())?;
        f(&le_bytes(&table.offsets))?;
        f(&le_bytes(&table.rotated))?;
        f(&le_bytes(&table.ids))?;
    }
    f(&le_bytes(&index.anchor_keys))?;
    f(&le_bytes(&index.anchor_ids))
}

/// The integers of a slice as little-endian bytes, zero-padded to a multiple of 8.
fn le_bytes<T: Plain + LeBytes>(values: &[T]) -> Vec<u8> {
    let mut out = Vec::with_capacity(std::mem::size_of_val(values) + 8);
    for v in values {
        v.put(&mut out);
    }
    out.resize(out.len().div_ceil(8) * 8, 0);
    out
}

/// Little-endian encoding of the two integer types an image holds.
trait LeBytes {
    fn put(&self, out: &mut Vec<u8>);
}

impl LeBytes for u64 {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl LeBytes for u32 {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// The index an image holds and the generation it was built at. The index's arrays are
/// views into `bytes` (nothing is copied); inserting into it later copies what it
/// changes.
///
/// # Errors
/// [`ImageError`] naming the first check that failed: size, magic, version, byte order,
/// checksum, layout, then each section's shape.
pub fn read(bytes: &SharedBytes) -> Result<(ArchiveIndex, i64), ImageError> {
    if cfg!(target_endian = "big") {
        return Err(ImageError::BigEndian);
    }
    let all: &[u8] = (**bytes).as_ref();
    let actual = all.len() as u64;
    let header = all.get(..HEADER_LEN).ok_or(ImageError::Truncated {
        expected: HEADER_LEN as u64,
        actual,
    })?;
    if &header[..8] != MAGIC {
        return Err(ImageError::Magic);
    }
    let u32_at = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().unwrap_or([0; 4]));
    let u64_at = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().unwrap_or([0; 8]));
    let found = u32_at(8);
    if found != VERSION {
        return Err(ImageError::Version { found });
    }
    if u32_at(12) != BYTE_ORDER {
        return Err(ImageError::ByteOrder);
    }
    let (max_distance, tables) = (u32_at(16), u32_at(20));
    let generation = u64_at(24) as i64;
    let (entries, anchors, file_len, checksum) = (u64_at(32), u64_at(40), u64_at(48), u64_at(56));
    if actual < file_len {
        return Err(ImageError::Truncated {
            expected: file_len,
            actual,
        });
    }
    if actual > file_len {
        return Err(ImageError::TrailingBytes {
            expected: file_len,
            actual,
        });
    }
    let mut sum = Checksum::default();
    sum.feed(&all[HEADER_LEN..]);
    if sum.finish() != checksum {
        return Err(ImageError::Checksum);
    }
    let layout = Layout::new(max_distance, tables)?;
    let entries = usize::try_from(entries)
        .ok()
        .filter(|&n| n <= MAX_ENTRIES)
        .ok_or(ImageError::Malformed("too many entries"))?;
    let anchors =
        usize::try_from(anchors).map_err(|_| ImageError::Malformed("too many anchors"))?;
    let mut at = HEADER_LEN;
    let mut main = Vec::with_capacity(layout.blocks.len());
    for block in &layout.blocks {
        let bits: Column<u64> = take(bytes, &mut at, 1)?;
        let bits = u32::try_from(bits[0])
            .ok()
            .filter(|&b| b <= block.width.min(MAX_BUCKET_BITS))
            .ok_or(ImageError::Malformed("directory wider than its block"))?;
        let offsets: Column<u32> = take(bytes, &mut at, (1usize << bits) + 1)?;
        let monotonic = offsets.first() == Some(&0)
            && offsets.windows(2).all(|w| w[0] <= w[1])
            && offsets.last().map(|&l| l as usize) == Some(entries);
        if !monotonic {
            return Err(ImageError::Malformed("directory offsets out of order"));
        }
        main.push(Table {
            rotated: take(bytes, &mut at, entries)?,
            ids: take(bytes, &mut at, entries)?,
            offsets,
            bucket_bits: bits,
        });
    }
    let anchor_keys: Column<u64> = take(bytes, &mut at, anchors)?;
    let anchor_ids: Column<u32> = take(bytes, &mut at, anchors)?;
    if at != all.len() {
        return Err(ImageError::Malformed("sections do not fill the file"));
    }
    let segments = HammingIndex::from_main(layout, main, entries);
    Ok((
        ArchiveIndex::from_parts(segments, anchor_keys, anchor_ids),
        generation,
    ))
}

/// A view of the next `len` values at `*at`, which moves past them and their padding.
fn take<T: Plain>(
    bytes: &SharedBytes,
    at: &mut usize,
    len: usize,
) -> Result<Column<T>, ImageError> {
    let column = Column::view(bytes, *at, len).ok_or(ImageError::Malformed(
        "a section runs past the end of the file",
    ))?;
    let size = len * std::mem::size_of::<T>();
    *at += size.div_ceil(8) * 8;
    Ok(column)
}

/// A fast 64-bit checksum over whole words: four independent multiply-xor lanes, so it
/// runs at memory speed (the body of a million-original image is read in well under a
/// second). Detects damage, not tampering.
#[derive(Default)]
struct Checksum {
    lanes: [u64; 4],
    words: u64,
}

impl Checksum {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;

    /// Feeds bytes; word `i` of the whole stream goes to lane `i % 4` however the stream
    /// is cut into calls, so the writer's section-by-section sum equals the reader's
    /// one-call sum. Every section is a multiple of 8 bytes; a ragged end is zero-padded.
    fn feed(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while self.words % 4 != 0 && !rest.is_empty() {
            let (word, tail) = rest.split_at(rest.len().min(8));
            self.word(word);
            rest = tail;
        }
        let mut chunks = rest.chunks_exact(32);
        for c in &mut chunks {
            for (lane, w) in self.lanes.iter_mut().zip(c.chunks_exact(8)) {
                let mut b = [0u8; 8];
                b.copy_from_slice(w);
                *lane = mix(*lane, u64::from_le_bytes(b));
            }
            self.words += 4;
        }
        for w in chunks.remainder().chunks(8) {
            self.word(w);
        }
    }

    fn word(&mut self, w: &[u8]) {
        let mut b = [0u8; 8];
        b[..w.len()].copy_from_slice(w);
        let lane = &mut self.lanes[(self.words % 4) as usize];
        *lane = mix(*lane, u64::from_le_bytes(b));
        self.words += 1;
    }

    fn finish(&self) -> u64 {
        self.lanes.iter().fold(self.words, |h, &l| mix(h, l))
    }
}

#[inline]
fn mix(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(Checksum::K).rotate_left(29)
}
