//! `policies` and `sandbox`: the account's policies, and the local simulator.

use std::path::Path;

use super::{api_failure, connect, print_problems, stop_invalid, wait_for_stop_signal};
use crate::cli::{PoliciesArgs, SandboxArgs};
use crate::config::Settings;
use crate::exit::Exit;
use crate::resolve::Directory;
use crate::sandbox::{Sandbox, Seed};

/// `policies`: the account's time-off policies (by type) and pay-rule policies.
pub(crate) async fn policies(args: &PoliciesArgs, config: Option<&Path>) -> Exit {
    let settings = match Settings::load(config) {
        Ok(file) => args.settings.clone().or(file),
        Err(p) => return stop_invalid(print_problems([&p])),
    };
    let problems = settings.check();
    if !problems.is_empty() {
        return stop_invalid(print_problems(&problems));
    }
    let client = match connect(&settings) {
        Ok(Some(client)) => client,
        Ok(None) => {
            eprintln!("error: no API key: set CONNECTEAM_API_KEY, or pass --api-key-file FILE");
            return Exit::Invalid;
        }
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Invalid;
        }
    };
    let directory = match Directory::fetch(&client, settings.max_retries()).await {
        Ok(directory) => directory,
        Err(e) => return api_failure(&e),
    };
    if args.json {
        let json = serde_json::json!({
            "policy_types": directory.policy_types,
            "pay_rule_policies": directory.pay_rule_policies,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
    } else {
        print!("{}", render_policies(&directory));
    }
    Exit::Success
}

fn render_policies(directory: &Directory) -> String {
    let mut rows = vec![[
        "TYPE".to_owned(),
        "POLICY ID".to_owned(),
        "NAME".to_owned(),
        "UNIT".to_owned(),
    ]];
    for ty in &directory.policy_types {
        for p in &ty.policies {
            rows.push([
                ty.name.clone(),
                p.id.clone(),
                p.name.clone(),
                p.unit.clone().unwrap_or_default(),
            ]);
        }
    }
    let widths: Vec<usize> = (0..4)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::from("Time-off policies (time_off: policy_id or policy_name)\n");
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out += &format!("  {}\n", cells.join("  ").trim_end());
    }
    out += "\nPay-rule policies (pay_rule: policy_id or policy_name)\n  ID      NAME\n";
    for p in &directory.pay_rule_policies {
        out += &format!("  {:<7} {}\n", p.id, p.name);
    }
    out
}

/// `sandbox`: serves the simulator on loopback until interrupted.
pub(crate) async fn sandbox(args: &SandboxArgs) -> Exit {
    let addr: std::net::SocketAddr = match args.listen.parse() {
        Ok(addr) => addr,
        Err(_) => {
            eprintln!(
                "error: --listen \"{}\" is not an address such as 127.0.0.1:8080",
                args.listen
            );
            return Exit::Invalid;
        }
    };
    if !addr.ip().is_loopback() {
        eprintln!(
            "error: the sandbox listens on loopback only (127.0.0.1 or ::1), not {}",
            addr.ip()
        );
        return Exit::Invalid;
    }
    let seed = match Seed::from_file(&args.seed) {
        Ok(seed) => seed,
        Err(p) => return stop_invalid(print_problems([&p])),
    };
    let server = match Sandbox::start(seed, addr).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return Exit::SomeFailed;
        }
    };
    println!(
        "Connecteam sandbox on {} (any non-empty X-API-KEY); its state: {}/__sandbox/state",
        server.url(),
        server.url()
    );
    println!(
        "Try: CONNECTEAM_BASE_URL={} CONNECTEAM_API_KEY=test ct-onboard plan samples/new-hires.csv",
        server.url()
    );
    wait_for_stop_signal().await;
    Exit::Success
}
