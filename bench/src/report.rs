//! The tables the benchmarks print at the end.

use crate::{cli::WebhookArgs, traffic::RunResult, webhooks::Measured};

/// The webhook table: each server's figures, then Advocate's share of each
/// baseline's throughput.
pub fn webhooks(args: &WebhookArgs, base: &Measured, durable: &Measured, adv: &Measured) {
    let servers = [base, durable, adv];
    println!();
    println!(
        "{:<32} {:>14} {:>14} {:>14}",
        "",
        "HMAC-only",
        "HMAC+fsync",
        format!("Advocate/{:?}", args.server.database).to_lowercase()
    );
    let row = |name: &str, cell: &dyn Fn(&Measured) -> String| {
        let cells: Vec<String> = servers.iter().map(|m| format!("{:>14}", cell(m))).collect();
        println!("{name:<32} {}", cells.join(" "));
    };
    row("acknowledged/s (closed loop)", &|m| {
        format!("{:.0}", m.throughput.per_second())
    });
    row("  p50 / p99 ms", &|m| m.throughput.p50_p99());
    row("  non-200 answers", &|m| m.throughput.failed.to_string());
    row(&format!("p50 / p99 ms at {}/s offered", args.rate), &|m| {
        m.paced.p50_p99()
    });
    row("  achieved/s, non-200", &|m| {
        format!("{:.0}, {}", m.paced.per_second(), m.paced.failed)
    });
    row("processed/s through the inbox", &|m| {
        m.processed_per_s.map_or("-".into(), |p| format!("{p:.0}"))
    });
    row("server CPU ms per delivery", &|m| {
        format!("{:.3}", m.cpu_ms_per_delivery)
    });
    row("peak RSS MB", &|m| format!("{:.1}", m.rss_mb));
    println!();
    for (name, of, to) in [
        ("Advocate / HMAC-only ceiling", adv, base),
        ("HMAC+fsync floor / HMAC-only ceiling", durable, base),
        ("Advocate / HMAC+fsync floor", adv, durable),
    ] {
        let share = of.throughput.per_second() / to.throughput.per_second();
        println!("{name}: {:.1} %", share * 100.0);
    }
}

/// The analytics latency table: each route's percentiles and size, and its
/// ratio to the first route (the baseline).
pub fn routes(requests: usize, routes: &[&str], results: &[RunResult], sizes: &[usize]) {
    let base_p50 = results[0].percentile_ms(0.5);
    let base_p95 = results[0].percentile_ms(0.95);
    println!();
    println!(
        "{:<36} {:>8} {:>8} {:>8} {:>8} {:>16}",
        format!("{requests} requests each, one at a time"),
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "bytes",
        "p50 / p95 ratio"
    );
    for (i, path) in routes.iter().enumerate() {
        let r = &results[i];
        println!(
            "{:<36} {:>8.2} {:>8.2} {:>8.2} {:>8} {:>16}",
            format!("GET {path}"),
            r.percentile_ms(0.5),
            r.percentile_ms(0.95),
            r.percentile_ms(0.99),
            sizes[i],
            if i == 0 {
                "baseline".to_owned()
            } else {
                format!(
                    "{:.2}x / {:.2}x",
                    r.percentile_ms(0.5) / base_p50,
                    r.percentile_ms(0.95) / base_p95
                )
            }
        );
    }
}
