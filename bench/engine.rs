//! Engine micro-benchmarks.
use criterion::{criterion_group, criterion_main, Criterion};
fn hello(_c: &mut Criterion) {}
criterion_group!(benches, hello);
criterion_main!(benches);
