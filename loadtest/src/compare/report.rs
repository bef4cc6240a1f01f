//! The comparison as Markdown: one table of figures, one of devtail's ratios to its peers, one
//! of the targets.

use std::fmt::Write as _;

use super::{Report, Row, System};

/// Targets from the performance brief (loopback, this machine).
const TARGET_THROUGHPUT_OF_RAW: f64 = 0.90;
const TARGET_ECHO_P50_US: f64 = 300.0;
const TARGET_ECHO_P99_US: f64 = 500.0;
const TARGET_IDLE_BYTES_PER_MIN: f64 = 250.0;
const TARGET_IDLE_SESSION_KIB: f64 = 100.0;
const TARGET_CONNECTION_KIB: f64 = 15_000.0 / 1024.0;
const TARGET_CPU_PERCENT: f64 = 5.0;

pub(crate) fn markdown(report: &Report) -> String {
    let mut md = String::new();
    let rows = &report.rows;
    let get = |system: System| rows.iter().find(|r| r.system == system);
    let _ = writeln!(
        md,
        "### devtail side by side ({}; {})\n",
        report.date, report.machine
    );
    let _ = writeln!(
        md,
        "Loopback. Throughput: `yes | head -c {}` in a raw terminal, from a go key to the last \
         byte, median of {} rounds. Echo: one key every {} ms into `cat` in a raw terminal, \
         {} keys × {} rounds; \"under flood\": while another terminal of the same connection \
         prints without pause (OpenSSH: a second session over the same connection, `ssh -S`). \
         Idle: {} sessions of each with a shell-like program waiting, {:.1} min window, IP \
         bytes both ways per session (devtail heartbeat {} s, OpenSSH ServerAliveInterval 30 s, \
         mosh its defaults). Memory: the server side only (gateway; sshd's processes; \
         mosh-server) per idle session (connection + terminal), devtail's over ws and quic \
         together. Peers: {}; {}.\n",
        report.bytes,
        report.rounds,
        report.key_interval_ms,
        report.keys,
        report.rounds,
        report.idle_sessions,
        report.idle_minutes,
        report.idle_heartbeat_s,
        report.openssh,
        report.mosh,
    );
    let _ = write!(md, "| |");
    for row in rows {
        let _ = write!(md, " {} |", row.label);
    }
    let _ = write!(md, "\n|---|");
    for _ in rows {
        let _ = write!(md, "---|");
    }
    md.push('\n');
    line(&mut md, "output throughput", rows, |r| {
        r.throughput().map(|t| format!("{t:.1} MB/s"))
    });
    line(&mut md, "echo p50 / p99", rows, |r| {
        r.echo
            .as_ref()
            .map(|e| format!("{:.0} / {:.0} µs", e.p50_us, e.p99_us))
    });
    line(
        &mut md,
        "gateway context switches per echoed key",
        rows,
        |r| r.switches_per_key.map(|s| format!("{s:.1}")),
    );
    line(&mut md, "echo p50 / p99 under flood", rows, |r| {
        r.echo_under_flood
            .as_ref()
            .map(|e| format!("{:.0} / {:.0} µs", e.p50_us, e.p99_us))
    });
    line(&mut md, "Ctrl-C under flood, p50 / max", rows, |r| {
        r.interrupt
            .as_ref()
            .map(|e| format!("{:.1} / {:.1} ms", e.p50_us / 1e3, e.max_us / 1e3))
    });
    line(&mut md, "idle traffic per session", rows, |r| {
        r.idle_bytes_per_min.map(|b| format!("{b:.0} B/min"))
    });
    line(&mut md, "server memory per idle session", rows, |r| {
        r.idle_memory.as_ref().map(|m| {
            if m.pss_kib + 1.0 < m.rss_kib {
                format!("{} RSS ({} PSS)", kib(m.rss_kib), kib(m.pss_kib))
            } else {
                kib(m.rss_kib)
            }
        })
    });

    let ws = get(System::DevtailWs);
    let raw = get(System::RawPty);
    let ssh = get(System::OpenSsh);
    let mosh = get(System::Mosh);
    md.push_str("\ndevtail (ws) relative to its peers:\n\n");
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let throughput = |r: Option<&Row>| r.and_then(Row::throughput);
    let p50 = |r: Option<&Row>| r.and_then(|r| r.echo.as_ref()).map(|e| e.p50_us);
    let p99 = |r: Option<&Row>| r.and_then(|r| r.echo.as_ref()).map(|e| e.p99_us);
    let idle = |r: Option<&Row>| r.and_then(|r| r.idle_bytes_per_min);
    let memory = |r: Option<&Row>| r.and_then(|r| r.idle_memory.as_ref()).map(|m| m.rss_kib);
    let lower = "× (lower is better)";
    let comparisons = [
        (
            "throughput, devtail / raw PTY",
            ratio(throughput(ws), throughput(raw)).map(|r| r * 100.0),
            " %",
        ),
        (
            "throughput, devtail / OpenSSH",
            ratio(throughput(ws), throughput(ssh)),
            "×",
        ),
        (
            "echo p50, devtail / OpenSSH",
            ratio(p50(ws), p50(ssh)),
            lower,
        ),
        (
            "echo p99, devtail / OpenSSH",
            ratio(p99(ws), p99(ssh)),
            lower,
        ),
        (
            "idle traffic, devtail / OpenSSH",
            ratio(idle(ws), idle(ssh)),
            lower,
        ),
        (
            "idle traffic, devtail / mosh",
            ratio(idle(ws), idle(mosh)),
            lower,
        ),
        (
            "memory per idle session, devtail / OpenSSH (RSS)",
            ratio(memory(ws), memory(ssh)),
            lower,
        ),
        (
            "memory per idle session, devtail / mosh (RSS)",
            ratio(memory(ws), memory(mosh)),
            lower,
        ),
    ];
    for (what, value, unit) in comparisons {
        if let Some(v) = value {
            let _ = writeln!(md, "- {what}: {v:.2}{unit}");
        }
    }

    if !report.fairness.is_empty() {
        md.push_str(
            "\nOne device's echo while another floods the gateway with input (tiny frames and \
             64 KiB pastes as fast as its client sends, on one connection), devtail ws, at \
             least 1500 keys a run. What got through is what the gateway acknowledged of the \
             flood during the echo window, which opens 4 s into the flood. The flooding client \
             queues far ahead, first mostly tiny frames, then mostly pastes, so a window sees \
             the frames quota or the input quota binding, in proportions that vary from run to \
             run; quota use (frames/s ÷ frames quota + bytes/s ÷ input quota) near 1 says the \
             device was held at its quotas, no further:\n\n\
             | gateway quotas | echo p50 / p99 alone | while the other floods | p99 ratio | the flood got through | quota use |\n\
             |---|---|---|---|---|---|\n",
        );
        for f in &report.fairness {
            let quotas = f.quotas.map_or("off".to_owned(), |q| {
                format!(
                    "{} frames/s, {:.0} MiB/s",
                    q.frames_per_sec,
                    f64::from(q.input_bytes_per_sec) / f64::from(1u32 << 20)
                )
            });
            let _ = writeln!(
                md,
                "| {quotas} | {:.0} / {:.0} µs | {:.0} / {:.0} µs | {:.2}× | {:.0} frames/s, {:.2} MB/s | {} |",
                f.alone.p50_us,
                f.alone.p99_us,
                f.during_flood.p50_us,
                f.during_flood.p99_us,
                f.during_flood.p99_us / f.alone.p99_us,
                f.flood_frames_per_sec,
                f.flood_input_bytes_per_sec / 1e6,
                f.quota_use.map_or("—".to_owned(), |u| format!("{u:.2}")),
            );
        }
    }

    md.push_str("\nTargets:\n\n| target | devtail | met |\n|---|---|---|\n");
    let mut target = |what: &str, shown: Option<String>, met: Option<bool>| {
        let _ = writeln!(
            md,
            "| {what} | {} | {} |",
            shown.unwrap_or_else(|| "not measured".into()),
            match met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "—",
            }
        );
    };
    for system in [System::DevtailWs, System::DevtailWss, System::DevtailQuic] {
        let share = ratio(throughput(get(system)), throughput(raw));
        target(
            &format!("{}: throughput ≥ 90 % of raw PTY", system.label()),
            share.map(|s| format!("{:.0} %", s * 100.0)),
            share.map(|s| s >= TARGET_THROUGHPUT_OF_RAW),
        );
    }
    for system in [System::DevtailWs, System::DevtailWss, System::DevtailQuic] {
        let echo = get(system).and_then(|r| r.echo.as_ref());
        target(
            &format!("{}: echo p50 ≤ 300 µs, p99 ≤ 500 µs", system.label()),
            echo.map(|e| format!("{:.0} / {:.0} µs", e.p50_us, e.p99_us)),
            echo.map(|e| e.p50_us <= TARGET_ECHO_P50_US && e.p99_us <= TARGET_ECHO_P99_US),
        );
    }
    for system in [System::DevtailWs, System::DevtailQuic] {
        let bytes = idle(get(system));
        target(
            &format!("{}: idle ≤ 250 IP bytes/min", system.label()),
            bytes.map(|b| format!("{b:.0} B/min")),
            bytes.map(|b| b <= TARGET_IDLE_BYTES_PER_MIN),
        );
    }
    let session = memory(ws);
    target(
        "≤ 100 KB per idle terminal (screen model and replay included)",
        session.map(kib),
        session.map(|m| m <= TARGET_IDLE_SESSION_KIB * 1000.0 / 1024.0),
    );
    if let Some(f) = report.fairness.iter().find(|f| f.quotas.is_some()) {
        let ratio = f.during_flood.p99_us / f.alone.p99_us;
        target(
            "a flooding device raises another's echo p99 by ≤ 2×",
            Some(format!("{ratio:.2}×")),
            Some(ratio <= 2.0),
        );
    }
    if let Some(scale) = &report.scale {
        target(
            &format!("{} idle connections, ≤ 15 KB each", scale.connections),
            Some(format!(
                "{} each, {} still connected",
                kib(scale.rss_per_connection_kib),
                scale.still_connected
            )),
            Some(scale.rss_per_connection_kib <= TARGET_CONNECTION_KIB),
        );
        target(
            &format!("{} idle connections, CPU < 5 %", scale.connections),
            Some(format!(
                "{:.2} % of one core over {:.0} s",
                scale.cpu_percent, scale.watched_s
            )),
            Some(scale.cpu_percent < TARGET_CPU_PERCENT),
        );
    }
    let _ = writeln!(md, "\nReproduce: `{}`", report.command);
    md
}

fn line(md: &mut String, what: &str, rows: &[Row], cell: impl Fn(&Row) -> Option<String>) {
    let _ = write!(md, "| {what} |");
    for row in rows {
        let _ = write!(md, " {} |", cell(row).unwrap_or_else(|| "—".into()));
    }
    md.push('\n');
}

fn kib(v: f64) -> String {
    if v >= 1024.0 {
        format!("{:.2} MiB", v / 1024.0)
    } else {
        format!("{v:.1} KiB")
    }
}
