//! The mixed workload end to end, small: every burst of build log arrives byte-exact over ws,
//! wss and quic while devices type, resize and have their connection cut once each.

use std::process::Command;

#[test]
fn every_burst_arrives_exactly_through_cuts_on_every_transport() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("mixed.json");
    let out = Command::new(env!("CARGO_BIN_EXE_devtail-loadtest"))
        .args(["mixed", "--devices", "3", "--seconds", "6", "--json"])
        .arg(&json)
        .output()
        .expect("run devtail-loadtest");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = rows.as_array().expect("one row per transport");
    let transports: Vec<&str> = rows
        .iter()
        .map(|r| r["transport"].as_str().unwrap())
        .collect();
    assert_eq!(transports, ["ws", "wss", "quic"]);
    for row in rows {
        let bursts = row["bursts"].as_u64().unwrap();
        assert!(bursts >= 3, "{row}");
        assert_eq!(row["bursts_exact"].as_u64(), Some(bursts), "{row}");
        assert_eq!(
            row["resumes"].as_u64(),
            Some(3),
            "every device's session went on: {row}"
        );
        assert!(row["echo"]["samples"].as_u64().unwrap() > 30, "{row}");
    }
    // The markdown table names every transport.
    let table = String::from_utf8_lossy(&out.stdout);
    for transport in ["| ws |", "| wss |", "| quic |"] {
        assert!(table.contains(transport), "{table}");
    }
}
