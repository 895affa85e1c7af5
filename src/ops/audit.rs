//! `certctl audit --nginx`: the TLS names and ports the local nginx serves (from `nginx -T`), as
//! audit targets. nginx → audit targets; the audits themselves are `audit::audit_many`.

use std::net::SocketAddr;

use crate::Error;
use crate::nginx::binary::Nginx;
use crate::nginx::dump::server_blocks;

/// One thing to audit: the name to send and check (None: the address alone) and where.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    /// The server name (SNI), when the server block names one.
    pub name: Option<String>,
    /// Where a client on this machine reaches the TLS listen.
    pub addr: SocketAddr,
}

/// Every (server name, TLS listen) nginx serves, once each, in order; a TLS server without a
/// usable name (none, `_`, a wildcard or a regex) is audited by its address.
pub fn nginx_targets(nginx: &Nginx) -> Result<Vec<Target>, Error> {
    let dump = nginx.dump()?;
    Ok(targets_in(&dump))
}

/// [`nginx_targets`] of a dump. Pure.
pub fn targets_in(dump: &str) -> Vec<Target> {
    let mut out = Vec::new();
    for block in server_blocks(dump) {
        let names: Vec<Option<String>> = block
            .names
            .iter()
            .filter(|n| crate::names::parse_identifier(n).is_ok() && !n.starts_with('*'))
            .map(|n| Some(n.clone()))
            .collect();
        let names = match names.is_empty() {
            true => vec![None],
            false => names,
        };
        for addr in &block.tls_targets {
            for name in &names {
                out.push(Target {
                    name: name.clone(),
                    addr: *addr,
                });
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tls_name_and_listen_is_a_target_once() {
        let dump = "# configuration file /etc/nginx/nginx.conf:\n\
            http {\n\
              server { listen 80; server_name plain.test; }\n\
              server { listen 443 ssl; listen [::]:443 ssl; server_name a.test www.a.test; }\n\
              server { listen 127.0.0.1:8443 ssl; server_name _ *.b.test; }\n\
              server { listen 443 ssl; server_name a.test; }\n\
            }\n";
        let targets = targets_in(dump);
        let got: Vec<(Option<&str>, String)> = targets
            .iter()
            .map(|t| (t.name.as_deref(), t.addr.to_string()))
            .collect();
        assert_eq!(
            got,
            [
                (None, "127.0.0.1:8443".to_owned()),
                (Some("a.test"), "127.0.0.1:443".to_owned()),
                (Some("a.test"), "[::1]:443".to_owned()),
                (Some("www.a.test"), "127.0.0.1:443".to_owned()),
                (Some("www.a.test"), "[::1]:443".to_owned()),
            ]
        );
    }
}
