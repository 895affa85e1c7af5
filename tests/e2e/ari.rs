//! ACME Renewal Information (RFC 9773) end to end: pebble 2.4 has none, so the lab's
//! [`AriFront`] adds `renewalInfo` in front of it and answers the windows these tests set.
//! Certificates here live for pebble's default (years): only ARI can make them due.

use std::fs;

use crate::common::front::AriFront;
use crate::common::{Lab, LabOptions, assert_ok, stderr};

const DAY: i64 = 86_400;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct AriLab {
    lab: Lab,
    front: AriFront,
}

impl AriLab {
    fn start() -> Self {
        // No badNonce from pebble: a retried order would meet the front's one-shot `replaces`
        // behaviour a second time and hide what the test looks for.
        let lab = Lab::with(LabOptions {
            nonce_reject: Some(0),
            ..LabOptions::default()
        });
        let front = AriFront::start(lab.dir.path(), lab.acme_port, &lab.ca_bundle);
        Self { lab, front }
    }

    fn issue(&self, name: &str) {
        let port = self.lab.http_port.to_string();
        let url = self.front.directory_url();
        let out = self
            .lab
            .certctl([
                "issue",
                name,
                "--standalone",
                "--http-port",
                &port,
                "--server",
                &url,
                "--ca-bundle",
                self.lab.ca_bundle.to_str().unwrap(),
                "--agree-tos",
            ])
            .output()
            .unwrap();
        assert_ok(&out);
    }

    fn renew(&self, names: &[&str]) -> std::process::Output {
        let mut args = vec!["renew"];
        args.extend_from_slice(names);
        self.lab.certctl(&args).output().unwrap()
    }

    fn state_file(&self, name: &str) -> std::path::PathBuf {
        self.lab
            .state_dir
            .join("certs")
            .join(name)
            .join("state.json")
    }

    fn state(&self, name: &str) -> serde_json::Value {
        serde_json::from_slice(&fs::read(self.state_file(name)).unwrap()).unwrap()
    }

    fn versions(&self, name: &str) -> usize {
        fs::read_dir(self.lab.state_dir.join("certs").join(name).join("archive"))
            .unwrap()
            .count()
    }
}

#[test]
fn a_window_in_the_past_renews_with_replaces() {
    let t = AriLab::start();
    t.front.set(|s| s.window = (now() - 2 * DAY, now() - DAY));
    t.issue("past.test");
    let ari = t.state("past.test")["ari"].clone();
    assert_eq!(ari["offered"], true, "{ari}");
    let old_id = ari["cert_id"].as_str().unwrap().to_owned();
    assert!(t.front.renewal_info_requests() >= 1);
    assert!(
        t.front
            .new_orders()
            .iter()
            .all(|o| o.get("replaces").is_none()),
        "a first issue replaces nothing"
    );

    let out = t.renew(&[]);
    assert_ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("renewed   past.test"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    assert_eq!(t.versions("past.test"), 2);
    let orders = t.front.new_orders();
    assert_eq!(
        orders.last().unwrap()["replaces"].as_str(),
        Some(old_id.as_str()),
        "the renewal order names the certificate it replaces: {orders:?}"
    );
    t.lab.assert_chain_verifies("past.test");
}

#[test]
fn a_window_in_the_future_waits_and_retry_after_sets_the_next_check() {
    let t = AriLab::start();
    t.front.set(|s| {
        s.window = (now() + 30 * DAY, now() + 31 * DAY);
        s.retry_after = 7200;
    });
    t.issue("future.test");
    let ari = t.state("future.test")["ari"].clone();
    let checked = ari["checked_at"].as_i64().unwrap();
    assert_eq!(
        ari["next_check"].as_i64().unwrap() - checked,
        7200,
        "Retry-After honoured: {ari}"
    );
    let chosen = ari["chosen"].as_i64().unwrap();
    assert!(
        (now() + 30 * DAY..=now() + 31 * DAY).contains(&chosen),
        "{ari}"
    );

    // Not due, and the CA is not asked again before Retry-After.
    let asked = t.front.renewal_info_requests();
    let out = t.renew(&[]);
    assert_ok(&out);
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(t.versions("future.test"), 1);
    assert_eq!(
        t.front.renewal_info_requests(),
        asked,
        "asked again too early"
    );
    let list = t.lab.certctl(["list", "--json"]).output().unwrap();
    let entry = &serde_json::from_slice::<serde_json::Value>(&list.stdout).unwrap()[0];
    assert_eq!(entry["renewal"]["reason"], "ari", "{entry}");
    assert_eq!(entry["renewal"]["next_renewal"].as_i64(), Some(chosen));

    // Once next_check has passed, the next run asks again, and a moved window (now in the
    // past: say the CA is about to revoke) makes it due at once.
    let mut state = t.state("future.test");
    state["ari"]["next_check"] = (now() - 1).into();
    fs::write(t.state_file("future.test"), state.to_string()).unwrap();
    t.front.set(|s| s.window = (now() - DAY, now() - 60));
    let out = t.renew(&[]);
    assert_ok(&out);
    assert_eq!(t.versions("future.test"), 2, "{}", stderr(&out));
    // Asked again about the old certificate first (then, once renewed, about the new one).
    let asked_about: Vec<String> = t
        .front
        .front
        .seen()
        .into_iter()
        .filter_map(|r| r.path.strip_prefix("/renewal-info/").map(str::to_owned))
        .collect();
    assert_eq!(
        asked_about.get(asked).map(String::as_str),
        state["ari"]["cert_id"].as_str(),
        "{asked_about:?}"
    );
}

#[test]
fn a_refused_or_ignored_replaces_is_retried_without_it() {
    let t = AriLab::start();
    t.front.set(|s| s.window = (now() - 2 * DAY, now() - DAY));
    for (name, kind) in [
        ("gone.test", "alreadyReplaced"),
        ("odd.test", "malformed"),
        ("deaf.test", "ignore"),
    ] {
        t.issue(name);
        let old_id = t.state(name)["ari"]["cert_id"].as_str().unwrap().to_owned();
        let before = t.front.new_orders().len();
        t.front.set(|s| s.refuse_replaces = Some(kind));
        let out = t.renew(&[name]);
        assert_ok(&out);
        assert_eq!(t.versions(name), 2, "{kind}: {}", stderr(&out));
        let orders = t.front.new_orders()[before..].to_vec();
        assert_eq!(orders.len(), 2, "{kind}: {orders:?}");
        assert_eq!(orders[0]["replaces"].as_str(), Some(old_id.as_str()));
        assert!(orders[1].get("replaces").is_none(), "{kind}: {orders:?}");
    }
}
