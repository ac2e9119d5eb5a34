//! The hand-written HTTP/1.1 layer: parsing request heads and chunked bodies, routing
//! paths, and writing responses. It knows nothing about shards or the store.

pub mod chunked;
pub mod parse;
pub mod respond;
pub mod route;
