//! The tables the benchmarks print at the end.

use crate::{
    cli::WebhookArgs,
    traffic::RunResult,
    webhooks::{median, Measured, Processing},
};

/// Advocate's memory budget: the most it should hold, MB.
const RSS_TARGET_MB: f64 = 150.0;

/// The webhook table: each server's figures, then Advocate's share of each
/// baseline's throughput, and its intake's share of the floor with
/// processing off (`intake_alone`: acknowledged/s in closed loop on as
/// many deliveries). With `node`, the official Node stack's column too,
/// and Advocate's standing against it.
pub fn webhooks(
    args: &WebhookArgs,
    base: &Measured,
    durable: &Measured,
    adv: &Measured,
    node: Option<&Measured>,
    intake_alone: f64,
) {
    let mut servers = vec![base, durable];
    let mut names = vec!["HMAC-only".to_owned(), "HMAC+fsync".to_owned()];
    if let Some(node) = node {
        servers.push(node);
        names.push("Node stack".to_owned());
    }
    servers.push(adv);
    names.push(format!("Advocate/{:?}", args.server.database).to_lowercase());
    println!();
    let header: Vec<String> = names.iter().map(|n| format!("{n:>14}")).collect();
    println!("{:<32} {}", "", header.join(" "));
    let row = |name: &str, cell: &dyn Fn(&Measured) -> String| {
        let cells: Vec<String> = servers.iter().map(|m| format!("{:>14}", cell(m))).collect();
        println!("{name:<32} {}", cells.join(" "));
    };
    row("acknowledged/s (closed loop)", &|m| {
        format!("{:.0}", m.burst().throughput.per_second())
    });
    row("  p50 / p99 ms", &|m| m.burst().throughput.p50_p99());
    row("  non-200 answers", &|m| {
        m.bursts
            .iter()
            .map(|b| b.throughput.failed)
            .sum::<usize>()
            .to_string()
    });
    row(&format!("p50 / p99 ms at {}/s offered", args.rate), &|m| {
        m.paced.p50_p99()
    });
    row("  achieved/s, non-200", &|m| {
        format!("{:.0}, {}", m.paced.per_second(), m.paced.failed)
    });
    row("processed/s through the inbox", &|m| {
        m.processed_per_s()
            .map_or("-".into(), |p| format!("{p:.0}"))
    });
    row("server CPU ms per delivery", &|m| {
        format!("{:.3}", m.burst().cpu_ms_per_delivery)
    });
    row("peak RSS MB", &|m| format!("{:.1}", m.rss_mb));
    if adv.bursts.len() > 1 {
        println!(
            "(floor and Advocate: acknowledged/s, p50 / p99 and CPU of the median of {} bursts each, run alternately; processed/s: the median of Advocate's)",
            adv.bursts.len()
        );
    }
    println!();
    for (name, of, to) in [
        ("Advocate / HMAC-only ceiling", adv, base),
        ("HMAC+fsync floor / HMAC-only ceiling", durable, base),
    ] {
        let share = of.burst().throughput.per_second() / to.burst().throughput.per_second();
        println!("{name}: {:.1} %", share * 100.0);
    }
    // Each round's share, of the floor's burst just before Advocate's.
    let (shares, rounds): (Vec<f64>, Vec<String>) = adv
        .bursts
        .iter()
        .zip(&durable.bursts)
        .map(|(a, f)| {
            let (a, f) = (a.throughput.per_second(), f.throughput.per_second());
            let share = a / f * 100.0;
            (share, format!("{a:.0}/{f:.0} {share:.1} %"))
        })
        .unzip();
    let median_share = median(shares).unwrap_or(0.0);
    if rounds.len() > 1 {
        println!(
            "Advocate / HMAC+fsync floor: {median_share:.1} % (the median round; rounds, Advocate/floor acknowledged/s: {})",
            rounds.join(", ")
        );
    } else {
        println!("Advocate / HMAC+fsync floor: {median_share:.1} %");
    }
    println!(
        "Advocate's intake alone (processing off) / HMAC+fsync floor: {:.1} % ({intake_alone:.0}/s)",
        intake_alone / durable.burst().throughput.per_second() * 100.0
    );
    if let Some(node) = node {
        let (a, n) = (
            adv.burst().throughput.per_second(),
            node.burst().throughput.per_second(),
        );
        println!(
            "Advocate / Node stack (@shopify/shopify-api validate + better-sqlite3 insert, not durable; \
             one burst, Advocate's median): {:.2}x acknowledged/s ({a:.0}/{n:.0}); p99 at {}/s offered {:.2} against {:.2} ms",
            a / n,
            args.rate,
            adv.paced.percentile_ms(0.99),
            node.paced.percentile_ms(0.99),
        );
    }
}

