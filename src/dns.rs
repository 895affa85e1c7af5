//! DNS as a CA sees it, for `certctl doctor`: a name's A and AAAA records and its relevant CAA
//! record set (climbing the tree, RFC 8659 §3), through hickory-resolver. Every query ends
//! within the deadline given; the machine's hosts file is never read (the CA does not see it).
//! Without a server named, the system's resolvers (`/etc/resolv.conf`) are asked.
//!
//! Also which addresses are this machine's: an address is when a socket can be bound to it.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};

use crate::doctor::{CaaRecord, CaaSet, caa_lookup_names};

/// A lookup that could not be answered (a missing record is an answer, not an error).
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The resolver could not be set up (an unreadable /etc/resolv.conf).
    #[error("cannot set up DNS resolution: {0}")]
    Setup(String),
    /// The server failed, refused or did not answer in time.
    #[error("the {rtype} lookup of {name} failed ({server}): {reason}")]
    Lookup {
        /// The name asked.
        name: String,
        /// The record type.
        rtype: &'static str,
        /// Which server(s) were asked.
        server: String,
        /// What went wrong.
        reason: String,
    },
}

/// See the module docs.
pub struct Dns {
    resolver: TokioResolver,
    deadline: Duration,
    server: String,
}

impl Dns {
    /// A resolver asking `server` (an authoritative or recursive server, UDP then TCP), or the
    /// system's resolvers when None; each query ends within `deadline`.
    pub fn new(server: Option<SocketAddr>, deadline: Duration) -> Result<Self, DnsError> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = match server {
            Some(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let ns = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![ns]),
                    provider,
                )
            }
            None => TokioResolver::builder(provider).map_err(|e| DnsError::Setup(e.to_string()))?,
        };
        let opts = builder.options_mut();
        opts.timeout = deadline;
        opts.attempts = 1;
        opts.use_hosts_file = ResolveHosts::Never;
        opts.ndots = 0;
        opts.cache_size = 64;
        let resolver = builder
            .build()
            .map_err(|e| DnsError::Setup(e.to_string()))?;
        Ok(Self {
            resolver,
            deadline,
            server: server.map_or_else(|| "the system's resolvers".to_owned(), |a| a.to_string()),
        })
    }

    /// The records of `rtype` at `name` (empty when there are none, or the name does not exist).
    async fn lookup(&self, name: &str, rtype: RecordType) -> Result<Vec<RData>, DnsError> {
        let fail = |reason: String| DnsError::Lookup {
            name: name.to_owned(),
            rtype: match rtype {
                RecordType::A => "A",
                RecordType::AAAA => "AAAA",
                _ => "CAA",
            },
            server: self.server.clone(),
            reason,
        };
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match tokio::time::timeout(self.deadline, self.resolver.lookup(fqdn, rtype)).await {
            Err(_) => Err(fail(format!(
                "no answer within {} ms",
                self.deadline.as_millis()
            ))),
            Ok(Err(e)) if e.is_no_records_found() => Ok(Vec::new()),
            Ok(Err(e)) => Err(fail(e.to_string())),
            Ok(Ok(found)) => Ok(found
                .answers()
                .iter()
                .filter(|r| r.record_type() == rtype)
                .map(|r| r.data.clone())
                .collect()),
        }
    }

    /// The name's A and AAAA records (CNAMEs followed), IPv4 first; both asked at once.
    pub async fn addresses(&self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
        let (a, aaaa) = tokio::join!(
            self.lookup(name, RecordType::A),
            self.lookup(name, RecordType::AAAA)
        );
        Ok(a?
            .into_iter()
            .chain(aaaa?)
            .filter_map(|r| r.ip_addr())
            .collect())
    }

    /// The relevant CAA set of `name`: the first non-empty one from the name up to its
    /// top-level domain (a CNAME at a level is followed by the lookup, RFC 8659 §3); None when
    /// there is none.
    pub async fn caa(&self, name: &str) -> Result<Option<CaaSet>, DnsError> {
        for domain in caa_lookup_names(name) {
            let records: Vec<CaaRecord> = self
                .lookup(&domain, RecordType::CAA)
                .await?
                .into_iter()
                .filter_map(|r| match r {
                    RData::CAA(caa) => Some(CaaRecord {
                        critical: caa.issuer_critical,
                        tag: caa.tag.clone(),
                        value: String::from_utf8_lossy(&caa.value).into_owned(),
                    }),
                    _ => None,
                })
                .collect();
            if !records.is_empty() {
                return Ok(Some(CaaSet { domain, records }));
            }
        }
        Ok(None)
    }
}

/// True when `ip` is an address of this machine: a socket binds to it (nothing is sent).
pub fn is_local(ip: IpAddr) -> bool {
    !ip.is_unspecified() && !ip.is_multicast() && UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}
