//! (pure) The Prometheus text exposition format, as node_exporter's textfile collector reads it:
//! gauge families and label values. `list`'s metrics and `fleet status --prometheus` write
//! through it.

use std::fmt::Write;

/// Appends one gauge family to `out`: HELP, TYPE, then one line per (labels, value); `labels`
/// is already `k="v",…` (see [`label`]).
pub fn gauge(out: &mut String, name: &str, help: &str, rows: Vec<(String, String)>) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, value) in rows {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// `key="value"`, the value's backslashes, quotes and newlines replaced by `_`.
pub fn label(key: &str, value: &str) -> String {
    format!("{key}=\"{}\"", value.replace(['\\', '"', '\n'], "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_labels_read_as_prometheus_text() {
        let mut out = String::new();
        gauge(
            &mut out,
            "certctl_x",
            "An example.",
            vec![(label("name", "a\"b\nc"), "1".into())],
        );
        assert_eq!(
            out,
            "# HELP certctl_x An example.\n# TYPE certctl_x gauge\ncertctl_x{name=\"a_b_c\"} 1\n"
        );
    }
}
