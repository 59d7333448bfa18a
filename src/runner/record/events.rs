//! TensorBoard event files: what `tensorboard --logdir results` reads.
//!
//! An event file is a TFRecord file (each record: its length as u64, the
//! masked CRC32C of those 8 bytes, the data, the data's masked CRC32C) of
//! serialized `tensorflow.Event` protobuf messages. Both are written here by
//! hand rather than through a crate: the few fields used (an Event's time,
//! step, file version, summary and session log; a Summary value's tag,
//! scalar, PNG image, string tensor and plugin metadata) take a page, where
//! prost would need protoc and TensorBoard's .proto files at build time,
//! and the crates that write event files bring a protobuf runtime and
//! their own tensor types with them. The field numbers are those of
//! tensorflow/core/util/event.proto, core/framework/summary.proto and
//! tensor.proto, and of tensorboard/plugins/hparams/plugin_data.proto; the
//! tests read the files back with TensorBoard's own EventAccumulator.

use crate::error::{run, Result};
use crate::runner::store::run_dir::RunDir;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The CRC32C table (Castagnoli polynomial, reflected), built at compile
/// time. Twenty lines here rather than a crate: the records are small and
/// few (a flush every REPORT_EVERY steps), so speed does not matter.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |c, &b| {
        CRC_TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8)
    })
}

/// TFRecord's masked CRC (so that a CRC of data holding CRCs stays useful).
pub fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c(data);
    ((c >> 15) | (c << 17)).wrapping_add(0xA282_EAD8)
}

/// One TFRecord: length, its masked CRC, `data`, the data's masked CRC.
pub fn record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend(len);
    out.extend(masked_crc(&len).to_le_bytes());
    out.extend(data);
    out.extend(masked_crc(data).to_le_bytes());
    out
}

/// A protobuf message being encoded, field by field.
#[derive(Default)]
struct Proto(Vec<u8>);

impl Proto {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint(((field as u64) << 3) | wire as u64);
    }

    /// An int32, int64 or enum field.
    fn int(mut self, field: u32, v: i64) -> Proto {
        self.key(field, 0);
        self.varint(v as u64);
        self
    }

    fn double(mut self, field: u32, v: f64) -> Proto {
        self.key(field, 1);
        self.0.extend(v.to_le_bytes());
        self
    }

    fn float(mut self, field: u32, v: f32) -> Proto {
        self.key(field, 5);
        self.0.extend(v.to_le_bytes());
        self
    }

    /// A string, bytes or (serialized) message field.
    fn bytes(mut self, field: u32, v: &[u8]) -> Proto {
        self.key(field, 2);
        self.varint(v.len() as u64);
        self.0.extend(v);
        self
    }

    fn message(self, field: u32, m: Proto) -> Proto {
        self.bytes(field, &m.0)
    }
}

/// tensorflow.DataType values used.
const DT_FLOAT: i64 = 1;
const DT_STRING: i64 = 7;
/// SessionLog.SessionStatus START.
const SESSION_START: i64 = 1;
/// HParams SessionEndInfo.status STATUS_SUCCESS.
const STATUS_SUCCESS: i64 = 1;

/// A Summary.Value's metadata naming the plugin that reads it.
fn plugin(name: &str, content: Proto) -> Proto {
    let data = Proto::default()
        .bytes(1, name.as_bytes())
        .message(2, content);
    Proto::default().message(1, data)
}

/// A scalar string tensor (the text plugin's data).
fn string_tensor(text: &str) -> Proto {
    Proto::default()
        .int(1, DT_STRING)
        .message(2, Proto::default())
        .bytes(8, text.as_bytes())
}

/// An empty float tensor of shape [0], the tensor of the hparams plugin's
/// summaries (their content is in the metadata): its NULL_TENSOR.
fn null_tensor() -> Proto {
    let shape = Proto::default().message(2, Proto::default());
    Proto::default().int(1, DT_FLOAT).message(2, shape)
}

/// A hyperparameter's value in the HParams tab.
#[derive(Debug, Clone, PartialEq)]
pub enum HValue {
    Number(f64),
    Text(String),
    Flag(bool),
}

