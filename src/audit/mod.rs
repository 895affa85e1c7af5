//! `certctl audit`: SSL Labs style grading of a live server. The sans-IO wire format ([`wire`]),
//! the suite table ([`suites`]), client simulation ([`clients`]), certificate analysis
//! ([`cert`]) and the grade ([`grade`]) are pure; the socket side that asks a server one
//! ClientHello at a time ([`probe`]), the rustls handshake that keeps the served chain
//! ([`served`]), the HSTS/redirect fetches ([`http`]) and the AIA caIssuers fetches that
//! complete a short chain ([`aia`]) do I/O; [`scan`] sequences them into an
//! [`AuditReport`] ([`report`]).

pub mod aia;
pub mod cert;
pub mod clients;
pub mod error;
pub mod findings;
pub mod grade;
pub mod html;
pub mod http;
pub mod oracle;
pub mod oracle_probe;
pub mod probe;
pub mod report;
pub mod scan;
pub mod served;
pub mod suites;
pub mod wire;

pub use error::AuditError;
pub use report::AuditReport;
pub use scan::{AuditRequest, audit, audit_many};
