//! A small WASI command for the examples and benchmarks: reads whitespace-separated integers from stdin and prints
//! their sum. Built for wasm32-wasip1 and natively from this one file (see README.md beside it).

use std::io::{self, Read, Write};

fn main() {
    let mut input = String::new();
    io::stdin().read_to_string(&mut input).expect("stdin is readable");
    let mut sum: i64 = 0;
    for token in input.split_whitespace() {
        match token.parse::<i64>() {
            Ok(value) => sum = sum.wrapping_add(value),
            Err(_) => {
                eprintln!("not an integer: {token}");
                std::process::exit(3);
            }
        }
    }
    writeln!(io::stdout(), "{sum}").expect("stdout is writable");
}