/// The processing table: Advocate's processed/s with intake running and on
/// a stored backlog, beside the floor's, and Advocate's peak memory.
pub fn processing(args: &WebhookArgs, adv: &Measured, p: &Processing) {
    let share =
        |a: Option<f64>, f: f64| a.map_or("-".to_owned(), |a| format!("{:.1} %", a / f * 100.0));
    let rate = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{r:.0}"));
    println!();
    println!(
        "inbox processing: distinct paid orders; Advocate {} inbox worker(s), floor {} worker(s) \
         claiming {} rows a batch, one transaction each",
        p.advocate_workers, p.floor.workers, p.floor.batch
    );
    println!(
        "{:<46} {:>12} {:>12} {:>16}",
        "", "Advocate", "floor", "Advocate / floor"
    );
    let with_intake = adv.processed_per_s().filter(|_| args.distinct_orders);
    if adv.bursts.len() > 1 && with_intake.is_some() {
        let rounds: Vec<String> = adv
            .bursts
            .iter()
            .filter_map(|b| b.processed_per_s)
            .map(|p| format!("{p:.0}"))
            .collect();
        println!(
            "Advocate's processed/s in its rounds, in order (each adds {} orders to the history): {}",
            args.requests,
            rounds.join(", ")
        );
    }
    println!(
        "{:<46} {:>12} {:>12} {:>16}",
        format!("processed/s, {} deliveries (1)", args.requests),
        rate(with_intake),
        format!("{:.0}", p.floor.per_second()),
        share(with_intake, p.floor.per_second())
    );
    if let Some(b) = &p.backlog {
        let drained = b.deliveries as f64 / b.advocate.as_secs_f64();
        let floor_rate = b.floor.as_ref().map(|f| f.per_second());
        println!(
            "{:<46} {:>12} {:>12} {:>16}",
            format!("processed/s, {} backlog drained (2)", b.deliveries),
            format!("{drained:.0}"),
            rate(floor_rate),
            floor_rate.map_or("-".to_owned(), |f| share(Some(drained), f))
        );
        println!(
            "{:<46} {:>12} {:>12} {:>16}",
            format!("seconds to drain the {} backlog", b.deliveries),
            format!("{:.1}", b.advocate.as_secs_f64()),
            b.floor.as_ref().map_or("-".to_owned(), |f| format!(
                "{:.1}",
                f.elapsed.as_secs_f64()
            )),
            ""
        );
    }
    println!(
        "(1) Advocate while the burst is taken in{}{}; the floor on the same number stored beforehand",
        if args.rounds > 1 { " (the median of its bursts)" } else { "" },
        if args.distinct_orders {
            ""
        } else {
            " (not shown: this run sent Shopify's sample, a test order)"
        }
    );
    if p.backlog.is_some() {
        println!(
            "(2) stored with processing off; Advocate timed from its start, no intake meanwhile"
        );
    }
    let mut peaks = vec![format!("burst run {:.1}", adv.rss_mb)];
    peaks.push(format!("intake only {:.1}", p.intake_only_rss_mb));
    if let Some(b) = &p.backlog {
        peaks.push(format!("backlog drain {:.1}", b.advocate_rss_mb));
    }
    let worst = adv
        .rss_mb
        .max(p.intake_only_rss_mb)
        .max(p.backlog.as_ref().map_or(0.0, |b| b.advocate_rss_mb));
    println!(
        "peak RSS of Advocate, MB: {}; highest {worst:.1} against a target of {RSS_TARGET_MB:.0} ({})",
        peaks.join(", "),
        if worst <= RSS_TARGET_MB { "within" } else { "over" }
    );
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
