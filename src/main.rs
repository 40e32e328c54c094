//! The `riverwatch` binary: parses the command line and runs one service or tool.

fn main() -> std::process::ExitCode {
    riverwatch::cli::main()
}
