//! `certctl doctor NAME…`: before an issue, what would fail and how to fix it. Asks the store
//! (the account, each name's renewal history), the CA (its directory: CAA identities and the
//! `Date` of its clock), DNS (A/AAAA, CAA up the tree), port 80 (a probe token served by
//! certctl itself, fetched through each address of the name) and, with `--nginx`, nginx (the
//! plan `issue --nginx` would carry out). `doctor` makes the findings; nothing is changed but
//! the probe token, removed again.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use futures_util::future::join_all;
use serde::Serialize;

use crate::Error;
use crate::acme::challenge::{self, Http01Responder, PublishedToken, Standalone, Webroot};
use crate::acme::{account, directory};
use crate::dns::{self, Dns};
use crate::doctor::{self as verdict, Applicant, CaaSet};
use crate::finding::{Finding, Severity};
use crate::names::Identifier;
use crate::nginx::NginxSite;
use crate::ops::nginx::{self as ops_nginx, NginxPreview};
use crate::store::CertStore;

/// How the probe token is served on port 80.
#[derive(Clone, Debug)]
pub enum ProbeResponder {
    /// A file under this web root, served by the web server already there (`--webroot`;
    /// `--nginx`: the ACME web root of certctl's nginx layout).
    Webroot(PathBuf),
    /// certctl's own temporary listener on the HTTP port (`--standalone`, the default).
    Standalone,
}

/// What to check.
#[derive(Clone, Debug)]
pub struct DoctorRequest {
    /// The certificate's name (live/NAME), for `issue --nginx`'s plan.
    pub name: String,
    /// The names, as `issue` would take them.
    pub identifiers: Vec<Identifier>,
    /// `--resolve NAME:ADDR`: addresses used instead of DNS for these names.
    pub resolve: Vec<(String, IpAddr)>,
    /// `--dns-server`: the server asked (else the system's resolvers).
    pub dns_server: Option<SocketAddr>,
    /// Each DNS query and each probe fetch ends within this.
    pub timeout: Duration,
    /// The CA.
    pub directory_url: String,
    /// Extra roots for the CA's HTTPS API.
    pub ca_bundle: Option<PathBuf>,
    /// `--caa-identity`: the CA's CAA identities, instead of its directory's.
    pub caa_identities: Vec<String>,
    /// How the probe token is served.
    pub responder: ProbeResponder,
    /// The port the CA connects to (80; tests use another).
    pub http_port: u16,
    /// `--nginx`: the site `issue --nginx` would write, and where its backups go.
    pub nginx: Option<(NginxSite, PathBuf)>,
}

/// One address of a name.
#[derive(Clone, Debug, Serialize)]
pub struct AddressFact {
    /// The address.
    pub address: IpAddr,
    /// It is one of this machine's.
    pub local: bool,
    /// The probe token came back through it (None: not probed).
    pub probe: Option<bool>,
}

/// What doctor found for one name.
#[derive(Debug, Serialize)]
pub struct NameReport {
    /// The name.
    pub name: String,
    /// Where its addresses come from: `dns`, `resolve` (the flag) or `literal` (an IP).
    pub address_source: &'static str,
    /// Its addresses.
    pub addresses: Vec<AddressFact>,
    /// The relevant CAA record set, when there is one.
    pub caa: Option<CaaSet>,
    /// The findings, worst first.
    pub findings: Vec<Finding>,
}

/// What doctor found.
#[derive(Debug, Serialize)]
pub struct DoctorReport {
    /// The CA's directory.
    pub directory_url: String,
    /// The CAA identities the names' CAA records were held to.
    pub caa_identities: Vec<String>,
    /// The stored account's URL at the CA.
    pub account: Option<String>,
    /// This machine's clock minus the CA's, in seconds (None: the CA sent no Date).
    pub clock_skew_secs: Option<i64>,
    /// `--nginx`: what the issue would find and write.
    pub nginx: Option<NginxPreview>,
    /// Per name.
    pub names: Vec<NameReport>,
    /// Findings about the CA, the account and nginx, worst first.
    pub findings: Vec<Finding>,
    /// 0 nothing wrong, 1 warnings, 2 an issue would fail.
    pub exit_code: u8,
}

