//! `snapshot`: the account as a sandbox seed, to rehearse a batch against a copy of it.
//! Read-only, paced and batched like every other read.

use std::path::Path;

use super::Session;
use crate::api::Client;
use crate::api::model::User;
use crate::cli::{InputArgs, SnapshotArgs};
use crate::error::Error;
use crate::exit::Exit;
use crate::pipeline::{self, Inputs, Target};
use crate::resolve::{Directory, UserDirectory, resolve_manifest, resolve_users};
use crate::sandbox::{Faults, Limits, Seed, SeedHoldings, SeedPayRule, SeedTimeOff, SeedUser};

/// The most users a snapshot of a whole account lists (1,000 pages of 500).
const MAX_ACCOUNT_PAGES: u64 = 1000;

pub(crate) async fn snapshot(
    args: &SnapshotArgs,
    config: Option<&Path>,
    session: &Session<'_>,
) -> Result<Exit, Error> {
    let settings = pipeline::settings(&args.settings, config)?;
    let client =
        pipeline::connect(&settings, Target::Settings, session.stop)?.ok_or_else(|| {
            Error::Usage(
                "snapshot reads the account: set CONNECTEAM_API_KEY or pass --api-key-file FILE"
                    .into(),
            )
        })?;
    let failed = |source| Error::api(client.base_url(), source);
    let directory = Directory::fetch(&client).await.map_err(failed)?;
    let (users, holdings) = match &args.hires {
        Some(hires) => sheet_users(args, hires, config, &client, &directory).await?,
        None => (
            all_users(&client).await.map_err(failed)?,
            SeedHoldings::default(),
        ),
    };
    let seed = Seed {
        api_key: None,
        read_only: false,
        limits: Limits {
            per_minute: client.minute_limit(),
            per_day: client.day().limit,
            ..Limits::default()
        },
        faults: Faults::default(),
        users: users
            .into_iter()
            .map(|u| SeedUser {
                id: u.user_id,
                email: u.email,
                first_name: u.first_name,
                last_name: u.last_name,
                archived: u.is_archived,
                phone: (!u.phone_number.is_empty()).then_some(u.phone_number),
            })
            .collect(),
        policy_types: directory.policy_types,
        pay_rule_policies: directory.pay_rule_policies,
        holdings,
        missing_reads: false,
        limits_set: true,
    };
    let mut yaml = format!(
        "# A snapshot of {} taken {} by ct-onboard: a sandbox seed.\n\
         # It holds personal data (names, emails): keep it readable by you only.\n",
        client.base_url(),
        jiff::Timestamp::now()
    );
    yaml += &seed.to_yaml().map_err(Error::Local)?;
    let out = &args.out;
    crate::report::write_atomic_path(out, yaml.as_bytes())
        .map_err(|e| Error::Local(format!("cannot write {}: {e}", out.display())))?;
    session.console.line(&format!(
        "Wrote {}: {} users, {} time-off and {} pay-rule policies, {} holdings. It holds personal data, \
         so it is readable by you only (0600); keep it that way. Rehearse with: \
         ct-onboard run HIRES --sandbox --seed {}",
        out.display(),
        seed.users.len(),
        seed.policy_types.iter().map(|t| t.policies.len()).sum::<usize>(),
        seed.pay_rule_policies.len(),
        seed.holdings.time_off.len() + seed.holdings.pay_rules.len(),
        out.display()
    ));
    Ok(Exit::Success)
}

/// The users the sheet names (archived ones and namesakes included, so that a rehearsal
/// refuses what the account would), and what the valid ones hold.
async fn sheet_users(
    args: &SnapshotArgs,
    hires: &Path,
    config: Option<&Path>,
    client: &Client,
    directory: &Directory,
) -> Result<(Vec<User>, SeedHoldings), Error> {
    let input = InputArgs {
        hires: hires.to_owned(),
        sheet: args.sheet.clone(),
        allow_retroactive: true,
        skip_invalid: true,
        today: args.today,
        settings: args.settings.clone(),
    };
    let inputs = Inputs::load(&input, config)?;
    let resolved = resolve_manifest(&inputs.manifest, directory);
    let inputs = Inputs {
        manifest: resolved.manifest,
        ..inputs
    };
    let plan = inputs.plan(&input);
    let failed = |source| Error::api(client.base_url(), source);
    let found = UserDirectory::fetch(client, &plan).await.map_err(failed)?;
    let plan = resolve_users(plan, &found, &inputs.columns, &inputs.sheet.file);
    let today = args.today.unwrap_or_else(|| jiff::Zoned::now().date());
    let held = pipeline::read_holdings(client, directory, &plan, today, &Default::default())
        .await
        .map_err(failed)?;
    let unread = held.failed();
    if !unread.is_empty() {
        return Err(Error::Unreadable(format!(
            "cannot read what the sheet's users hold in {}: {}. Nothing was written.",
            client.base_url(),
            unread
                .into_iter()
                .map(|(_, part)| part)
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    for (user, why) in held.doubts() {
        tracing::warn!(
            "what user {user} holds could not be read ({why}): left out of the snapshot"
        );
    }
    let holdings = SeedHoldings {
        time_off: held
            .time_off_held()
            .map(|(user_id, held)| SeedTimeOff {
                user_id,
                policy_id: held.policy_id.clone(),
                balance: Some(held.balance.to_string().parse().unwrap_or(0.0)),
            })
            .collect(),
        pay_rules: held
            .pay_rules_held()
            .into_iter()
            .map(|(user_id, policy_id, effective_date)| SeedPayRule {
                user_id,
                policy_id,
                effective_date,
            })
            .collect(),
    };
    let mut users: Vec<User> = found.users().cloned().collect();
    users.sort_by_key(|u| u.user_id);
    Ok((users, holdings))
}

/// Every user of the account, archived ones included, page by page.
async fn all_users(client: &Client) -> Result<Vec<User>, crate::api::ApiError> {
    let mut users: Vec<User> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..MAX_ACCOUNT_PAGES {
        let request = crate::api::endpoint::Users {
            emails: &[],
            ids: &[],
            page: crate::api::Page {
                offset: users.len() as u64,
                limit: 500,
            },
        };
        let page = client.read(&request).await?.data.rows;
        let full = page.len() == 500;
        let before = users.len();
        users.extend(page.into_iter().filter(|u| seen.insert(u.user_id)));
        if !full || users.len() == before {
            break;
        }
    }
    Ok(users)
}
