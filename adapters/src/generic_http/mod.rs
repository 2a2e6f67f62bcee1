//! A generic HTTP receiver: the engine's own adapter for plain HTTP POST delivery, and
//! the simulator the engine's tests and benchmarks deliver to.

pub mod client;
pub mod simulator;

pub use client::HttpAdapter;
