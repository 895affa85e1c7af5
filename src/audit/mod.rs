//! `certctl audit` (in progress): SSL Labs style grading of a live server. So far: the sans-IO
//! wire format ([`wire`]) and the socket side that asks a server one ClientHello at a time
//! ([`probe`]), with protocol detection for SSL 3.0 through TLS 1.3.

pub mod grade;
pub mod probe;
pub mod suites;
pub mod wire;
