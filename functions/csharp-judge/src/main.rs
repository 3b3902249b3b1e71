//! The csharp-judge function binary: AWS Lambda, Azure custom handler or local server, picked from the environment.

fn main() -> std::process::ExitCode {
    codecapsule_web::host::main(&[csharp_judge::function::<codecapsule_web::host::Stateless>()])
}
