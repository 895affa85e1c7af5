//! `certctl audit`: SSL Labs style grading of a live server. The sans-IO wire format ([`wire`]),
//! the suite table ([`suites`]), the socket side that asks a server one ClientHello at a time
//! ([`probe`]), client simulation ([`clients`]) and the grade ([`grade`]); `ops::audit` runs them.

pub mod clients;
pub mod grade;
pub mod probe;
pub mod suites;
pub mod wire;
