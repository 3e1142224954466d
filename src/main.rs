//! The `copyhound` binary: parses arguments and hands over to [`copyhound::cli`].

fn main() -> std::process::ExitCode {
    copyhound::cli::main()
}
