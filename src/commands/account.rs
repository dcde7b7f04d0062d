//! `policies` and `sandbox`: the account's policies, and the local simulator.

use std::path::Path;

use crate::cli::{PoliciesArgs, SandboxArgs};
use crate::console::Console;
use crate::error::Error;
use crate::exit::Exit;
use crate::pipeline::{self, Target};
use crate::resolve::Directory;
use crate::sandbox::{Sandbox, Seed};

/// `policies`: the account's time-off policies (by type) and pay-rule policies.
pub(crate) async fn policies(
    args: &PoliciesArgs,
    config: Option<&Path>,
    session: &super::Session<'_>,
) -> Result<Exit, Error> {
    let console = session.console;
    let settings = pipeline::settings(&args.settings, config)?;
    let account = pipeline::connect(&settings, Target::Settings, session.stop)?;
    let client = pipeline::online(account, "policies reads the account")?;
    let mut directory = Directory::fetch(&client, false)
        .await
        .map_err(|source| Error::api(client.base_url(), source))?;
    // Packs are listed when the account answers for them: an account without the
    // onboarding endpoint still lists its policies.
    let packs = match Directory::read_packs(&client).await {
        Ok(packs) => {
            directory.packs = packs;
            None
        }
        Err(e) if e.class == crate::api::ErrorClass::Permanent => Some(e.message),
        Err(e) => return Err(Error::api(client.base_url(), e)),
    };
    if args.json {
        let json = serde_json::json!({
            "company_id": directory.company.company_id,
            "company_name": directory.company.company_name,
            "policy_types": directory.policy_types,
            "pay_rule_policies": directory.pay_rule_policies,
            "onboarding_packs": directory.packs,
        });
        console.line(&serde_json::to_string_pretty(&json).unwrap_or_default());
    } else {
        console.out(&render_policies(&directory, packs.as_deref()));
    }
    Ok(Exit::Success)
}

fn render_policies(directory: &Directory, packs_unread: Option<&str>) -> String {
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
    let mut out = format!(
        "Policies of {}\n\nTime-off policies (time_off: policy_id or policy_name)\n",
        directory.company
    );
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
    out += "\nOnboarding packs (onboarding_packs: pack_id or pack_name)\n";
    match packs_unread {
        Some(why) => out += &format!("  not read: {why}\n"),
        None => {
            out += "  ID      NAME\n";
            for p in &directory.packs {
                let default = if p.is_default { "  (default)" } else { "" };
                out += &format!("  {:<7} {}{default}\n", p.id, p.name);
            }
        }
    }
    out
}

/// `sandbox`: serves the simulator on loopback until interrupted.
pub(crate) async fn sandbox(args: &SandboxArgs, console: &Console) -> Result<Exit, Error> {
    let addr: std::net::SocketAddr = args.listen.parse().map_err(|_| {
        Error::Usage(format!(
            "--listen \"{}\" is not an address such as 127.0.0.1:8080",
            args.listen
        ))
    })?;
    if !addr.ip().is_loopback() {
        return Err(Error::Usage(format!(
            "the sandbox listens on loopback only (127.0.0.1 or ::1), not {}",
            addr.ip()
        )));
    }
    let seed = match &args.seed {
        Some(path) => Seed::from_file(path).map_err(|p| Error::invalid(vec![p]))?,
        None => Seed::built_in(),
    };
    let mut signals = crate::signal::Signals::listen();
    let server = Sandbox::start(seed, addr)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {addr}: {e}")))?;
    console.line(&format!(
        "Connecteam sandbox on {} (any non-empty X-API-KEY); its state: {}/__sandbox/state",
        server.url(),
        server.url()
    ));
    console.line(&format!(
        "Try: CONNECTEAM_BASE_URL={} CONNECTEAM_API_KEY=test ct-onboard plan samples/new-hires.csv",
        server.url()
    ));
    signals.next().await;
    Ok(Exit::Success)
}
