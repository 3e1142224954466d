//! An array of `u64` or `u32` that is either owned (a `Vec`) or a view into a shared
//! byte buffer (the memory-mapped index file, see [`super::image`]).
//!
//! This module owns the one `unsafe` cast from bytes to integers: a view is only made
//! after its range was checked to lie inside the buffer and to be aligned for `T`, and
//! it keeps the buffer alive (an `Arc`). Reading a view never copies; changing one
//! (an insert into a mapped index) first copies it into a `Vec`, so a shared buffer is
//! never written.

use std::ops::Deref;
use std::sync::Arc;

/// Bytes shared by every column viewing them: a memory map in production, a `Vec<u8>`
/// in tests. Must not change while any column views it.
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// The element types a column may view: plain integers, for which every bit pattern is a
/// valid value, so any aligned bytes are a valid array of them.
pub trait Plain: Copy + Default + Send + Sync + 'static {}
impl Plain for u64 {}
impl Plain for u32 {}

/// An owned or viewed array (see the module header).
#[derive(Clone)]
pub enum Column<T: Plain> {
    /// Built in memory.
    Owned(Vec<T>),
    /// `len` values of `T` at byte `start` of `bytes`; checked by [`Column::view`].
    Viewed {
        /// Keeps the buffer alive as long as the view.
        bytes: SharedBytes,
        /// Byte offset of the first value; aligned for `T` in the buffer's memory.
        start: usize,
        /// Number of values.
        len: usize,
    },
}

impl<T: Plain> Default for Column<T> {
    fn default() -> Self {
        Column::Owned(Vec::new())
    }
}

impl<T: Plain> From<Vec<T>> for Column<T> {
    fn from(v: Vec<T>) -> Self {
        Column::Owned(v)
    }
}

impl<T: Plain + std::fmt::Debug> std::fmt::Debug for Column<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Column::Owned(v) => f.debug_tuple("Owned").field(&v.len()).finish(),
            Column::Viewed { start, len, .. } => f
                .debug_struct("Viewed")
                .field("start", start)
                .field("len", len)
                .finish(),
        }
    }
}

impl<T: Plain> Column<T> {
    /// A view of `len` values at byte `start` of `bytes`, or `None` when the range does
    /// not lie inside the buffer or is not aligned for `T` there.
    pub fn view(bytes: &SharedBytes, start: usize, len: usize) -> Option<Column<T>> {
        let buffer: &[u8] = (**bytes).as_ref();
        let size = len.checked_mul(std::mem::size_of::<T>())?;
        let range = buffer.get(start..start.checked_add(size)?)?;
        if range.as_ptr().align_offset(std::mem::align_of::<T>()) != 0 {
            return None;
        }
        Some(Column::Viewed {
            bytes: Arc::clone(bytes),
            start,
            len,
        })
    }

    /// The values, for changing: a view is first copied into a `Vec` of its own.
    pub fn to_mut(&mut self) -> &mut Vec<T> {
        if let Column::Viewed { .. } = self {
            *self = Column::Owned(self.deref().to_vec());
        }
        match self {
            Column::Owned(v) => v,
            // Replaced by an owned copy just above.
            Column::Viewed { .. } => unreachable!("a view was just replaced by a Vec"),
        }
    }

    /// Heap bytes this column holds (a view holds none: its pages belong to the buffer,
    /// shared with every other process mapping the same file).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Column::Owned(v) => v.capacity() * std::mem::size_of::<T>(),
            Column::Viewed { .. } => 0,
        }
    }
}

impl<T: Plain> Deref for Column<T> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        match self {
            Column::Owned(v) => v,
            Column::Viewed { bytes, start, len } => {
                let buffer: &[u8] = (**bytes).as_ref();
                let Some(range) = buffer.get(*start..*start + *len * std::mem::size_of::<T>())
                else {
                    // Unreachable: `view` checked the range, and the buffer never changes.
                    return &[];
                };
                // SAFETY: `view` checked that this range lies inside the buffer and is
                // aligned for `T`; `T` is a plain integer, valid for every bit pattern;
                // the buffer is kept alive by the `Arc` in `self` and never changes while
                // viewed (see `SharedBytes`), so the slice lives as long as `&self`.
                unsafe { std::slice::from_raw_parts(range.as_ptr().cast::<T>(), *len) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_read_checked_ranges_and_copy_on_write() {
        let values: Vec<u64> = vec![1, 2, 3, u64::MAX];
        // A `Vec<u8>` is not guaranteed 8-aligned: write the values at its first aligned
        // byte (moving the `Vec` into the `Arc` keeps its heap buffer where it is).
        let mut raw = vec![0u8; 48];
        let base = raw.as_ptr().align_offset(8);
        for (i, v) in values.iter().enumerate() {
            raw[base + 8 * i..base + 8 * i + 8].copy_from_slice(&v.to_le_bytes());
        }
        let bytes: SharedBytes = Arc::new(raw);
        let col = Column::<u64>::view(&bytes, base, 4).unwrap();
        assert_eq!(&*col, &values[..]);
        assert!(
            Column::<u64>::view(&bytes, base + 1, 1).is_none(),
            "misaligned"
        );
        assert!(
            Column::<u64>::view(&bytes, base + 8, 6).is_none(),
            "past the end"
        );
        assert!(
            Column::<u64>::view(&bytes, 0, usize::MAX).is_none(),
            "overflow"
        );
        assert_eq!(col.heap_bytes(), 0);
        let mut owned = col.clone();
        owned.to_mut().push(9);
        assert_eq!(owned.len(), 5);
        assert_eq!(col.len(), 4, "the view is unchanged");
    }
}
