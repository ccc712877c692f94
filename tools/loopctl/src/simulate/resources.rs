//! The platform's own cost under the simulated load: peak RSS and CPU time
//! of each process `make up` started, read from /proc.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Peak RSS (MiB) and CPU seconds of each process with a pid file in `dir`.
pub fn resources(dir: &str) -> BTreeMap<String, (f64, f64)> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".pid"))
        else {
            continue;
        };
        let Some(pid) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        else {
            continue;
        };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let peak_kib = peak_rss_kib(&status);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ticks = cpu_ticks(&stat);
        if peak_kib > 0.0 {
            out.insert(name.to_owned(), (peak_kib / 1024.0, ticks / 100.0));
        }
    }
    out
}

/// `VmHWM` (peak resident set, KiB) of a `/proc/<pid>/status`; 0 when absent.
pub fn peak_rss_kib(status: &str) -> f64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// User plus system CPU time (clock ticks) of a `/proc/<pid>/stat`.
pub fn cpu_ticks(stat: &str) -> f64 {
    // Fields after the ")" that ends the command name (which may itself
    // hold spaces or parentheses): utime is the 12th, stime the 13th
    // (clock ticks, 100 per second on Linux).
    stat.rsplit_once(')')
        .map(|(_, rest)| {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let n = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
            n(11) + n(12)
        })
        .unwrap_or(0.0)
}

/// Per process: peak RSS at the end, and CPU seconds spent during traffic.
pub fn json(before: &BTreeMap<String, (f64, f64)>, after: &BTreeMap<String, (f64, f64)>) -> Value {
    let mut res = serde_json::Map::new();
    for (name, (rss, cpu_after)) in after {
        let cpu_before = before.get(name).map_or(0.0, |r| r.1);
        res.insert(
            name.clone(),
            json!({"peak_rss_mib": rss, "cpu_seconds": cpu_after - cpu_before}),
        );
    }
    Value::Object(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_is_read_from_vmhwm() {
        let status = "Name:\tgateway\nVmPeak:\t  900 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 40000 kB\n";
        assert_eq!(peak_rss_kib(status), 51200.0);
        assert_eq!(peak_rss_kib("Name:\tx\n"), 0.0);
    }

    #[test]
    fn cpu_ticks_are_utime_plus_stime_after_the_command_name() {
        // A command name with a space and a parenthesis does not shift fields.
        let stat = "42 (feed (ranking)) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8";
        assert_eq!(cpu_ticks(stat), 300.0);
        assert_eq!(cpu_ticks(""), 0.0);
    }

    #[test]
    fn cpu_seconds_are_those_spent_between_the_two_readings() {
        let before = BTreeMap::from([("gateway".to_owned(), (10.0, 2.0))]);
        let after = BTreeMap::from([
            ("gateway".to_owned(), (12.0, 5.5)),
            ("wallet".to_owned(), (8.0, 1.0)),
        ]);
        let r = json(&before, &after);
        assert_eq!(r["gateway"]["peak_rss_mib"], 12.0);
        assert_eq!(r["gateway"]["cpu_seconds"], 3.5);
        // Started during traffic: everything it spent counts.
        assert_eq!(r["wallet"]["cpu_seconds"], 1.0);
    }
}
