//! Creating the people who are not in Connecteam yet (`--create-missing`), each exactly
//! once. Creation is not idempotent, so nothing here is retried blindly:
//!
//! 1. each person is journaled `creating` before the request that creates them;
//! 2. anyone the journal shows begun before (a killed run, an unclear answer) is looked
//!    up by phone first, and found means created;
//! 3. an answer that is not clear is followed by a lookup of the batch's phones: after a
//!    5xx or a 200 that cannot be read (the server is done with it) those not found are
//!    sent again, a bounded number of times; after no answer at all (a timeout, a dropped
//!    connection: the server may still be at it) they are not sent again in this run,
//!    and the journal keeps them `creating` for the next run to look up first. The
//!    gateway hands such answers back after one attempt, the 200 "too many requests"
//!    quirk included (only a real 429 is waited out and sent again);
//! 4. a refused batch (4xx) is all or nothing, so it is halved until the people at fault
//!    stand alone, each reported with the API's message; the others are created. A
//!    refusal after an unclear earlier send is looked up first (it may be about our own
//!    people), and a phone the lookup finds held by anyone but one active user is never
//!    sent again.

use std::collections::HashMap;

use crate::api::endpoint::{CREATE_BATCH, CreateUsers};
use crate::api::model::NewUser;
use crate::api::{ApiError, Budget, Client, ErrorClass};
use crate::error::Error;
use crate::journal::{Journal, PersonState};
use crate::plan::{Creation, Plan};
use crate::resolve::{Lookup, UserDirectory, phone_key};

/// Where and how people are created.
pub(super) struct Creator<'a> {
    pub client: &'a Client,
    pub journal: &'a Journal,
    pub run_id: &'a str,
    pub send_activation: bool,
    /// How many times people not found after an unclear answer are sent again.
    pub max_resends: u32,
    /// The instant the run decides at: how long ago an unclear creation was sent.
    pub now: jiff::Timestamp,
}

/// One request's people (positions in the plan's rows), and how often they were sent.
struct Batch {
    rows: Vec<usize>,
    sent: u32,
}

