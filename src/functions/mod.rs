//! Deployed apps that run (DECISIONS §13): Convex-compatible queries and mutations executed
//! on the shard that owns the tenant, next to its data.
//!
//! `engine` is the JavaScript side (bytecode per generation, one runtime per shard and
//! tenant, limits); the ops a function's syscalls reach, its transaction and its argument
//! checks are the other files of this part.

pub mod engine;