/// A google.protobuf.Value.
fn value(v: &HValue) -> Proto {
    match v {
        HValue::Number(x) => Proto::default().double(2, *x),
        HValue::Text(s) => Proto::default().bytes(3, s.as_bytes()),
        HValue::Flag(b) => Proto::default().int(4, *b as i64),
    }
}

/// PNG's width, height and channels, from its IHDR chunk.
fn png_shape(png: &[u8]) -> Option<(i64, i64, i64)> {
    if png.len() < 26 || &png[..8] != b"\x89PNG\r\n\x1a\n" || &png[12..16] != b"IHDR" {
        return None;
    }
    let be = |i: usize| u32::from_be_bytes(png[i..i + 4].try_into().unwrap()) as i64;
    let channels = match png[25] {
        0 => 1,
        4 => 2,
        2 | 3 => 3,
        _ => 4,
    };
    Some((be(16), be(20), channels))
}

/// An open event file of a run directory.
pub struct EventFile {
    path: PathBuf,
    out: BufWriter<File>,
}

impl EventFile {
    /// A new event file in `dir`, named by TensorBoard's pattern
    /// `events.out.tfevents.<seconds>.<hostname>` (with `.<suffix>` when
    /// given). TensorBoard reads a directory's event files in the order of
    /// their names, so the seconds are made later than any event file's
    /// already there (a resumed run's file must come after the killed one's).
    pub fn create(dir: &RunDir, suffix: Option<&str>) -> Result<EventFile> {
        let secs = existing(&dir.path)
            .iter()
            .filter_map(|p| {
                p.file_name()?
                    .to_str()?
                    .split('.')
                    .nth(3)?
                    .parse::<u64>()
                    .ok()
            })
            .map(|s| s + 1)
            .fold(unix_seconds() as u64, u64::max);
        let mut name = format!("events.out.tfevents.{secs}.{}", hostname());
        if let Some(suffix) = suffix {
            name = format!("{name}.{suffix}");
        }
        let path = dir.file(&name);
        let file = File::create(&path)
            .map_err(|e| run(format!("cannot write {}: {e}", path.display())))?;
        let mut events = EventFile {
            path,
            out: BufWriter::new(file),
        };
        events.write(0, Proto::default().bytes(3, b"brain.Event:2"))?;
        Ok(events)
    }

    /// Write one Event at `step`: its time and step, then `fields`.
    fn write(&mut self, step: i64, fields: Proto) -> Result<()> {
        let mut event = Proto::default().double(1, unix_seconds()).int(2, step);
        event.0.extend(fields.0);
        self.out
            .write_all(&record(&event.0))
            .map_err(|e| run(format!("cannot write {}: {e}", self.path.display())))
    }

    /// Write one Event holding the Summary `values`.
    fn summary(&mut self, step: i64, values: Vec<Proto>) -> Result<()> {
        let summary = values
            .into_iter()
            .fold(Proto::default(), |s, v| s.message(1, v));
        self.write(step, Proto::default().message(5, summary))
    }

