#![no_main]

// Each target uses one entry point of the shared harness.
#[allow(dead_code)]
#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|input: harness::HelperCall| harness::helper_call(input));
