//! `fleet status`: what each node serves of each certificate, against the version the fleet
//! made live. Pure: rows in, report out.

use serde::Serialize;

/// One certificate as the store has it.
#[derive(Clone, Debug)]
pub struct LiveRow {
    /// The certificate.
    pub name: String,
    /// The version the fleet made live (None: never installed).
    pub version: Option<u64>,
    /// Its serial.
    pub serial: Option<String>,
}

/// What one node reported for one certificate.
#[derive(Clone, Debug)]
pub struct NodeRow {
    /// The node.
    pub node: String,
    /// The certificate.
    pub name: String,
    /// The version in the node's local live/NAME.
    pub version: u64,
    /// Its serial.
    pub serial: String,
    /// When the node started serving this version (Unix seconds).
    pub since: i64,
    /// When the node last checked (Unix seconds).
    pub checked_at: i64,
    /// The serial the node's nginx was last seen serving (a node that deploys to nginx).
    pub served_serial: Option<String>,
    /// When a handshake last confirmed it (Unix seconds).
    pub verified_at: Option<i64>,
    /// Why the node's last deploy failed (`nginx -t`, the reload, the handshake).
    pub problem: Option<String>,
}

/// One certificate on one node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeCert {
    /// The node.
    pub node: String,
    /// The version it has (None: it never reported this certificate).
    pub version: Option<u64>,
    /// The serial it has.
    pub serial: Option<String>,
    /// Since when (Unix seconds).
    pub since: Option<i64>,
    /// When it last checked (Unix seconds).
    pub checked_at: Option<i64>,
    /// The serial its nginx serves, as a handshake last confirmed (None: it does not deploy
    /// to nginx, or never did).
    pub served_serial: Option<String>,
    /// When that handshake was (Unix seconds).
    pub verified_at: Option<i64>,
    /// Why its last deploy failed, if it did.
    pub problem: Option<String>,
    /// It does not serve the fleet's live version: its nginx serves another serial (a node
    /// that deploys to nginx), or its live/ has another version.
    pub lagging: bool,
}

/// One certificate across the fleet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertStatus {
    /// The certificate.
    pub name: String,
    /// The fleet's live version.
    pub live_version: Option<u64>,
    /// Its serial.
    pub live_serial: Option<String>,
    /// Every node that has reported anything, in name order.
    pub nodes: Vec<NodeCert>,
}

/// The whole fleet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FleetStatus {
    /// Every node that has reported, in name order.
    pub nodes: Vec<String>,
    /// Every certificate, in name order.
    pub certs: Vec<CertStatus>,
}

impl FleetStatus {
    /// Whether any node lacks any certificate's live version.
    pub fn lagging(&self) -> bool {
        self.certs.iter().flat_map(|c| &c.nodes).any(|n| n.lagging)
    }

    /// Prometheus text, one series per certificate and node: whether it lags, whether its
    /// last deploy failed, and when its nginx was last verified serving.
    pub fn metrics(&self) -> String {
        use crate::prometheus::{gauge, label};
        let rows = |value: fn(&NodeCert) -> Option<String>| -> Vec<(String, String)> {
            self.certs
                .iter()
                .flat_map(|c| c.nodes.iter().map(move |n| (c, n)))
                .filter_map(|(c, n)| {
                    let labels = format!("{},{}", label("name", &c.name), label("node", &n.node));
                    Some((labels, value(n)?))
                })
                .collect()
        };
        let mut out = String::new();
        gauge(
            &mut out,
            "certctl_fleet_node_lagging",
            "1 when the node does not serve the fleet's live version of the certificate.",
            rows(|n| Some(u8::from(n.lagging).to_string())),
        );
        gauge(
            &mut out,
            "certctl_fleet_node_deploy_problem",
            "1 when the node's last deploy of the certificate failed (nginx -t, reload, handshake).",
            rows(|n| Some(u8::from(n.problem.is_some()).to_string())),
        );
        gauge(
            &mut out,
            "certctl_fleet_node_verified_timestamp_seconds",
            "When a handshake last confirmed the serial the node's nginx serves.",
            rows(|n| n.verified_at.map(|t| t.to_string())),
        );
        out
    }
}

