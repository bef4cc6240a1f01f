//! Generates the Rust types of `devtail.proto` (prost) and their proto3-JSON mapping (pbjson).
//! protox parses the schema in pure Rust, so building needs no `protoc`.

use std::path::PathBuf;

use protox::prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=devtail.proto");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);

    let fds = protox::compile(["devtail.proto"], ["."])?;
    let descriptor_bytes = fds.encode_to_vec();
    std::fs::write(out.join("devtail.bin"), &descriptor_bytes)?;

    prost_build::Config::new()
        // Payloads (terminal bytes, file chunks) are `bytes::Bytes`: slicing, no copies.
        .bytes(["."])
        // Maps as BTreeMap: encoding is deterministic (golden vectors compare bytes).
        .btree_map(["."])
        .compile_fds(fds)?;

    pbjson_build::Builder::new()
        .register_descriptors(&descriptor_bytes)?
        .btree_map(["."])
        .build(&[".devtail.v1"])?;
    Ok(())
}
