//! Prints the synthetic manifest of N services (`fleetwright::examples::synthetic`), for
//! scale benchmarks: `cargo run --release --example synthetic -- 1000 > fleet.toml`.

fn main() -> std::process::ExitCode {
    match std::env::args().nth(1).and_then(|n| n.parse::<usize>().ok()) {
        Some(services) if services > 0 => {
            print!("{}", fleetwright::examples::synthetic(services));
            std::process::ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: synthetic SERVICES (a positive number)");
            std::process::ExitCode::from(2)
        }
    }
}