/// Every node is expected to serve every live certificate: one that reported other
/// certificates but not this one lags too (it has not caught up since the issue).
pub fn fleet_status(live: &[LiveRow], reported: &[NodeRow]) -> FleetStatus {
    let mut nodes: Vec<String> = reported.iter().map(|r| r.node.clone()).collect();
    nodes.sort();
    nodes.dedup();
    let mut certs: Vec<CertStatus> = live
        .iter()
        .map(|cert| CertStatus {
            name: cert.name.clone(),
            live_version: cert.version,
            live_serial: cert.serial.clone(),
            nodes: nodes
                .iter()
                .map(|node| {
                    let row = reported
                        .iter()
                        .find(|r| &r.node == node && r.name == cert.name);
                    NodeCert {
                        node: node.clone(),
                        version: row.map(|r| r.version),
                        serial: row.map(|r| r.serial.clone()),
                        since: row.map(|r| r.since),
                        checked_at: row.map(|r| r.checked_at),
                        served_serial: row.and_then(|r| r.served_serial.clone()),
                        verified_at: row.and_then(|r| r.verified_at),
                        problem: row.and_then(|r| r.problem.clone()),
                        lagging: cert.version.is_some() && lags(cert, row),
                    }
                })
                .collect(),
        })
        .collect();
    certs.sort_by(|a, b| a.name.cmp(&b.name));
    FleetStatus { nodes, certs }
}

/// Whether a node's report shows it behind `cert`'s live version. A node that deploys to
/// nginx (it has verified a served serial) is judged by what nginx serves: a node whose
/// `nginx -t` fails has the new files but still serves the old certificate.
fn lags(cert: &LiveRow, row: Option<&NodeRow>) -> bool {
    let Some(row) = row else { return true };
    if Some(row.version) != cert.version {
        return true;
    }
    match (&row.served_serial, &cert.serial) {
        (Some(served), Some(live)) => served != live,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(name: &str, version: u64) -> LiveRow {
        LiveRow {
            name: name.into(),
            version: Some(version),
            serial: Some(format!("s{version}")),
        }
    }

    fn node(node: &str, name: &str, version: u64) -> NodeRow {
        NodeRow {
            node: node.into(),
            name: name.into(),
            version,
            serial: format!("s{version}"),
            since: 100,
            checked_at: 200,
            served_serial: None,
            verified_at: None,
            problem: None,
        }
    }

    #[test]
    fn a_node_behind_or_missing_a_certificate_lags() {
        let status = fleet_status(
            &[live("b.test", 2), live("a.test", 1)],
            &[
                node("web2", "a.test", 1),
                node("web1", "a.test", 1),
                node("web1", "b.test", 2),
                node("web2", "b.test", 1),
            ],
        );
        assert_eq!(status.nodes, ["web1", "web2"]);
        let lagging: Vec<(&str, &str)> = status
            .certs
            .iter()
            .flat_map(|c| {
                c.nodes
                    .iter()
                    .filter(|n| n.lagging)
                    .map(|n| (c.name.as_str(), n.node.as_str()))
            })
            .collect();
        assert_eq!(lagging, [("b.test", "web2")]);
        assert!(status.lagging());

        let missing = fleet_status(
            &[live("a.test", 1), live("b.test", 1)],
            &[node("web1", "a.test", 1)],
        );
        assert_eq!(missing.certs[1].nodes[0].version, None);
        assert!(missing.certs[1].nodes[0].lagging);
    }

    #[test]
    fn a_converged_fleet_does_not_lag() {
        let status = fleet_status(
            &[live("a.test", 3)],
            &[node("web1", "a.test", 3), node("web2", "a.test", 3)],
        );
        assert!(!status.lagging());
        assert_eq!(status.certs[0].nodes[1].since, Some(100));
        // A certificate that was never installed is nobody's lag.
        let none = fleet_status(
            &[LiveRow {
                name: "c.test".into(),
                version: None,
                serial: None,
            }],
            &[node("web1", "a.test", 3)],
        );
        assert!(!none.lagging());
    }

    #[test]
    fn a_node_whose_nginx_serves_the_old_serial_lags_with_the_new_files() {
        let mut stuck = node("web3", "a.test", 2);
        stuck.served_serial = Some("s1".into());
        stuck.problem = Some("nginx -t failed".into());
        let mut fine = node("web1", "a.test", 2);
        fine.served_serial = Some("s2".into());
        fine.verified_at = Some(300);
        let status = fleet_status(&[live("a.test", 2)], &[fine, stuck]);
        let nodes = &status.certs[0].nodes;
        assert!(!nodes[0].lagging);
        assert_eq!(nodes[0].verified_at, Some(300));
        assert!(nodes[1].lagging);
        assert_eq!(nodes[1].problem.as_deref(), Some("nginx -t failed"));
        let metrics = status.metrics();
        for line in [
            "certctl_fleet_node_lagging{name=\"a.test\",node=\"web1\"} 0",
            "certctl_fleet_node_lagging{name=\"a.test\",node=\"web3\"} 1",
            "certctl_fleet_node_deploy_problem{name=\"a.test\",node=\"web3\"} 1",
            "certctl_fleet_node_verified_timestamp_seconds{name=\"a.test\",node=\"web1\"} 300",
        ] {
            assert!(metrics.lines().any(|l| l == line), "{line}\n{metrics}");
        }
        assert!(!metrics.contains("verified_timestamp_seconds{name=\"a.test\",node=\"web3\"}"));
    }
}