impl Creator<'_> {
    /// Creates every valid row's person still planned, setting the row's user ID or its
    /// failure; returns how many were created.
    pub async fn create(&self, plan: &mut Plan) -> Result<usize, Error> {
        let todo: Vec<usize> = plan
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.is_valid()
                    && r.person
                        .as_ref()
                        .is_some_and(|p| p.state == Creation::Planned)
            })
            .map(|(i, _)| i)
            .collect();
        if todo.is_empty() {
            return Ok(0);
        }
        // Begun before: look up first, whatever the journal says came of it.
        let mut begun = Vec::new();
        for &i in &todo {
            if self.journal_state(plan, i)?.is_some() {
                begun.push(i);
            }
        }
        if !begun.is_empty() {
            let _ = self.settle_by_lookup(plan, &begun).await?;
        }
        // Begun without a clear answer, not found, and recently: a new person can take a
        // while to show in the lookup, and a second one cannot be taken back.
        for &i in &begun {
            if state(plan, i) != Some(&Creation::Planned)
                || !matches!(self.journal_state(plan, i)?, Some(PersonState::Creating))
            {
                continue;
            }
            let at = self
                .journal
                .person_updated_at(self.client.base_url(), phone(plan, i))
                .map_err(Error::journal)?
                .unwrap_or_default();
            if let Some(since) = crate::pipeline::decide::settling(&at, self.now) {
                let why = format!(
                    "may have been created: ct-onboard sent this person's creation {since} \
                     without a clear answer, and the phone is not found yet; a new person can \
                     take a while to show, so they are not created again until an hour has \
                     passed"
                );
                set_state(plan, i, Creation::InDoubt(why));
            }
        }
        let todo: Vec<usize> = todo
            .into_iter()
            .filter(|&i| state(plan, i) == Some(&Creation::Planned))
            .collect();
        let mut batches: Vec<Batch> = todo
            .chunks(CREATE_BATCH)
            .rev()
            .map(|rows| Batch {
                rows: rows.to_vec(),
                sent: 0,
            })
            .collect();
        while let Some(batch) = batches.pop() {
            batches.extend(self.send(plan, batch).await?);
        }
        Ok(plan
            .rows
            .iter()
            .filter(|r| {
                r.person
                    .as_ref()
                    .is_some_and(|p| matches!(p.state, Creation::Created(_)))
            })
            .count())
    }

    fn journal_state(&self, plan: &Plan, i: usize) -> Result<Option<PersonState>, Error> {
        self.journal
            .person(self.client.base_url(), phone(plan, i))
            .map_err(Error::journal)
    }

    fn record(&self, plan: &mut Plan, i: usize, outcome: Creation) -> Result<(), Error> {
        let journaled = match &outcome {
            Creation::Created(id) => Some(PersonState::Created(*id)),
            Creation::Failed(why) => Some(PersonState::Failed(why.clone())),
            Creation::Planned | Creation::NotSent(_) | Creation::InDoubt(_) => None,
        };
        if let Some(journaled) = journaled {
            self.journal
                .set_person(
                    self.client.base_url(),
                    phone(plan, i),
                    &journaled,
                    self.run_id,
                )
                .map_err(Error::journal)?;
        }
        let row = &mut plan.rows[i];
        if let Creation::Created(id) = outcome {
            row.user_id = Some(id);
        }
        if let Some(person) = row.person.as_mut() {
            person.state = outcome;
        }
        Ok(())
    }

    /// Sends one batch and settles what came of it; hands back the batches still to
    /// send (halves of a refused one, the people an unclear answer did not create).
    async fn send(&self, plan: &mut Plan, batch: Batch) -> Result<Vec<Batch>, Error> {
        if let Some(reason) = self.client.stop().get() {
            for &i in &batch.rows {
                let why = format!("not created: {}", reason.describe());
                set_state(plan, i, Creation::NotSent(why));
            }
            return Ok(Vec::new());
        }
        for &i in &batch.rows {
            self.journal
                .set_person(
                    self.client.base_url(),
                    phone(plan, i),
                    &PersonState::Creating,
                    self.run_id,
                )
                .map_err(Error::journal)?;
        }
        // Durable through a power cut too: a person is never made twice.
        self.journal.sync().map_err(Error::journal)?;
        let people: Vec<NewUser> = batch.rows.iter().map(|&i| new_user(plan, i)).collect();
        let request = CreateUsers {
            people: &people,
            send_activation: self.send_activation,
        };
        let call = self.client.call(Budget::ClaimEach, &request).await;
        let (answer, attempts) = (call.result, call.attempts);
        tracing::info!(
            event = "create",
            people = people.len(),
            outcome = match &answer {
                Ok(_) => "answered",
                Err(e) if refused(e) => "refused",
                Err(_) => "unclear",
            },
            "POST /users/v1/users for {} people",
            people.len()
        );
        match answer {
            Ok(response) => {
                let made: HashMap<String, u64> = response
                    .data
                    .iter()
                    .filter_map(|u| Some((phone_key(&u.phone_number)?, u.user_id)))
                    .collect();
                let mut missing = Vec::new();
                for &i in &batch.rows {
                    match made.get(phone(plan, i)) {
                        Some(&id) => self.record(plan, i, Creation::Created(id))?,
                        None => missing.push(i),
                    }
                }
                // Answered without them: only a lookup can tell.
                self.after_unclear(
                    plan,
                    missing,
                    batch.sent + 1,
                    "the answer did not list them",
                )
                .await
            }
            // Refused after an earlier unclear send: the first may have made them (and
            // "already exists" is then about our own people). Look before narrowing.
            Err(e) if refused(&e) && batch.sent > 0 => {
                let Some(missing) = self.settle_by_lookup(plan, &batch.rows).await? else {
                    return Ok(Vec::new());
                };
                for &i in &missing {
                    let why = format!(
                        "{}; an earlier request for this person had no clear answer and the \
                         phone is not found: the next run looks it up again",
                        refusal(&e)
                    );
                    set_state(plan, i, Creation::Failed(why));
                }
                Ok(Vec::new())
            }
            Err(e) if refused(&e) => match batch.rows.as_slice() {
                [one] => {
                    self.record(plan, *one, Creation::Failed(refusal(&e)))?;
                    Ok(Vec::new())
                }
                rows => {
                    // All or nothing: halve it until whoever is at fault stands alone.
                    let (first, second) = rows.split_at(rows.len() / 2);
                    Ok(vec![
                        Batch {
                            rows: second.to_vec(),
                            sent: 0,
                        },
                        Batch {
                            rows: first.to_vec(),
                            sent: 0,
                        },
                    ])
                }
            },
            // Stopped with the request out (an interrupt in flight): it may have landed.
            Err(e) if not_sent(&e) && attempts > 0 && e.class == ErrorClass::Stopped => {
                for &i in &batch.rows {
                    let why = format!(
                        "may have been created: the run stopped with the request out ({}); \
                         the next run looks the phone up before anything is sent",
                        e.message
                    );
                    set_state(plan, i, Creation::InDoubt(why));
                }
                Ok(Vec::new())
            }
            Err(e) if not_sent(&e) => {
                for &i in &batch.rows {
                    set_state(
                        plan,
                        i,
                        Creation::NotSent(format!("not created: {}", e.message)),
                    );
                }
                Ok(Vec::new())
            }
            // No answer at all (a timeout, a dropped connection): the server may still
            // be working on it, so what a lookup does not find yet is not sent again
            // in this run; the journal keeps them `creating` for the next run to look up.
            Err(e) if e.status.is_none() => {
                let Some(missing) = self.settle_by_lookup(plan, &batch.rows).await? else {
                    return Ok(Vec::new());
                };
                for &i in &missing {
                    let why = format!(
                        "may have been created: no answer ({}) and not found by phone yet; \
                         not sent again in this run, the next run looks the phone up first",
                        e.message
                    );
                    set_state(plan, i, Creation::InDoubt(why));
                }
                Ok(Vec::new())
            }
            // An answer that says nothing clear (a 5xx, a 200 that cannot be read): the
            // server is done with it, so a lookup tells.
            Err(e) => {
                self.after_unclear(plan, batch.rows, batch.sent + 1, &e.message)
                    .await
            }
        }
    }

    /// After an answer that does not say whether `rows` were created: looks their
    /// phones up; those not found are sent again, while tries are left.
    async fn after_unclear(
        &self,
        plan: &mut Plan,
        rows: Vec<usize>,
        sent: u32,
        why: &str,
    ) -> Result<Vec<Batch>, Error> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let Some(missing) = self.settle_by_lookup(plan, &rows).await? else {
            return Ok(Vec::new());
        };
        if missing.is_empty() {
            return Ok(Vec::new());
        }
        if sent > self.max_resends {
            for &i in &missing {
                // The journal keeps them `creating`: the next run looks them up first.
                let unclear = Creation::InDoubt(format!(
                    "may have been created: no clear answer after {sent} requests ({why}), and \
                     not found by phone yet; not sent again in this run, the next run looks the \
                     phone up first"
                ));
                set_state(plan, i, unclear);
            }
            return Ok(Vec::new());
        }
        Ok(vec![Batch {
            rows: missing,
            sent,
        }])
    }

    /// Looks `rows`' phones up: those found (one active user) are created; returns the
    /// rest, or `None` when the lookup itself failed (then nobody is sent again: the
    /// journal keeps them `creating`, for the next run to look up).
    async fn settle_by_lookup(
        &self,
        plan: &mut Plan,
        rows: &[usize],
    ) -> Result<Option<Vec<usize>>, Error> {
        let phones: Vec<String> = rows.iter().map(|&i| phone(plan, i).to_owned()).collect();
        let mut found = UserDirectory::default();
        if let Err(e) = found.look_up(self.client, &Lookup::Phones(&phones)).await {
            for &i in rows {
                let why = format!(
                    "whether the person was created is not known: the phone lookup failed ({}); \
                     nothing more is sent, and the next run looks the phone up first",
                    e.message
                );
                // Not known either way: still to create, and reported unverified (exit 1).
                set_state(plan, i, Creation::InDoubt(why));
            }
            return Ok(None);
        }
        let mut missing = Vec::new();
        for &i in rows {
            let phone = phone(plan, i).to_owned();
            match found.active_by_phone(&phone) {
                Some(id) => self.record(plan, i, Creation::Created(id))?,
                // Held, but not by exactly one active user: nothing is sent on a doubt.
                None if found.holds_phone(&phone) => {
                    let why = format!(
                        "the phone {phone} is now held in Connecteam, but not by exactly one active \
                         user: not sent again; check the account"
                    );
                    set_state(plan, i, Creation::Failed(why));
                }
                None => missing.push(i),
            }
        }
        Ok(Some(missing))
    }
}

