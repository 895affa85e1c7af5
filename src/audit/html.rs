//! `certctl audit --html FILE`: the report as one self-contained HTML page (inline style, no
//! script, no external resource) that a person can send to a colleague: the grade, caps,
//! warnings and other findings, protocols and suites, the certificate, simulated clients and the
//! oracle probes. Pure: report in, text out; every value is escaped.

use std::fmt::Write;

use super::oracle::Verdict;
use super::report::AuditReport;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn verdict(v: &Verdict) -> (&'static str, &str) {
    match v {
        Verdict::Vulnerable(d) => ("VULNERABLE", d),
        Verdict::NotVulnerable(d) => ("not vulnerable", d),
        Verdict::Untested(d) => ("not tested", d),
        Verdict::Unknown(d) => ("could not test", d),
    }
}

/// The page.
pub fn render(r: &AuditReport) -> String {
    let e = escape;
    let mut h = String::new();
    let grade = r.grade.as_str();
    let colour = match grade.chars().next() {
        Some('A') => "#2e7d32",
        Some('B' | 'C') => "#ef6c00",
        _ => "#c62828",
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>TLS audit: {t} — {grade}</title>\
         <style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}}\
         #grade{{font-size:4em;font-weight:bold;color:{colour}}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2em .5em;text-align:left}}\
         </style></head><body>\n<h1>TLS audit of {t}</h1>\n<div id=\"grade\">{grade}</div>\n\
         <p>score {s} (protocol {p}, key exchange {k}, cipher {c}); {n} connections in {ms} ms</p>\n",
        t = e(&r.target),
        s = r.rating.score,
        p = r.rating.protocol_score,
        k = r.rating.key_exchange_score,
        c = r.rating.cipher_score,
        n = r.connections,
        ms = r.elapsed_ms,
    );
    h.push_str("<h2>Findings</h2>\n<table><tr><th>ID</th><th>severity</th><th>finding</th><th>fix</th></tr>\n");
    for f in &r.rating.findings {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e(f.id),
            f.severity.as_str(),
            e(&f.message),
            e(&f.fix)
        );
    }
    h.push_str("</table>\n<h2>Protocols and cipher suites</h2>\n<ul>\n");
    for p in &r.protocols {
        match p.supported {
            false => {
                let _ = writeln!(h, "<li>{}: not offered</li>", e(p.protocol));
            }
            true => {
                let suites: Vec<String> = p
                    .suites
                    .iter()
                    .map(|s| format!("{} ({} bits)", e(&s.name), s.bits))
                    .collect();
                let _ = writeln!(h, "<li>{}: {}</li>", e(p.protocol), suites.join(", "));
            }
        }
    }
    h.push_str("</ul>\n<h2>Certificate</h2>\n");
    match &r.certificate {
        Some(c) => {
            let _ = writeln!(
                h,
                "<p>{} ({}), issuer {}, until {}, {} certificate(s) sent; trusted: {}; names match {}: {}</p>",
                e(&c.names.join(", ")),
                e(&c.key),
                e(&c.issuer),
                e(&c.not_after),
                c.chain_length,
                if c.trusted { "yes" } else { "no" },
                e(&c.checked_name),
                if c.name_matches { "yes" } else { "no" },
            );
        }
        None => h.push_str("<p>no certificate was read</p>\n"),
    }
    if let Some(c) = r.certificate.as_ref().filter(|c| !c.chain.is_empty()) {
        h.push_str("<table><tr><th>subject</th><th>issuer</th><th>until</th><th>from</th></tr>\n");
        for cert in &c.chain {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e(&cert.subject),
                e(&cert.issuer),
                e(&cert.not_after),
                e(&cert.from)
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("<h2>Weaknesses</h2>\n<ul>\n");
    for (name, v) in [
        ("ROBOT", &r.robot),
        ("CBC padding oracle", &r.cbc_padding_oracle),
    ] {
        let (status, detail) = verdict(v);
        let _ = writeln!(h, "<li>{name}: {status} ({})</li>", e(detail));
    }
    let heartbleed = match r.heartbleed {
        Some(true) => "VULNERABLE",
        Some(false) => "not vulnerable",
        None => "no heartbeat support",
    };
    let _ = writeln!(h, "<li>Heartbleed: {heartbleed}</li>");
    for weakness in &r.rating.weaknesses {
        let _ = writeln!(h, "<li>{}</li>", e(weakness));
    }
    h.push_str(
        "</ul>\n<h2>Simulated clients</h2>\n<table><tr><th>client</th><th>result</th></tr>\n",
    );
    for c in &r.clients {
        let result = match c.suite() {
            Some((v, s)) => format!("{} {}", v.name(), s.name),
            None => format!(
                "fails: {}",
                c.failure.as_deref().unwrap_or("nothing in common")
            ),
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td></tr>",
            e(c.client),
            e(&result)
        );
    }
    h.push_str("</table>\n</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }
}