/// Runs every check; see the module docs.
pub async fn doctor(
    store: &dyn CertStore,
    req: &DoctorRequest,
    now: i64,
) -> Result<DoctorReport, Error> {
    let mut findings = Vec::new();
    // The store and nginx: files and a child process, on the blocking pool.
    let (account, history, nginx) = {
        let req = req.clone();
        super::with_store(store, move |s| gather_local(s, &req, now)).await?
    };
    findings.push(verdict::evaluate_account(
        &req.directory_url,
        account.as_deref(),
    ));
    let nginx = match nginx {
        Some(Ok(preview)) => {
            findings.push(verdict::finding(
                verdict::NGINX_PLAN,
                Severity::Info,
                match preview.files.is_empty() {
                    true => "issue --nginx would change no nginx file".to_owned(),
                    false => format!(
                        "issue --nginx would write {}",
                        preview
                            .files
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
                "",
            ));
            Some(preview)
        }
        Some(Err(e)) => {
            findings.push(verdict::finding(
                verdict::NGINX_REFUSED,
                Severity::Error,
                format!("issue --nginx would stop: {e}"),
                "fix what the message names (a TLS server of yours for the name: --take-over)",
            ));
            None
        }
        None => None,
    };

    // The CA: its CAA identities and clock.
    let mut identities = req.caa_identities.clone();
    let mut clock_skew_secs = None;
    match directory::facts(&req.directory_url, req.ca_bundle.as_deref()).await {
        Ok(facts) => {
            if identities.is_empty() {
                identities = facts.caa_identities;
            }
            match facts.date.as_deref().and_then(verdict::parse_http_date) {
                Some(ca) => {
                    clock_skew_secs = Some(now - ca);
                    findings.push(verdict::evaluate_clock(now, ca));
                }
                None => findings.push(verdict::finding(
                    verdict::CLOCK_SKEW,
                    Severity::Unknown,
                    "the CA sent no usable Date header: the clock was not compared",
                    "check that this machine's clock is synchronized (timedatectl)",
                )),
            }
        }
        Err(e) => findings.push(verdict::finding(
            verdict::CA_UNREACHABLE,
            Severity::Error,
            e.to_string(),
            "check the --server URL, --ca-bundle, and this machine's outgoing HTTPS",
        )),
    }
    if identities.is_empty()
        && [directory::LETS_ENCRYPT, directory::LETS_ENCRYPT_STAGING]
            .contains(&req.directory_url.as_str())
    {
        identities.push("letsencrypt.org".into());
    }

    // DNS, per name, all at once.
    let resolver = Dns::new(req.dns_server, req.timeout)?;
    let applicant = Applicant {
        identities: &identities,
        account: account.as_deref(),
        wildcard: false,
    };
    let mut names: Vec<NameReport> = join_all(
        req.identifiers
            .iter()
            .map(|id| check_name(&resolver, req, id, &applicant)),
    )
    .await;

    // Port 80, through every address of every name.
    probe(req, &mut names).await;

    for (report, extra) in names.iter_mut().zip(history) {
        report.findings.extend(extra);
        if let Some(preview) = &nginx
            && let Some(s) = preview.servers.iter().find(|s| s.name == report.name)
        {
            let take_over = req.nginx.as_ref().is_some_and(|(site, _)| site.take_over);
            report
                .findings
                .push(nginx_server_finding(s, req.http_port, take_over));
        }
        report
            .findings
            .sort_by_key(|f| std::cmp::Reverse(f.severity));
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let exit_code = verdict::exit_code(
        findings
            .iter()
            .chain(names.iter().flat_map(|n| &n.findings)),
    );
    Ok(DoctorReport {
        directory_url: req.directory_url.clone(),
        caa_identities: identities,
        account,
        clock_skew_secs,
        nginx,
        names,
        findings,
        exit_code,
    })
}

type Local = (
    Option<String>,
    Vec<Vec<Finding>>,
    Option<Result<NginxPreview, Error>>,
);

/// The account's URL, each name's renewal history, and nginx's plan.
fn gather_local(store: &dyn CertStore, req: &DoctorRequest, now: i64) -> Result<Local, Error> {
    let account = store
        .load_account(&req.directory_url)?
        .and_then(|creds| account::url(&creds));
    let mut records = Vec::new();
    for cert in store.cert_names()? {
        if let Some(record) = store.load_record(&cert)? {
            records.push(record);
        }
    }
    let mut history = Vec::new();
    for id in &req.identifiers {
        let name = id.as_string();
        let mut found = Vec::new();
        for record in records.iter().filter(|r| r.domains.contains(&name)) {
            let state = store.load_state(&record.name)?;
            found.extend(verdict::evaluate_history(&record.name, &state, now));
        }
        history.push(found);
    }
    let nginx = req.nginx.as_ref().map(|(site, backups)| {
        ops_nginx::preview(
            store,
            &req.name,
            site,
            &req.identifiers,
            req.http_port,
            backups,
        )
    });
    Ok((account, history, nginx))
}

/// A name's addresses and CAA.
async fn check_name(
    resolver: &Dns,
    req: &DoctorRequest,
    id: &Identifier,
    applicant: &Applicant<'_>,
) -> NameReport {
    let name = id.as_string();
    let mut findings = Vec::new();
    let overridden: Vec<IpAddr> = req
        .resolve
        .iter()
        .filter(|(n, _)| *n == name)
        .map(|(_, ip)| *ip)
        .collect();
    let (source, found, caa) = match id {
        Identifier::Ip(ip) => ("literal", Ok(vec![*ip]), Ok(None)),
        Identifier::Dns(_) if !overridden.is_empty() => {
            ("resolve", Ok(overridden), resolver.caa(&name).await)
        }
        Identifier::Dns(_) => {
            let (a, c) = tokio::join!(resolver.addresses(&name), resolver.caa(&name));
            ("dns", a, c)
        }
    };
    let addresses: Vec<AddressFact> = match found {
        Ok(list) => {
            let facts: Vec<AddressFact> = list
                .into_iter()
                .map(|address| AddressFact {
                    address,
                    local: dns::is_local(address),
                    probe: None,
                })
                .collect();
            let pairs: Vec<(IpAddr, bool)> = facts.iter().map(|f| (f.address, f.local)).collect();
            findings.extend(verdict::evaluate_addresses(
                &name,
                &pairs,
                source == "resolve",
            ));
            facts
        }
        Err(e) => {
            findings.push(dns_failed(&e));
            Vec::new()
        }
    };
    let caa = match (id, caa) {
        (Identifier::Ip(_), _) => None,
        (_, Ok(set)) => {
            findings.push(verdict::evaluate_caa(&name, set.as_ref(), applicant));
            set
        }
        (_, Err(e)) => {
            findings.push(dns_failed(&e));
            None
        }
    };
    NameReport {
        name,
        address_source: source,
        addresses,
        caa,
        findings,
    }
}

fn dns_failed(e: &crate::dns::DnsError) -> Finding {
    verdict::finding(
        verdict::DNS_FAILED,
        Severity::Error,
        e.to_string(),
        "the CA's lookup would fail the same way: fix the name's DNS servers (or ask another with --dns-server)",
    )
}

/// Serves one token and fetches it through each address of each name.
async fn probe(req: &DoctorRequest, names: &mut [NameReport]) {
    if names.iter().all(|n| n.addresses.is_empty()) {
        return;
    }
    let token = format!(
        "certctl-doctor-{}-{}",
        std::process::id(),
        (crate::clock::random_unit() * 1e12) as u64
    );
    let key_authorization = format!("{token}.doctor");
    let started: Result<Box<dyn Http01Responder>, _> = match &req.responder {
        ProbeResponder::Webroot(dir) => {
            Webroot::new(dir).map(|w| Box::new(w) as Box<dyn Http01Responder>)
        }
        ProbeResponder::Standalone => Standalone::start(req.http_port)
            .await
            .map(|s| Box::new(s) as Box<dyn Http01Responder>),
    };
    let mut responder = match started
        .and_then(|mut r| r.publish(&token, &key_authorization).map(|()| r))
    {
        Ok(r) => r,
        Err(e) => {
            let f = verdict::finding(
                verdict::HTTP_RESPONDER,
                Severity::Error,
                format!("certctl cannot serve a probe token: {e}"),
                "issue would fail the same way: free the port, or use --webroot DIR (the web server's) or --nginx",
            );
            for n in names.iter_mut() {
                n.findings.push(f.clone());
            }
            return;
        }
    };
    for (n, id) in names.iter_mut().zip(&req.identifiers) {
        if n.addresses.is_empty() {
            continue;
        }
        let token = PublishedToken {
            identifier: id.clone(),
            token: token.clone(),
            key_authorization: key_authorization.clone(),
        };
        let shown = n.name.clone();
        let fetches = n.addresses.iter().map(|a| {
            let target = SocketAddr::new(a.address, req.http_port);
            let tokens = std::slice::from_ref(&token);
            let shown = &shown;
            async move {
                tokio::time::timeout(req.timeout, challenge::self_check_via(target, tokens))
                    .await
                    .unwrap_or_else(|_| {
                        Err(crate::acme::AcmeError::Responder(format!(
                            "http://{}:{}: no answer within {} ms",
                            shown,
                            req.http_port,
                            req.timeout.as_millis()
                        )))
                    })
            }
        });
        let results = join_all(fetches).await;
        let mut failed = Vec::new();
        for (fact, result) in n.addresses.iter_mut().zip(results) {
            fact.probe = Some(result.is_ok());
            if let Err(e) = result {
                failed.push(format!("{}: {e}", fact.address));
            }
        }
        let via: Vec<String> = n.addresses.iter().map(|a| a.address.to_string()).collect();
        n.findings.push(if failed.is_empty() {
            verdict::finding(
                verdict::HTTP_PROBE_OK,
                Severity::Ok,
                format!(
                    "http://{}:{}/.well-known/acme-challenge/ answers certctl's probe token through {}",
                    n.name,
                    req.http_port,
                    via.join(", ")
                ),
                "",
            )
        } else {
            // With --nginx, the issue first adds the challenge location the probe may miss now.
            let severity = match &req.nginx {
                Some(_) => Severity::Warning,
                None => Severity::Error,
            };
            verdict::finding(
                verdict::HTTP_PROBE_FAILED,
                severity,
                format!(
                    "port {} does not answer certctl's probe token for {}: {}",
                    req.http_port,
                    n.name,
                    failed.join("; ")
                ),
                match &req.nginx {
                    Some(_) => "issue --nginx adds the challenge location first; if this stays after it, open port 80 to this machine (firewall, NAT forward)",
                    None => "open port 80 to this machine (firewall, NAT forward) and serve /.well-known/acme-challenge/ from the --webroot given",
                },
            )
        });
    }
    responder.cleanup();
}

fn nginx_server_finding(
    s: &ops_nginx::PortEightyServer,
    http_port: u16,
    take_over: bool,
) -> Finding {
    let mut message = match &s.server {
        Some(origin) => format!(
            "port {http_port} for {} is served by your server at {origin}: issue --nginx adds its marked ACME include and redirect there",
            s.name
        ),
        None => format!(
            "no server of yours answers {} on port {http_port}: issue --nginx adds its own",
            s.name
        ),
    };
    let mut severity = Severity::Info;
    let mut fix = String::new();
    match (&s.tls_server, take_over) {
        (Some(tls), true) => message.push_str(&format!(
            "; your TLS server at {tls} serves it: --take-over points it at certctl's certificate"
        )),
        (Some(tls), false) => {
            message.push_str(&format!("; your TLS server at {tls} already serves it"));
            severity = Severity::Warning;
            fix = "pass --take-over to issue --nginx (it points that server at certctl's certificate), or remove the name there".into();
        }
        (None, _) => {}
    }
    verdict::finding(verdict::NGINX_SERVER, severity, message, fix)
}
