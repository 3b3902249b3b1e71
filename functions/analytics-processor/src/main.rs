//! The analytics-processor function binary: EventBridge schedule on AWS Lambda, timer trigger on Azure, POST
//! /analytics-processor locally.

fn main() -> std::process::ExitCode {
    codecapsule_web::host::main(&[analytics_processor::FUNCTION])
}
