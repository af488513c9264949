//! The JSON line: one object per event with each field once.
//!
//! tracing-subscriber's own JSON format repeats the span twice (`span` and
//! `spans`) and re-parses the span's fields for every line. This layer keeps
//! a span's fields as ready JSON members and splices them in. A line is
//! built as bytes in a per-thread buffer and handed to the writer with one
//! write: serde_json escapes and writes floats, itoa writes integers, and
//! the common string, one with nothing to escape, is copied as it is.

use std::cell::RefCell;
use std::fmt;
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Writes every event as one JSON line to `W`.
pub(super) struct JsonLayer<W> {
    writer: W,
}

impl<W> JsonLayer<W> {
    pub(super) fn new(writer: W) -> Self {
        Self { writer }
    }
}

/// A span's fields as JSON members, each `,"name":value`.
struct SpanMembers(Vec<u8>);

impl<S, W> Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        // Room for the request span's fields and the user recorded later.
        let mut members = Vec::with_capacity(192);
        let mut visitor = Members::new(&mut members);
        attrs.record(&mut visitor);
        if visitor.result.is_ok() {
            span.extensions_mut().insert(SpanMembers(members));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(SpanMembers(members)) = extensions.get_mut::<SpanMembers>() {
            let kept = members.len();
            let mut visitor = Members::new(members);
            values.record(&mut visitor);
            if visitor.result.is_err() {
                members.truncate(kept);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let _ = with_buffer(|line| {
            line.extend_from_slice(b"{\"timestamp\":\"");
            timestamp(line)?;
            line.extend_from_slice(b"\",\"level\":\"");
            line.extend_from_slice(event.metadata().level().as_str().as_bytes());
            line.push(b'"');
            let mut members = Members::new(line);
            event.record(&mut members);
            members.result?;
            if let Some(scope) = ctx.event_scope(event) {
                for span in scope.from_root() {
                    if let Some(SpanMembers(members)) = span.extensions().get::<SpanMembers>() {
                        line.extend_from_slice(members);
                    }
                }
            }
            line.extend_from_slice(b",\"target\":");
            string(line, event.metadata().target());
            line.extend_from_slice(b"}\n");
            self.writer
                .make_writer_for(event.metadata())
                .write_all(line)
                .map_err(|_| fmt::Error)
        });
    }
}

/// Runs `build` on this thread's line buffer, empty; a fresh one if it is
/// in use (a field's `Debug` that logs).
fn with_buffer(build: impl FnOnce(&mut Vec<u8>) -> fmt::Result) -> fmt::Result {
    thread_local! {
        static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    LINE.with(|line| match line.try_borrow_mut() {
        Ok(mut line) => {
            line.clear();
            let built = build(&mut line);
            // A huge field once must not keep its buffer for the thread's life.
            if line.capacity() > 64 * 1024 {
                *line = Vec::new();
            }
            built
        }
        Err(_) => build(&mut Vec::new()),
    })
}

/// RFC 3339 UTC with microseconds, as tracing-subscriber writes it
/// (`2026-12-07T16:10:06.123456Z`). The date and time up to the second is
/// formatted once a second per thread; each line only adds the fraction.
fn timestamp(line: &mut Vec<u8>) -> fmt::Result {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = || {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        (since_epoch.as_secs(), since_epoch.subsec_micros())
    };
    let (mut seconds, mut micros) = now();
    SECOND.with(|second| {
        let mut second = second.try_borrow_mut().map_err(|_| fmt::Error)?;
        if second.0 != seconds {
            let mut formatted = String::new();
            // The formatter reads the clock again: at a second's edge it can
            // be a second ahead of ours, so read ours again until they agree.
            for _ in 0..3 {
                formatted.clear();
                SystemTime.format_time(&mut Writer::new(&mut formatted))?;
                // `2026-12-07T16:10:06`: the seconds are at 17..19.
                if formatted.get(17..19).and_then(|s| s.parse::<u64>().ok()) == Some(seconds % 60) {
                    break;
                }
                (seconds, micros) = now();
            }
            // Everything before the fraction.
            formatted.truncate(formatted.find('.').unwrap_or(formatted.len()));
            *second = (seconds, formatted);
        }
        line.extend_from_slice(second.1.as_bytes());
        Ok(())
    })?;
    let mut fraction = *b".000000Z";
    let mut rest = micros;
    for digit in fraction[1..7].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    line.extend_from_slice(&fraction);
    Ok(())
}

/// Writes `text` as a JSON string: as it is when nothing in it needs
/// escaping (ids, routes, names), else escaped by serde_json.
fn string(line: &mut Vec<u8>, text: &str) {
    if needs_escape(text.as_bytes()) {
        // Writing a string to a Vec cannot fail.
        let _ = serde_json::to_writer(line, text);
    } else {
        line.push(b'"');
        line.extend_from_slice(text.as_bytes());
        line.push(b'"');
    }
}

/// Whether JSON needs a byte of `bytes` escaped: a control byte, `"` or
/// `\`. Most strings are short names and ids, so this looks at eight bytes
/// at a time with the word tricks of "Bit Twiddling Hacks" (a byte below
/// n, a zero byte), each exact for "is there any".
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS != 0;
    let has = |word: u64, byte: u8| below(word ^ (ONES * u64::from(byte)), 1);
    let escapes = |word: u64| below(word, 0x20) | has(word, b'"') | has(word, b'\\');
    let mut chunks = bytes.chunks_exact(8);
    let mut found = false;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        found |= escapes(u64::from_ne_bytes(word));
    }
    // The tail, padded with a byte that needs nothing.
    let rest = chunks.remainder();
    let mut word = [b'a'; 8];
    word[..rest.len()].copy_from_slice(rest);
    found | escapes(u64::from_ne_bytes(word))
}

