//! The OpenMetrics text format (what Prometheus scrapes from `/metrics`):
//! metric families with their `# TYPE`, `# HELP` and samples, label values
//! escaped, histograms with cumulative `le` buckets, `_sum` and `_count`,
//! and the closing `# EOF`.
//!
//! Format facts from the OpenMetrics 1.0 specification
//! (<https://github.com/OpenObservability/OpenMetrics>): counters' samples
//! end in `_total`, bucket bounds are cumulative and end with `+Inf`, and
//! a label value escapes `\`, `"` and newline.

use std::fmt::Write;

/// The content type to answer a scrape with.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Label names and values of one sample.
pub type Labels<'a> = &'a [(&'a str, &'a str)];

/// A scrape's text, written family by family.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// A gauge family: a value that goes up and down.
    pub fn gauge(&mut self, name: &str, help: &str, samples: &[(Labels<'_>, f64)]) {
        self.family(name, "gauge", help);
        for (labels, value) in samples {
            self.sample(name, labels, &[], *value);
        }
    }

    /// A counter family: a count since the server started; its samples are
    /// named `<name>_total`.
    pub fn counter(&mut self, name: &str, help: &str, samples: &[(Labels<'_>, f64)]) {
        self.family(name, "counter", help);
        let total = format!("{name}_total");
        for (labels, value) in samples {
            self.sample(&total, labels, &[], *value);
        }
    }

    /// A histogram family, one [`Histogram`] per label set.
    pub fn histogram(&mut self, name: &str, help: &str, samples: &[(Labels<'_>, &Histogram)]) {
        self.family(name, "histogram", help);
        let (bucket, sum, count) = (format!("{name}_bucket"), format!("{name}_sum"), format!("{name}_count"));
        for (labels, h) in samples {
            let mut cumulative = 0;
            for (bound, n) in h.bounds.iter().zip(&h.counts) {
                cumulative += n;
                self.sample(&bucket, labels, &[("le", &number(*bound))], cumulative as f64);
            }
            self.sample(&bucket, labels, &[("le", "+Inf")], h.count as f64);
            self.sample(&sum, labels, &[], h.sum);
            self.sample(&count, labels, &[], h.count as f64);
        }
    }

    /// The whole exposition, closed with `# EOF`.
    pub fn finish(mut self) -> String {
        self.text.push_str("# EOF\n");
        self.text
    }

    fn family(&mut self, name: &str, kind: &str, help: &str) {
        debug_assert!(is_name(name), "metric name {name:?}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
        let _ = writeln!(self.text, "# HELP {name} {}", escape(help));
    }

    fn sample(&mut self, name: &str, labels: Labels<'_>, extra: Labels<'_>, value: f64) {
        self.text.push_str(name);
        let mut all = labels.iter().chain(extra).peekable();
        if all.peek().is_some() {
            self.text.push('{');
            for (i, (key, value)) in all.enumerate() {
                debug_assert!(is_name(key), "label name {key:?}");
                let comma = if i > 0 { "," } else { "" };
                let _ = write!(self.text, "{comma}{key}=\"{}\"", escape(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", number(value));
    }
}

/// Observations counted into fixed buckets (upper bounds, ascending).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: Vec<f64>,
    /// Observations per bucket, not cumulative; those above every bound
    /// are only in `count`.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    /// An empty histogram over `bounds` (sorted ascending, finite).
    pub fn new(bounds: &[f64]) -> Histogram {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]), "ascending bounds");
        Histogram { bounds: bounds.to_vec(), counts: vec![0; bounds.len()], sum: 0.0, count: 0 }
    }

    /// Counts one observation.
    pub fn observe(&mut self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.counts[i] += 1;
        }
        self.sum += value;
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

/// A metric or label name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn escape(s: &str) -> String {
    s.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

/// A sample value: integers without a fraction, infinities and NaN as the
/// format spells them.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render_as_prometheus_reads_them() {
        let mut e = Exposition::new();
        e.gauge(
            "nuvola_deployments",
            "Deployments by status and group.",
            &[(&[("status", "CREATE_COMPLETE"), ("group", "physics")], 3.0), (&[], 0.5)],
        );
        e.counter("nuvola_http_requests", "HTTP requests.", &[(&[("route", "/deployments"), ("status", "201")], 7.0)]);
        let mut h = Histogram::new(&[0.1, 1.0]);
        for v in [0.05, 0.5, 0.7, 3.0] {
            h.observe(v);
        }
        e.histogram("nuvola_attempt_seconds", "Attempt durations.", &[(&[("provider", "a")], &h)]);
        assert_eq!(
            e.finish(),
            "# TYPE nuvola_deployments gauge\n\
             # HELP nuvola_deployments Deployments by status and group.\n\
             nuvola_deployments{status=\"CREATE_COMPLETE\",group=\"physics\"} 3\n\
             nuvola_deployments 0.5\n\
             # TYPE nuvola_http_requests counter\n\
             # HELP nuvola_http_requests HTTP requests.\n\
             nuvola_http_requests_total{route=\"/deployments\",status=\"201\"} 7\n\
             # TYPE nuvola_attempt_seconds histogram\n\
             # HELP nuvola_attempt_seconds Attempt durations.\n\
             nuvola_attempt_seconds_bucket{provider=\"a\",le=\"0.1\"} 1\n\
             nuvola_attempt_seconds_bucket{provider=\"a\",le=\"1\"} 3\n\
             nuvola_attempt_seconds_bucket{provider=\"a\",le=\"+Inf\"} 4\n\
             nuvola_attempt_seconds_sum{provider=\"a\"} 4.25\n\
             nuvola_attempt_seconds_count{provider=\"a\"} 4\n\
             # EOF\n"
        );
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut e = Exposition::new();
        e.gauge("g", "a \"quoted\"\nhelp \\ text", &[(&[("group", "a\"b\\c\nd")], 1.0)]);
        let text = e.finish();
        assert!(text.contains(r#"# HELP g a \"quoted\"\nhelp \\ text"#), "{text}");
        assert!(text.contains(r#"g{group="a\"b\\c\nd"} 1"#), "{text}");
        assert_eq!(text.lines().count(), 4, "one line per sample, whatever the values hold: {text}");
    }

    #[test]
    fn numbers_are_spelled_as_the_format_wants() {
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(42.0), "42");
        assert_eq!(number(0.25), "0.25");
        assert!(is_name("nuvola_probe_up") && is_name("a:b") && !is_name("9lives") && !is_name("a-b") && !is_name(""));
    }
}
