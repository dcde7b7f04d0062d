//! `snapshot`: the account as a sandbox seed, to rehearse a batch against a copy of it.
//! Read-only, paced and batched like every other read, through the same stages.

use std::path::{Path, PathBuf};

use super::check::{api_error, resolve};
use super::{Context, Inputs, OnInterrupt, online, read_holdings};
use crate::api::endpoint::Users;
use crate::api::model::User;
use crate::api::{ApiError, Client, Page};
use crate::config::Settings;
use crate::error::Error;
use crate::resolve::Directory;
use crate::sandbox::{
    Faults, Limits, Seed, SeedHoldings, SeedPack, SeedPayRule, SeedTimeOff, SeedUser,
};

/// The most users a snapshot of a whole account lists (1,000 pages of 500).
const MAX_ACCOUNT_USERS: usize = 500_000;

/// A snapshot written, as a command shows it.
pub struct Snapshot {
    pub out: PathBuf,
    pub seed: Seed,
}

/// Writes the account (policies, users, and what the sheet's users hold, or every user
/// without a sheet) as a seed at `out`, owner-only: it holds personal data.
pub async fn snapshot(
    settings: &Settings,
    sheet: Option<&Context>,
    out: &Path,
    stop: &std::sync::Arc<crate::api::Stop>,
) -> Result<Snapshot, Error> {
    let account = super::connect(settings, super::Target::Settings, stop)?;
    let client = online(account, "snapshot reads the account")?;
    let mut directory = Directory::fetch(&client, false)
        .await
        .map_err(api_error(&client))?;
    // The onboarding packs, when the account lists them (one without the endpoint is
    // written without, and the log says so).
    match Directory::read_packs(&client).await {
        Ok(packs) => directory.packs = packs,
        Err(e) if e.class == crate::api::ErrorClass::Permanent => {
            tracing::warn!("the snapshot has no onboarding packs: {}", e.message);
        }
        Err(e) => return Err(api_error(&client)(e)),
    }
    let (users, holdings) = match sheet {
        Some(context) => sheet_users(context, &client, &directory).await?,
        None => {
            let users = all_users(&client).await.map_err(api_error(&client))?;
            let packs = all_on_packs(&client, &directory, &users).await?;
            let holdings = SeedHoldings {
                packs,
                ..SeedHoldings::default()
            };
            (users, holdings)
        }
    };
    // The custom fields, so that a rehearsal of creating people checks their values; an
    // account that will not list them is written without (and says so in the log).
    let custom_fields = match crate::resolve::custom_fields(&client).await {
        Ok(fields) => fields,
        Err(e) if client.interrupted() => return Err(api_error(&client)(e)),
        Err(e) => {
            tracing::warn!("the snapshot has no custom fields: {}", e.message);
            Vec::new()
        }
    };
    let seed = Seed {
        custom_fields,
        api_key: None,
        read_only: false,
        limits: Limits {
            per_minute: client.minute_limit(),
            per_day: client.day().limit,
            ..Limits::default()
        },
        faults: Faults::default(),
        users: users.into_iter().map(seed_user).collect(),
        policy_types: directory.policy_types,
        pay_rule_policies: directory.pay_rule_policies,
        packs: directory.packs,
        holdings,
        missing_reads: false,
        company: directory.company,
        limits_set: true,
    };
    let mut yaml = format!(
        "# A snapshot of {} taken {} by ct-onboard: a sandbox seed.\n\
         # It holds personal data (names, emails): keep it readable by you only.\n",
        client.base_url(),
        jiff::Timestamp::now()
    );
    yaml += &seed.to_yaml().map_err(Error::Local)?;
    crate::report::write_atomic_path(out, yaml.as_bytes())
        .map_err(|e| Error::Local(format!("cannot write {}: {e}", out.display())))?;
    Ok(Snapshot {
        out: out.to_path_buf(),
        seed,
    })
}

fn seed_user(u: User) -> SeedUser {
    SeedUser {
        id: u.user_id,
        email: u.email,
        first_name: u.first_name,
        last_name: u.last_name,
        archived: u.is_archived,
        phone: (!u.phone_number.is_empty()).then_some(u.phone_number),
    }
}

/// The users the sheet names (archived ones and namesakes included, so that a rehearsal
/// refuses what the account would), and what the valid ones hold.
async fn sheet_users(
    context: &Context,
    client: &Client,
    directory: &Directory,
) -> Result<(Vec<User>, SeedHoldings), Error> {
    let inputs = Inputs::load(context)?;
    let resolved = resolve(
        inputs,
        context,
        client,
        Some(directory.clone()),
        OnInterrupt::Fail,
    )
    .await?;
    let held = read_holdings(
        client,
        directory,
        &resolved.plan,
        context.today,
        &Default::default(),
    )
    .await
    .map_err(api_error(client))?;
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
        packs: seed_packs(&held),
    };
    let mut users: Vec<User> = resolved.users.users().cloned().collect();
    users.sort_by_key(|u| u.user_id);
    Ok((users, holdings))
}

fn seed_packs(held: &crate::holdings::Holdings) -> Vec<SeedPack> {
    held.packs_held()
        .into_iter()
        .map(|(pack_id, user_id, status)| SeedPack {
            pack_id,
            user_id,
            status: status.split(", ").next().unwrap_or(status).to_owned(),
        })
        .collect()
}

/// Who of `users` is on each of the account's packs.
async fn all_on_packs(
    client: &Client,
    directory: &Directory,
    users: &[User],
) -> Result<Vec<SeedPack>, Error> {
    let reads = crate::holdings::Reads {
        users: users.iter().map(|u| u.user_id).collect(),
        packs: directory.packs.iter().map(|p| p.id).collect(),
        ..Default::default()
    };
    let held = crate::holdings::Holdings::fetch(client, directory, &reads)
        .await
        .map_err(api_error(client))?;
    if let Some((_, part)) = held.failed().into_iter().next() {
        return Err(Error::Unreadable(format!(
            "cannot read who is on the onboarding packs of {}: {part}. Nothing was written.",
            client.base_url()
        )));
    }
    Ok(seed_packs(&held))
}

/// Every user of the account, archived ones included, paged to the empty page.
async fn all_users(client: &Client) -> Result<Vec<User>, ApiError> {
    let users = crate::api::list::read_all(
        "GET /users/v1/users",
        500,
        MAX_ACCOUNT_USERS,
        |offset, limit| {
            let request = Users {
                emails: &[],
                phones: &[],
                ids: &[],
                page: Page { offset, limit },
            };
            async move { client.read(&request).await }
        },
        |_| None,
    )
    .await?;
    Ok(users)
}