    /// Scalars at `step`, one Event; non-finite values are left out (a
    /// metric not measured that epoch is NaN in metrics.csv).
    pub fn scalars(&mut self, step: i64, values: &[(String, f64)]) -> Result<()> {
        let values: Vec<Proto> = values
            .iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(tag, v)| {
                Proto::default()
                    .bytes(1, tag.as_bytes())
                    .float(2, *v as f32)
            })
            .collect();
        match values.is_empty() {
            true => Ok(()),
            false => self.summary(step, values),
        }
    }

    /// A PNG image under `tag` at `step`.
    pub fn image(&mut self, step: i64, tag: &str, png: &[u8]) -> Result<()> {
        let (width, height, channels) = png_shape(png).ok_or_else(|| {
            run(format!(
                "{tag}: not a PNG image; not written to {}",
                self.path.display()
            ))
        })?;
        let image = Proto::default()
            .int(1, height)
            .int(2, width)
            .int(3, channels)
            .bytes(4, png);
        let value = Proto::default().bytes(1, tag.as_bytes()).message(4, image);
        self.summary(step, vec![value])
    }

    /// Markdown `text` under `tag` at `step` (TensorBoard's text plugin).
    pub fn text(&mut self, step: i64, tag: &str, text: &str) -> Result<()> {
        let value = Proto::default()
            .bytes(1, tag.as_bytes())
            .message(9, plugin("text", Proto::default()))
            .message(8, string_tensor(text));
        self.summary(step, vec![value])
    }

    /// The HParams plugin's session start: the run's hyperparameters, which
    /// make the run a row of the HParams tab (its metrics are the run's
    /// scalars, last values).
    pub fn hparams(&mut self, hparams: &[(String, HValue)]) -> Result<()> {
        let start = hparams.iter().fold(Proto::default(), |m, (k, v)| {
            let entry = Proto::default().bytes(1, k.as_bytes()).message(2, value(v));
            m.message(1, entry)
        });
        let start = start.double(5, unix_seconds());
        self.hparams_summary(0, "_hparams_/session_start_info", 3, start)
    }

    /// The HParams plugin's session end: the run finished.
    pub fn hparams_end(&mut self, step: i64) -> Result<()> {
        let end = Proto::default()
            .int(1, STATUS_SUCCESS)
            .double(2, unix_seconds());
        self.hparams_summary(step, "_hparams_/session_end_info", 4, end)
    }

    /// An HParamsPluginData (version 0) holding `info` in `field`, as the
    /// metadata of a summary under `tag`.
    fn hparams_summary(&mut self, step: i64, tag: &str, field: u32, info: Proto) -> Result<()> {
        let content = Proto::default().int(1, 0).message(field, info);
        let value = Proto::default()
            .bytes(1, tag.as_bytes())
            .message(9, plugin("hparams", content))
            .message(8, null_tensor());
        self.summary(step, vec![value])
    }

    /// A SessionLog START at `step`: TensorBoard drops whatever earlier
    /// files hold at `step` and after (the steps a killed process wrote
    /// after the checkpoint a resumed run continues from).
    pub fn session_start(&mut self, step: i64) -> Result<()> {
        let log = Proto::default().int(1, SESSION_START);
        self.write(step, Proto::default().message(7, log))
    }

    /// Hand what is written to the OS, so TensorBoard sees it now.
    pub fn flush(&mut self) -> Result<()> {
        self.out
            .flush()
            .map_err(|e| run(format!("cannot write {}: {e}", self.path.display())))
    }
}

fn unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// The event files in `dir`, sorted by name.
pub fn existing(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("events.out.tfevents."))
        })
        .collect();
    files.sort();
    files
}

/// This machine's name, as TensorBoard's writers put it in file names.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().replace(['/', '.'], "-"))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_of_the_standard_check_string() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn a_record_frames_its_data_with_masked_crcs() {
        let r = record(b"abc");
        assert_eq!(r.len(), 3 + 16);
        assert_eq!(&r[..8], &3u64.to_le_bytes());
        let crc = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap());
        assert_eq!(crc(&r[8..12]), masked_crc(&r[..8]));
        assert_eq!(&r[12..15], b"abc");
        assert_eq!(crc(&r[15..]), masked_crc(b"abc"));
        // The values of TensorBoard's own masked_crc32c (its pywrap stub).
        assert_eq!(masked_crc(b"abc"), 0x21F1_576E);
        assert_eq!(masked_crc(&3u64.to_le_bytes()), 0x0E49_99B0);
    }

    #[test]
    fn protobuf_fields_encode_as_the_wire_format_says() {
        // Field 2 varint 150: 0x10 0x96 0x01 (the protobuf guide's example).
        assert_eq!(Proto::default().int(2, 150).0, [0x10, 0x96, 0x01]);
        assert_eq!(Proto::default().bytes(2, b"testing").0[..2], [0x12, 7]);
        assert_eq!(Proto::default().float(2, 1.0).0, [0x15, 0, 0, 0x80, 0x3F]);
        // A negative int64 takes ten bytes, as two's complement.
        assert_eq!(Proto::default().int(1, -1).0.len(), 11);
    }

    #[test]
    fn png_shape_reads_the_header() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend(640u32.to_be_bytes());
        png.extend(480u32.to_be_bytes());
        png.extend([8, 2, 0, 0, 0]);
        assert_eq!(png_shape(&png), Some((640, 480, 3)));
        assert_eq!(png_shape(b"not a png at all, not at all"), None);
    }
}
