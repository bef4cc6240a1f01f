//! A terminal's recent output, addressed by absolute byte offset: subscribers read from their
//! own offset at their own pace, and the oldest bytes fall off past the capacity.

use std::collections::VecDeque;

use bytes::Bytes;

/// Recent output of one terminal.
#[derive(Debug)]
pub(crate) struct OutputLog {
    buf: VecDeque<u8>,
    /// Offset of `buf[0]` in the terminal's output stream.
    start: u64,
    capacity: usize,
}

impl OutputLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            buf: VecDeque::new(),
            start: 0,
            capacity,
        }
    }

    /// Offset just past the newest byte.
    pub(crate) fn end(&self) -> u64 {
        self.start + self.buf.len() as u64
    }

    /// Offset of the oldest byte still held.
    pub(crate) fn start(&self) -> u64 {
        self.start
    }

    pub(crate) fn append(&mut self, bytes: &[u8]) {
        self.buf.extend(bytes);
        let excess = self.buf.len().saturating_sub(self.capacity);
        if excess > 0 {
            self.buf.drain(..excess);
            self.start += excess as u64;
        }
    }

    /// Copies up to `max` bytes from `offset` (clamped to what is held).
    pub(crate) fn read(&self, offset: u64, max: usize) -> Bytes {
        let from = offset.clamp(self.start, self.end());
        let skip = (from - self.start) as usize;
        let len = (self.buf.len() - skip).min(max);
        let (a, b) = self.buf.as_slices();
        let mut out = Vec::with_capacity(len);
        if skip < a.len() {
            let take = (a.len() - skip).min(len);
            out.extend_from_slice(&a[skip..skip + take]);
            out.extend_from_slice(&b[..len - take]);
        } else {
            out.extend_from_slice(&b[skip - a.len()..skip - a.len() + len]);
        }
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_follow_offsets_across_wraparound() {
        let mut log = OutputLog::new(8);
        log.append(b"abcdef");
        assert_eq!(&log.read(0, 100)[..], b"abcdef");
        assert_eq!(&log.read(2, 3)[..], b"cde");
        log.append(b"ghijk");
        assert_eq!((log.start(), log.end()), (3, 11));
        assert_eq!(
            &log.read(0, 100)[..],
            b"defghijk",
            "old offsets clamp to the start"
        );
        assert_eq!(&log.read(9, 100)[..], b"jk");
        assert_eq!(&log.read(11, 100)[..], b"");
        assert_eq!(&log.read(50, 100)[..], b"");
    }
}
