//! A Parquet file known only by the byte ranges fetched from it: the footer
//! and the column chunks a read plan needs. The decoder reads through it as
//! if it were the whole file; a range that was not fetched is an error.

use bytes::{Buf, Bytes};
use parquet::errors::{ParquetError, Result};
use parquet::file::reader::{ChunkReader, Length};

pub struct Fetched {
    len: u64,
    /// (offset, bytes), sorted by offset.
    chunks: Vec<(u64, Bytes)>,
}

impl Fetched {
    pub fn new(len: u64, mut chunks: Vec<(u64, Bytes)>) -> Fetched {
        chunks.sort_by_key(|(offset, _)| *offset);
        Fetched { len, chunks }
    }

    /// `length` bytes at `start`, or to the end of the chunk holding `start`.
    /// Chunks may overlap (the footer guess can cover column chunks).
    fn slice(&self, start: u64, length: Option<usize>) -> Result<Bytes> {
        let candidates = self.chunks.partition_point(|(offset, _)| *offset <= start);
        for (offset, bytes) in self.chunks[..candidates].iter().rev() {
            let from = (start - offset) as usize;
            let to = length.map_or(bytes.len(), |n| from.saturating_add(n));
            if from <= bytes.len() && to <= bytes.len() {
                return Ok(bytes.slice(from..to));
            }
        }
        Err(ParquetError::General(format!(
            "byte range at {start} was not fetched"
        )))
    }
}

impl Length for Fetched {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for Fetched {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> Result<Self::T> {
        Ok(self.slice(start, None)?.reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes> {
        self.slice(start, Some(length))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inside_fetched_ranges_only() {
        let f = Fetched::new(
            100,
            vec![
                (50, Bytes::from_static(b"abcdef")),
                (10, Bytes::from_static(b"xyz")),
            ],
        );
        assert_eq!(
            f.get_bytes(11, 2).expect("inside"),
            Bytes::from_static(b"yz")
        );
        assert_eq!(
            f.get_bytes(52, 4).expect("inside"),
            Bytes::from_static(b"cdef")
        );
        assert!(f.get_bytes(52, 5).is_err(), "past the chunk");
        assert!(f.get_bytes(5, 1).is_err(), "before every chunk");
        assert!(f.get_bytes(20, 1).is_err(), "between chunks");
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut f.get_read(53).expect("read"), &mut rest).expect("utf8");
        assert_eq!(rest, "def");
    }
}
