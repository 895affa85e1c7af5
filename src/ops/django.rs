//! `django check`'s nginx half: the sites certctl manages for a project (certificates whose
//! names the project's ALLOWED_HOSTS allows), each with what its TLS server passes to Django,
//! read from `nginx -T`.

use std::path::PathBuf;

use crate::django::checks::{ProxySite, allows_host};
use crate::django::settings::Settings;
use crate::nginx::binary::Nginx;
use crate::nginx::dump;
use crate::nginx::proxied::{self, Proxying};
use crate::store::CertStore;

/// The managed sites for `settings`' project; nothing when ALLOWED_HOSTS cannot be known.
pub fn managed_sites(store: &dyn CertStore, settings: &Settings) -> Vec<ProxySite> {
    // The hosts of each nginx instance that serves certificates of the project.
    let mut instances: Vec<(Nginx, Vec<String>)> = Vec::new();
    for name in store.cert_names().unwrap_or_default() {
        let Ok(Some(record)) = store.load_record(&name) else {
            continue;
        };
        let Some(nginx) = record.served_by() else {
            continue;
        };
        let hosts = record
            .domains
            .iter()
            .filter(|host| allows_host(settings, host) == Some(true))
            .cloned();
        match instances.iter_mut().find(|(n, _)| n == nginx) {
            Some((_, all)) => all.extend(hosts),
            None => instances.push((nginx.clone(), hosts.collect())),
        }
    }
    let mut sites = Vec::new();
    for (nginx, hosts) in instances.into_iter().filter(|(_, h)| !h.is_empty()) {
        let text = match nginx.dump() {
            Ok(text) => text,
            Err(e) => {
                // Not knowing what nginx sends is said, not guessed.
                sites.push(ProxySite {
                    name: hosts[0].clone(),
                    proxying: vec![Proxying {
                        file: nginx
                            .conf
                            .clone()
                            .unwrap_or_else(|| PathBuf::from("nginx.conf")),
                        line: 0,
                        target: String::new(),
                        headers: Err(format!("nginx -T failed: {e}")),
                    }],
                });
                continue;
            }
        };
        let tls: Vec<dump::ServerBlock> = dump::server_blocks(&text)
            .into_iter()
            .filter(|b| b.listens.iter().any(|(_, ssl)| *ssl))
            .collect();
        let mut seen: Vec<(PathBuf, usize)> = Vec::new();
        for host in hosts {
            // The TLS server nginx picks for the host: the best-matching name, first in order.
            let Some(server) = tls
                .iter()
                .filter_map(|b| b.match_rank(&host).map(|rank| (rank, b)))
                .min_by_key(|(rank, _)| *rank)
                .map(|(_, b)| b)
            else {
                continue;
            };
            let at = (server.file.clone(), server.line);
            if seen.contains(&at) {
                continue;
            }
            seen.push(at);
            let proxying = proxied::proxying(&text, server);
            if !proxying.is_empty() {
                sites.push(ProxySite {
                    name: host,
                    proxying,
                });
            }
        }
    }
    sites
}
