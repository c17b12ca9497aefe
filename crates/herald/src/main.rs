use clap::Parser;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let cli = herald::cli::Cli::parse();
    if let Err(message) = herald::logging::init() {
        eprintln!("herald: {message}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("herald: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(herald::cli::run(cli));
    // Work left behind (a DNS look-up `doctor` gave up on) must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}