/// Writes each field it visits as `,"name":value`.
struct Members<'a> {
    line: &'a mut Vec<u8>,
    result: fmt::Result,
}

impl<'a> Members<'a> {
    fn new(line: &'a mut Vec<u8>) -> Self {
        Self { line, result: Ok(()) }
    }

    fn name(&mut self, field: &Field) {
        self.line.push(b',');
        string(self.line, field.name());
        self.line.push(b':');
    }

    /// A value serde_json writes: floats, and strings formatted on the way.
    fn serialized(&mut self, field: &Field, value: impl serde::Serialize) {
        self.name(field);
        // Only a failing `Display` or `Debug` can fail it; the line is then dropped.
        if serde_json::to_writer(&mut *self.line, &value).is_err() {
            self.result = Err(fmt::Error);
        }
    }

    fn integer(&mut self, field: &Field, value: impl itoa::Integer) {
        self.name(field);
        self.line
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }
}

impl Visit for Members<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.name(field);
        string(self.line, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.integer(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.integer(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.integer(field, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.integer(field, value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.serialized(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.name(field);
        self.line
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.serialized(field, AsString(&format_args!("{value}")));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.serialized(field, AsString(&format_args!("{value:?}")));
    }
}

/// A `Display` value as a JSON string, escaped as it is formatted.
struct AsString<'a>(&'a fmt::Arguments<'a>);

impl serde::Serialize for AsString<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::needs_escape;

    #[test]
    fn the_escape_check_agrees_with_a_byte_by_byte_one() {
        let naive = |bytes: &[u8]| bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
        // Every byte value at every position of strings of every length up to 24.
        for len in 1..=24 {
            for position in 0..len {
                for byte in 0..=255u8 {
                    let mut bytes = vec![b'x'; len];
                    bytes[position] = byte;
                    assert_eq!(needs_escape(&bytes), naive(&bytes), "{bytes:?}");
                }
            }
        }
        assert!(!needs_escape(b""));
        // Bytes just around the edges, mixed, and UTF-8 above 0x7f.
        for text in [
            "\u{7f}\u{1f}",
            " !#[]",
            "é ü 漢字",
            "a\u{0}",
            "0123456789abcdef\"",
            "/api/me",
        ] {
            assert_eq!(needs_escape(text.as_bytes()), naive(text.as_bytes()), "{text:?}");
        }
    }
}
