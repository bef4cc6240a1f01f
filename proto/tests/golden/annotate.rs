//! Explains a frame byte by byte, from the schema (`devtail.proto`'s descriptors): the text of
//! PROTOCOL.md's worked examples. Written against the raw protobuf wire format, so it shows
//! exactly what a client implementer will see.

use devtail_proto::frame::{Compression, Flags};
use prost::Message;
use prost_types::field_descriptor_proto::Type;
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorSet};

/// Byte columns before the explanation.
const HEX_WIDTH: usize = 10;

pub(crate) struct Schema {
    messages: Vec<DescriptorProto>,
    enums: Vec<EnumDescriptorProto>,
}

impl Schema {
    pub(crate) fn load() -> Self {
        let set = FileDescriptorSet::decode(devtail_proto::FILE_DESCRIPTOR_SET).unwrap();
        let file = set
            .file
            .into_iter()
            .find(|f| f.name() == "devtail.proto")
            .unwrap();
        let mut messages = Vec::new();
        for message in file.message_type {
            // Map entries are nested types; keep them addressable by their full name.
            for nested in &message.nested_type {
                let mut nested = nested.clone();
                nested.name = Some(format!("{}.{}", message.name(), nested.name()));
                messages.push(nested);
            }
            messages.push(message);
        }
        Self {
            messages,
            enums: file.enum_type,
        }
    }

    fn message(&self, full_name: &str) -> &DescriptorProto {
        let name = full_name.trim_start_matches(".devtail.v1.");
        self.messages
            .iter()
            .find(|m| m.name() == name)
            .unwrap_or_else(|| panic!("no message {name}"))
    }

    fn enum_value(&self, full_name: &str, number: i32) -> String {
        let name = full_name.trim_start_matches(".devtail.v1.");
        self.enums
            .iter()
            .find(|e| e.name() == name)
            .and_then(|e| e.value.iter().find(|v| v.number() == number))
            .map_or_else(|| format!("{number} (unknown)"), |v| v.name().to_owned())
    }
}

/// Explains one frame (prefix, flags, body). `plain` is the decompressed envelope encoding
/// when the body is compressed.
pub(crate) fn frame(schema: &Schema, bytes: &[u8], stream: bool, plain: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = 0;
    if stream {
        let len = u32::from_be_bytes(bytes[..4].try_into().unwrap());
        out.push(line(
            &bytes[..4],
            0,
            &format!("length prefix: {len} bytes follow"),
        ));
        at = 4;
    }
    let flags = Flags::from_byte(bytes[at]).unwrap();
    let compression = match flags.compression {
        Compression::None => "plain",
        Compression::ZstdFrame => "zstd frame",
        Compression::ZstdStream => "zstd stream",
    };
    let reset = if flags.reset { ", reset" } else { "" };
    out.push(line(
        &bytes[at..=at],
        0,
        &format!("flags: {compression}{reset}"),
    ));
    at += 1;
    let body = &bytes[at..];
    if flags.compression == Compression::None {
        message(schema, ".devtail.v1.Envelope", body, 0, &mut out);
    } else {
        out.push(line(
            &body[..body.len().min(4)],
            0,
            &format!(
                "{} bytes of zstd data, decompressing to {} bytes:",
                body.len(),
                plain.len()
            ),
        ));
        message(schema, ".devtail.v1.Envelope", plain, 1, &mut out);
    }
    out
}

fn line(bytes: &[u8], depth: usize, text: &str) -> String {
    let mut hex: String = bytes.iter().take(8).map(|b| format!("{b:02x} ")).collect();
    if bytes.len() > 8 {
        hex.push_str("… ");
    }
    let pad = HEX_WIDTH * 3;
    format!("{hex:<pad$}{}{text}", "  ".repeat(depth))
}

fn varint(bytes: &[u8]) -> (u64, usize) {
    let mut value = 0u64;
    for (i, b) in bytes.iter().enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return (value, i + 1);
        }
    }
    panic!("truncated varint in a golden vector");
}

