//! The generate function binary: AWS Lambda, Azure custom handler or local server, picked from the environment.

fn main() -> std::process::ExitCode {
    codecapsule_web::host::main(&[generate::FUNCTION])
}
