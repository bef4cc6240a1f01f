//! The rows of the compression study: which methods run for a chunk size, with their labels
//! ("(a) frame L3", "(d) STREAM L3 w16 t48", …) and parameters.

use devtail_bench::Chunking;
use devtail_proto::{CompressionPolicy, ZstdParams};

use crate::{LEVELS, STREAM_WINDOWS, THRESHOLDS};

/// How frames are made.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Method {
    /// zstd's bulk API, one frame per chunk, with or without the leave-one-out dictionary.
    Raw { level: i32, dict: bool },
    /// The real codec.
    Codec {
        policy: CompressionPolicy,
        params: ZstdParams,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct MethodSpec {
    /// Row label.
    pub(crate) label: String,
    /// Study part: "base", "a", "b", "c", "d", "e".
    pub(crate) part: &'static str,
    pub(crate) method: Method,
}

pub(crate) fn methods(chunking: Chunking) -> Vec<MethodSpec> {
    let off = ZstdParams::default();
    let mut specs = vec![MethodSpec {
        label: "none (Off)".to_owned(),
        part: "base",
        method: Method::Codec {
            policy: CompressionPolicy::Off,
            params: off,
        },
    }];
    for level in LEVELS {
        specs.push(MethodSpec {
            label: format!("(a) frame L{level}"),
            part: "a",
            method: Method::Raw { level, dict: false },
        });
    }
    for level in LEVELS {
        specs.push(MethodSpec {
            label: format!("(b) frame+dict16K L{level}"),
            part: "b",
            method: Method::Raw { level, dict: true },
        });
    }
    for window_log in STREAM_WINDOWS {
        for level in LEVELS {
            specs.push(MethodSpec {
                label: format!("(c) stream L{level} w{window_log}"),
                part: "c",
                method: Method::Codec {
                    policy: CompressionPolicy::ZstdStream { threshold: 0 },
                    params: ZstdParams { level, window_log },
                },
            });
        }
    }
    let shipped = ZstdParams::default();
    for (name, policy) in [
        ("STREAM", CompressionPolicy::STREAM),
        ("FRAME", CompressionPolicy::FRAME),
    ] {
        let threshold = threshold_of(policy).unwrap_or(0);
        specs.push(MethodSpec {
            label: format!(
                "(d) {name} L{} w{} t{threshold}",
                shipped.level, shipped.window_log
            ),
            part: "d",
            method: Method::Codec {
                policy,
                params: shipped,
            },
        });
    }
    if matches!(chunking, Chunking::Mixed { .. }) {
        for threshold in THRESHOLDS {
            specs.push(MethodSpec {
                label: format!(
                    "(e) stream L{} w{} t{threshold}",
                    shipped.level, shipped.window_log
                ),
                part: "e",
                method: Method::Codec {
                    policy: CompressionPolicy::ZstdStream { threshold },
                    params: shipped,
                },
            });
        }
    }
    specs
}

/// The size threshold of a compressing policy; `None` for `Off`.
pub(crate) fn threshold_of(policy: CompressionPolicy) -> Option<usize> {
    match policy {
        CompressionPolicy::Off => None,
        CompressionPolicy::ZstdFrame { threshold }
        | CompressionPolicy::ZstdStream { threshold } => Some(threshold),
    }
}
