//! The `palmkey palm bench` measurement without building the authenticator binary:
//! `cargo run --release -p palmkey-palm --example search_bench -- [SIZES] [REAL] [QUERIES] [K]`
//! (defaults: 10000,100000,1000000 300 200 64).

use palmkey_palm::search::bench::{run, BenchConfig};

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
        queries: arg(2, "200").parse()?,
        preselect_k: arg(3, "64").parse()?,
        seed: 7,
        exhaustive_checks: 5,
    })?;
    print!("{}", report.to_text());
    Ok(())
}