fn state(plan: &Plan, i: usize) -> Option<&Creation> {
    plan.rows[i].person.as_ref().map(|p| &p.state)
}

/// Sets a person's state without touching the journal (which keeps them `creating`).
fn set_state(plan: &mut Plan, i: usize, state: Creation) {
    if let Some(person) = plan.rows[i].person.as_mut() {
        person.state = state;
    }
}

fn phone(plan: &Plan, i: usize) -> &str {
    plan.rows[i]
        .person
        .as_ref()
        .map_or("", |p| p.phone.as_str())
}

fn new_user(plan: &Plan, i: usize) -> NewUser {
    let person = plan.rows[i].person.as_deref().expect("a person to create");
    NewUser {
        first_name: person.first_name.clone(),
        last_name: person.last_name.clone(),
        phone_number: person.phone.clone(),
        email: person.email.clone(),
        user_type: "user".into(),
        custom_fields: person.custom_fields.clone(),
    }
}

/// A clear refusal: the API read the request and created no one (all or nothing).
fn refused(e: &ApiError) -> bool {
    e.class == ErrorClass::Permanent && e.status.is_some_and(|s| (400..500).contains(&s))
}

/// Never sent: the day's quota, a stop, a refused key.
fn not_sent(e: &ApiError) -> bool {
    matches!(
        e.class,
        ErrorClass::QuotaExhausted | ErrorClass::Stopped | ErrorClass::Auth
    )
}

fn refusal(e: &ApiError) -> String {
    match e.status {
        Some(status) => format!(
            "Connecteam refused to create this person ({status}): {}",
            e.message
        ),
        None => format!("Connecteam refused to create this person: {}", e.message),
    }
}
