//! Prints how fast nuvola reads and summarises a folder of APEL cloud
//! messages (the shared generator's output, its `messages/*.apel`), on one
//! thread. Build it in release mode:
//!
//! ```sh
//! python3 crates/accounting/tests/apel-generator/gen_cloud_records.py -n 1000000 -o /tmp/apel-1m
//! cargo run --release -p nuvola-accounting --example measure -- /tmp/apel-1m
//! ```

use std::path::PathBuf;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or_else(|| anyhow::anyhow!("usage: measure FOLDER"))?);
    let started = Instant::now();
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir.join("messages"))?.map(|entry| entry.map(|e| e.path())).collect::<Result<_, _>>()?;
    files.retain(|path| path.extension().is_some_and(|e| e == "apel"));
    files.sort();
    let messages: Vec<Vec<u8>> = files.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    println!("read from disk: {:.3} s", started.elapsed().as_secs_f64());
    let figures = nuvola_accounting::bench::measure(&messages)?;
    println!("{figures}");
    Ok(())
}
