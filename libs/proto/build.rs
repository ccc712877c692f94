//! Compiles every `.proto` under the repository's `proto/` folder with protox
//! (pure Rust, so no system `protoc`) and generates prost messages plus tonic
//! clients and servers. The descriptor set is kept for gRPC reflection.

use std::path::{Path, PathBuf};

use prost::Message;

fn collect_protos(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let root = root.canonicalize()?;
    let mut files = Vec::new();
    collect_protos(&root, &mut files)?;
    files.sort();
    println!("cargo:rerun-if-changed={}", root.display());
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let fds = protox::compile(&files, [&root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("loop_descriptor.bin"), fds.encode_to_vec())?;

    tonic_prost_build::configure()
        // Video chunks and segments travel as `bytes::Bytes`: no copy
        // between the wire, the object store and the HTTP body.
        .bytes(".loop.media.v1")
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
