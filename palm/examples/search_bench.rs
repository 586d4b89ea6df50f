//! The `palmkey palm bench` measurement without building the authenticator binary:
//! `cargo run --release -p palmkey-palm --example search_bench -- [SIZES] [REAL] [QUERIES] [K]`
//! (defaults: 10000,100000,1000000 300 30 32; the cascade's other settings are its defaults).

use palmkey_palm::search::bench::{run, BenchConfig};
use palmkey_palm::search::cascade::Cascade;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_string());
    let sizes = arg(0, "10000,100000,1000000")
        .split(',')
        .map(|s| s.parse::<usize>())
        .collect::<Result<Vec<_>, _>>()?;
    let report = run(&BenchConfig {
        sizes,
        real: arg(1, "300").parse()?,
        queries: arg(2, "30").parse()?,
        cascade: Cascade {
            k: arg(3, "32").parse()?,
            ..Cascade::default()
        },
        seed: 7,
    })?;
    print!("{}", report.to_text());
    Ok(())
}