fn message(schema: &Schema, type_name: &str, bytes: &[u8], depth: usize, out: &mut Vec<String>) {
    let desc = schema.message(type_name);
    let short = type_name.trim_start_matches(".devtail.v1.");
    let mut at = 0;
    while at < bytes.len() {
        let (tag, tag_len) = varint(&bytes[at..]);
        let number = (tag >> 3) as i32;
        let wire_type = tag & 7;
        let field = desc.field.iter().find(|f| f.number() == number);
        let name = field.map_or_else(
            || format!("unknown field {number}"),
            |f| format!("{short}.{} ({number})", f.name()),
        );
        match wire_type {
            0 => {
                let (value, len) = varint(&bytes[at + tag_len..]);
                let shown = match field.map(|f| f.r#type()) {
                    Some(Type::Bool) => (value != 0).to_string(),
                    Some(Type::Enum) => schema.enum_value(field.unwrap().type_name(), value as i32),
                    Some(Type::Int32 | Type::Int64) => (value as i64).to_string(),
                    _ => value.to_string(),
                };
                out.push(line(
                    &bytes[at..at + tag_len + len],
                    depth,
                    &format!("{name} = {shown}"),
                ));
                at += tag_len + len;
            }
            1 => {
                let raw = &bytes[at + tag_len..at + tag_len + 8];
                let value = u64::from_le_bytes(raw.try_into().unwrap());
                let shown = match field.map(|f| f.r#type()) {
                    Some(Type::Double) => f64::from_bits(value).to_string(),
                    _ => value.to_string(),
                };
                out.push(line(
                    &bytes[at..at + tag_len + 8],
                    depth,
                    &format!("{name} = {shown}"),
                ));
                at += tag_len + 8;
            }
            2 => {
                let (len, len_len) = varint(&bytes[at + tag_len..]);
                let start = at + tag_len + len_len;
                let end = start + len as usize;
                let inner = &bytes[start..end];
                match field.map(|f| (f.r#type(), f.type_name())) {
                    Some((Type::Message, nested)) => {
                        let nested_short = nested.trim_start_matches(".devtail.v1.");
                        out.push(line(
                            &bytes[at..start],
                            depth,
                            &format!("{name}: {nested_short}, {len} bytes"),
                        ));
                        message(schema, nested, inner, depth + 1, out);
                    }
                    Some((Type::String, _)) => {
                        let text = String::from_utf8_lossy(inner);
                        let shown: String = text.chars().take(48).collect();
                        let more = if text.chars().count() > 48 { "…" } else { "" };
                        out.push(line(
                            &bytes[at..start],
                            depth,
                            &format!("{name}: string, {len} bytes"),
                        ));
                        out.push(line(inner, depth + 1, &format!("{:?}{more}", shown)));
                    }
                    Some((Type::Bytes, _)) => {
                        out.push(line(
                            &bytes[at..start],
                            depth,
                            &format!("{name}: bytes, {len} bytes"),
                        ));
                        if !inner.is_empty() {
                            let printable = inner
                                .iter()
                                .all(|b| b.is_ascii_graphic() || b" \r\n\x1b".contains(b));
                            let shown = if printable {
                                let text: String =
                                    String::from_utf8_lossy(inner).chars().take(40).collect();
                                format!("{text:?}{}", if inner.len() > 40 { "…" } else { "" })
                            } else {
                                "(binary)".to_owned()
                            };
                            out.push(line(inner, depth + 1, &shown));
                        }
                    }
                    _ => {
                        // Packed repeated scalars (enums, numbers), or an unknown field.
                        let what = match field {
                            Some(f) if f.r#type() == Type::Enum => {
                                let mut values = Vec::new();
                                let mut i = 0;
                                while i < inner.len() {
                                    let (v, l) = varint(&inner[i..]);
                                    values.push(schema.enum_value(f.type_name(), v as i32));
                                    i += l;
                                }
                                format!("packed [{}]", values.join(", "))
                            }
                            Some(_) => {
                                let mut values = Vec::new();
                                let mut i = 0;
                                while i < inner.len() {
                                    let (v, l) = varint(&inner[i..]);
                                    values.push(v.to_string());
                                    i += l;
                                }
                                format!("packed [{}]", values.join(", "))
                            }
                            None => {
                                format!("{len} bytes (skipped by receivers that do not know it)")
                            }
                        };
                        out.push(line(&bytes[at..end], depth, &format!("{name}: {what}")));
                    }
                }
                at = end;
            }
            5 => {
                out.push(line(
                    &bytes[at..at + tag_len + 4],
                    depth,
                    &format!("{name}: fixed32"),
                ));
                at += tag_len + 4;
            }
            other => panic!("wire type {other} in a golden vector"),
        }
    }
}
