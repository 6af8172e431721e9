//! One group of conversions, set at a time: read what the whole group needs (a query per
//! table), decide every conversion in memory in queue order, each against the state the
//! ones before it left, then write each table once (multi-row
//! statements, and `UPDATE … FROM` a list for the contacts; `sets`). A conversion that fails
//! a check is refused alone and changes nothing the others see.

use super::Job;
use crate::domain::{ConversionState, ConversionStatus, CustomData};
use crate::error::{AppError, AppResult};
use crate::service::conversion::Logged;
use crate::service::rollup::Delta;
use crate::service::sets::{self, Pair};
use crate::service::webhooks::{self, EventType, Outgoing};
use crate::service::{
    Services, access, audit, feed, idempotency, new_id, now, privacy, shared, tracking,
};
use entity::{
    contact, contact_state, conversion, feed_event, idempotency_key, lead, wide, workspace,
    workspace_tracking,
};
use sea_orm::{ActiveModelTrait, ConnectionTrait, IntoActiveModel, Statement, Value as SqlValue};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use uuid::Uuid;

/// What the group's checks read: every row any of its conversions names, loaded once.
struct Known {
    /// (scope, key) → (fingerprint, conversion id): stored claims, then this group's.
    claims: HashMap<(String, String), (String, Uuid)>,
    /// Conversions a claim points at: stored ones, then this group's.
    conversions: HashMap<Uuid, conversion::Model>,
    workspaces: HashMap<String, workspace::Model>,
    /// Locked for the transaction on PostgreSQL; as the group's conversions leave them.
    contacts: BTreeMap<i64, contact::Model>,
    /// (contact, workspace) pairs whose workspace may see the contact.
    visible: HashSet<Pair>,
    /// Each converting workspace's own state of the contact, as the group leaves it.
    states: HashMap<Pair, contact_state::Model>,
    leads: HashMap<i64, lead::Model>,
}

/// What the group writes, in queue order.
#[derive(Default)]
struct Writes {
    conversions: Vec<conversion::Model>,
    contacts: BTreeSet<i64>,
    states: BTreeSet<Pair>,
    leads: BTreeMap<i64, lead::Model>,
    tracking: Vec<workspace_tracking::ActiveModel>,
    /// The audit entry of each stored conversion: its job's index (who, and the client's
    /// request id), its id, and the details.
    audit: Vec<(usize, Uuid, Value)>,
    claims: Vec<idempotency_key::ActiveModel>,
    feed: Vec<feed_event::ActiveModel>,
    /// `conversion.logged` for the webhook outbox, one per stored conversion.
    webhooks: Vec<Outgoing>,
    /// Converting workspaces whose own status with a contact moved: (pair, from, to).
    moves: Vec<(Pair, ConversionStatus, ConversionStatus)>,
    rollups: Delta,
}

impl Services {
    /// Writes the group into `conn` (a savepoint of the group's transaction), rollups
    /// included: each job's outcome, in order. An `Err` means a statement failed (a
    /// constraint another node raced, a deadlock): nothing of the group is written, and the
    /// caller rolls `conn` back and retries the jobs one by one.
    pub(super) async fn write_group(
        &self,
        conn: &impl ConnectionTrait,
        jobs: &[Job],
    ) -> AppResult<Vec<AppResult<Logged>>> {
        let mut known = self.known(conn, jobs).await?;
        let mut writes = Writes::default();
        let outcomes: Vec<AppResult<Logged>> = jobs
            .iter()
            .enumerate()
            .map(|(i, job)| self.decide(i, job, &mut known, &mut writes))
            .collect();
        self.write(conn, jobs, known, writes).await?;
        Ok(outcomes)
    }

    /// Reads every row the group's checks need: a statement per table.
    async fn known(&self, conn: &impl ConnectionTrait, jobs: &[Job]) -> AppResult<Known> {
        let claims =
            idempotency::stored(conn, jobs.iter().filter_map(|j| j.claim.as_ref())).await?;
        let prior: Vec<Uuid> = claims.values().map(|(_, id)| *id).collect();
        let conversions =
            sets::find_in::<conversion::Entity, _>(conn, conversion::Column::Id, &prior, false)
                .await?;
        let workspace_ids = distinct(jobs.iter().map(|j| j.workspace_id.as_str().to_owned()));
        let workspaces = sets::find_in::<workspace::Entity, _>(
            conn,
            workspace::Column::Id,
            &workspace_ids,
            false,
        )
        .await?;
        // Locked (PostgreSQL) in id order, so two nodes locking overlapping groups take the
        // rows in the same order.
        let contact_ids = distinct(jobs.iter().map(|j| j.input.contact_id.0));
        let contacts =
            sets::find_in::<contact::Entity, _>(conn, contact::Column::Id, &contact_ids, true)
                .await?;
        let scoped = distinct(jobs.iter().filter_map(|j| {
            let scope = j.caller.principal.scope()?;
            Some((j.input.contact_id.0, scope.as_str().to_owned()))
        }));
        // The tenancy rule of `access::one_visible_contact`, asked for every pair at once.
        let visible = sets::tracked(conn, &scoped).await?;
        let converting = distinct(
            jobs.iter()
                .map(|j| (j.input.contact_id.0, j.workspace_id.as_str().to_owned())),
        );
        let states = sets::find_pairs::<contact_state::Entity>(
            conn,
            [
                contact_state::Column::ContactId,
                contact_state::Column::WorkspaceId,
            ],
            sets::PAIR_TYPES,
            sets::pair_rows(&converting),
        )
        .await?
        .into_iter()
        .map(|s| ((s.contact_id, s.workspace_id.clone()), s))
        .collect();
        let lead_ids = distinct(jobs.iter().filter_map(|j| j.input.lead_id).map(|l| l.0));
        let leads =
            sets::find_in::<lead::Entity, _>(conn, lead::Column::Id, &lead_ids, false).await?;
        Ok(Known {
            claims,
            conversions: by_key(conversions, |c| c.id),
            workspaces: by_key(workspaces, |w| w.id.clone()),
            contacts: contacts.into_iter().map(|c| (c.id, c)).collect(),
            visible,
            states,
            leads: by_key(leads, |l| l.id),
        })
    }

    /// Checks job `i` against what the group knows so far and, if it passes, records what it
    /// writes. Every check and everything that can fail comes before the first change, so a
    /// refused job leaves `known` and `writes` as they were.
    fn decide(
        &self,
        i: usize,
        job: &Job,
        known: &mut Known,
        writes: &mut Writes,
    ) -> AppResult<Logged> {
        let input = &job.input;
        let workspace_id = &job.workspace_id;
        if let Some(claim) = &job.claim {
            let stored = known.claims.get(&claim.id());
            if let Some(id) = claim.judge(stored.map(|(f, id)| (f.as_str(), *id)))? {
                let earlier = known.conversions.get(&id).cloned().ok_or_else(|| {
                    AppError::Internal("an idempotency key points at nothing".into())
                })?;
                return Ok(Logged::Replayed(earlier));
            }
        }
        access::usable_workspace("workspace_id", known.workspaces.get(workspace_id.as_str()))?;
        let contact_id = input.contact_id.0;
        let may_see = |scope: &str| known.visible.contains(&(contact_id, scope.to_owned()));
        let contact = known
            .contacts
            .get(&contact_id)
            .filter(|_| {
                job.caller
                    .principal
                    .scope()
                    .is_none_or(|s| may_see(s.as_str()))
            })
            .ok_or_else(|| AppError::invalid("contact_id", "no such contact"))?;
        privacy::refuse_if_erased(contact, "custom_data", input.custom_data.is_some())?;
        let lead = match input.lead_id {
            Some(lead_id) => match known.leads.get(&lead_id.0) {
                // A lead another workspace converted stays linked to that conversion.
                Some(lead)
                    if lead.contact_id == contact_id
                        && lead
                            .workspace_id
                            .as_deref()
                            .is_some_and(|owner| owner != workspace_id.as_str()) =>
                {
                    return Err(AppError::Conflict(
                        "this lead was already converted by another workspace".into(),
                    ));
                }
                Some(lead) if lead.contact_id == contact_id => Some(lead),
                _ => {
                    return Err(AppError::invalid(
                        "lead_id",
                        "no such lead for this contact",
                    ));
                }
            },
            None => None,
        };
        let value_minor = self.value_minor(input)?;
        let created_at = now();
        let converted_at = input.converted_at.unwrap_or(created_at);
        let id = new_id();
        // Sealed for this row; the lead gets its own copy sealed for its row, so neither
        // ciphertext opens anywhere else.
        let custom_data = input.custom_data.clone().map(CustomData::into_map);
        let sealed = |row: &str, as_lead: bool| -> AppResult<Option<Value>> {
            custom_data
                .clone()
                .map(|map| match as_lead {
                    false => self.seal::<conversion::Model>(row, map),
                    true => self.seal::<lead::Model>(row, map),
                })
                .transpose()
                .map(|m| m.map(Value::Object))
        };
        let stored = conversion::Model {
            id,
            contact_id,
            lead_id: lead.map(|l| l.id),
            workspace_id: workspace_id.as_str().to_owned(),
            converted_by: input.converted_by.clone(),
            converted_at,
            conversion_type: input.conversion_type.as_str().to_owned(),
            value_minor,
            currency: self.currency_of(input).code().to_owned(),
            custom_data: sealed(&id.to_string(), false)?,
            created_at,
            status: ConversionState::Active.as_str().to_owned(),
        };
        let lead_after = match lead {
            Some(lead) => Some(lead::Model {
                conversion_id: Some(id),
                workspace_id: Some(workspace_id.as_str().to_owned()),
                conversion_metadata: sealed(&lead.id.to_string(), true)?,
                ..lead.clone()
            }),
            None => None,
        };
        // Wide and stored in two halves (`entity::wide`): a contact shared by several
        // workspaces never fills up, so one workspace's sales cannot refuse another's.
        let lifetime_part = self.lifetime_part(&stored.currency, value_minor);
        let (lifetime_high, lifetime_low) =
            wide::split(contact.lifetime_value_minor() + i128::from(lifetime_part.unwrap_or(0)))
                .ok_or_else(|| AppError::Internal("a lifetime value beyond 95 bits".into()))?;
        let contact_after = contact::Model {
            converted_from_workspace: Some(workspace_id.as_str().to_owned()),
            converted_by: Some(input.converted_by.clone()),
            // A backfilled older conversion must not move the "last converted" time back.
            converted_timestamp: Some(
                contact
                    .converted_timestamp
                    .map_or(converted_at, |t| t.max(converted_at)),
            ),
            lifetime_value_low: lifetime_low,
            lifetime_value_high: lifetime_high,
            conversion_count: contact.conversion_count.saturating_add(1),
            conversion_status: ConversionStatus::from_stored(&contact.conversion_status)
                .advanced_by(input.conversion_type.as_str())
                .as_str()
                .to_owned(),
            updated_at: created_at,
            ..contact.clone()
        };
        // The converting workspace's own figures and status: what it sees of a contact it
        // does not own, and what its funnel counts.
        let pair = (contact_id, workspace_id.as_str().to_owned());
        let (own_before, own_after) = shared::with_conversion(
            known.states.get(&pair).cloned(),
            input.contact_id,
            workspace_id,
            shared::Converted {
                kind: input.conversion_type.as_str(),
                value_minor: lifetime_part,
                converted_by: &input.converted_by,
                converted_at,
                at: created_at,
            },
        )?;
        let event = feed::event(id, &contact_after, &own_after, None)?;
        let hook = Outgoing {
            workspace_id: Some(workspace_id.clone()),
            event_type: EventType::ConversionLogged,
            data: webhooks::payload::conversion(&stored, &[])?,
            occurred_at: created_at,
        };

        // Decided: from here on nothing fails.
        writes.rollups.conversion(
            &self.rollup_zones,
            &stored.workspace_id,
            &stored.conversion_type,
            &stored.currency,
            converted_at,
            value_minor,
        );
        let own_status = ConversionStatus::from_stored(&own_after.conversion_status);
        writes.moves.push((pair.clone(), own_before, own_status));
        writes.tracking.push(tracking::converted(&stored));
        writes.audit.push((
            i,
            id,
            json!({
                "contact_id": contact_id,
                "lead_id": stored.lead_id,
                "workspace_id": stored.workspace_id,
                "conversion_type": stored.conversion_type,
                "value_minor": value_minor,
                "currency": stored.currency,
            }),
        ));
        if let Some(claim) = &job.claim {
            writes.claims.push(claim.row(id));
            known
                .claims
                .insert(claim.id(), (claim.fingerprint().to_owned(), id));
            known.conversions.insert(id, stored.clone());
        }
        writes.feed.push(event);
        writes.webhooks.push(hook);
        if let Some(lead) = lead_after {
            known.leads.insert(lead.id, lead.clone());
            writes.leads.insert(lead.id, lead);
        }
        known.contacts.insert(contact_id, contact_after);
        writes.contacts.insert(contact_id);
        known.states.insert(pair.clone(), own_after);
        writes.states.insert(pair);
        writes.conversions.push(stored.clone());
        Ok(Logged::Stored(stored))
    }

    /// Writes what the group decided: a statement per table (on SQLite, per chunk of rows
    /// inserted; and one per converted lead). Locks are taken in the order every other write takes
    /// them: contact rows (read `FOR UPDATE` in `known`), then the workspaces' and rollups'
    /// rows, then the audit chain, then the feed, then the webhook outbox; two writers taking
    /// two of them in opposite orders would deadlock.
    async fn write(
        &self,
        conn: &impl ConnectionTrait,
        jobs: &[Job],
        known: Known,
        writes: Writes,
    ) -> AppResult<()> {
        let Writes {
            conversions,
            contacts,
            states,
            leads,
            tracking: tracked,
            audit: audited,
            claims,
            feed: events,
            webhooks: hooks,
            moves,
            mut rollups,
        } = writes;
        if conversions.is_empty() {
            return Ok(());
        }
        // A receipt moves in the funnel when the status its receiver reached moves.
        let moved: Vec<&(Pair, ConversionStatus, ConversionStatus)> =
            moves.iter().filter(|(_, from, to)| from != to).collect();
        let receipts: Vec<Pair> = moved
            .iter()
            .map(|(pair, ..)| pair.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let first = sets::first_receipts(conn, &receipts).await?;
        for (pair, from, to) in moved {
            rollups.status_moved(
                &self.rollup_zones,
                &pair.1,
                first.get(pair).copied(),
                *from,
                *to,
            );
        }
        rollups.apply(conn).await?;

        sets::insert_all(
            conn,
            conversions
                .into_iter()
                .map(|c| c.into_active_model().reset_all()),
        )
        .await?;
        let changed: Vec<&contact::Model> = contacts
            .iter()
            .filter_map(|id| known.contacts.get(id))
            .collect();
        update_contacts(conn, &changed).await?;
        let states: Vec<contact_state::Model> = states
            .iter()
            .filter_map(|pair| known.states.get(pair).cloned())
            .collect();
        shared::save_all(conn, states).await?;
        for lead in leads.into_values() {
            let mut row = lead::ActiveModel::from(lead);
            for col in [
                lead::Column::ConversionId,
                lead::Column::WorkspaceId,
                lead::Column::ConversionMetadata,
            ] {
                row.reset(col);
            }
            row.update(conn).await?;
        }
        sets::insert_all(conn, tracked).await?;
        let mut chain = audit::Chain::open(conn).await?;
        let entries = audited
            .into_iter()
            .map(|(i, id, details)| {
                let job = &jobs[i];
                chain.link(
                    &job.caller,
                    job.client_request_id.clone(),
                    audit::Event {
                        action: "conversion.logged",
                        object_type: "conversion",
                        object_id: &id.to_string(),
                        details,
                    },
                )
            })
            .collect::<AppResult<Vec<_>>>()?;
        audit::insert(conn, entries).await?;
        sets::insert_all(conn, claims).await?;
        feed::append(conn, events).await?;
        // Last: the outbox reads `webhook_endpoints`, which no other write of the group
        // touches (see `webhooks::outbox` for its cost when nobody subscribed).
        if webhooks::record(conn, &hooks).await? > 0 {
            self.webhooks_recorded();
        }
        Ok(())
    }
}

/// Stores what conversions changed on each contact: one `UPDATE … FROM` a list of the
/// contacts (`sets::sources`).
async fn update_contacts(
    conn: &impl ConnectionTrait,
    contacts: &[&contact::Model],
) -> AppResult<()> {
    let backend = conn.get_database_backend();
    let rows: Vec<Vec<SqlValue>> = contacts
        .iter()
        .map(|c| {
            vec![
                c.id.into(),
                c.converted_from_workspace.clone().into(),
                c.converted_by.clone().into(),
                c.converted_timestamp.into(),
                c.lifetime_value_low.into(),
                c.lifetime_value_high.into(),
                c.conversion_count.into(),
                c.conversion_status.clone().into(),
                c.updated_at.into(),
            ]
        })
        .collect();
    let types = [
        "bigint",
        "text",
        "text",
        "timestamptz",
        "bigint",
        "bigint",
        "integer",
        "text",
        "timestamptz",
    ];
    for (v, values) in sets::sources(backend, rows, &types) {
        let sql = format!(
            "UPDATE contacts SET converted_from_workspace = v.column2, converted_by = v.column3, \
             converted_timestamp = v.column4, lifetime_value_low = v.column5, \
             lifetime_value_high = v.column6, conversion_count = v.column7, \
             conversion_status = v.column8, updated_at = v.column9 \
             FROM {v} WHERE contacts.id = v.column1"
        );
        conn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
    }
    Ok(())
}

/// The distinct items, sorted.
fn distinct<T: Ord>(items: impl Iterator<Item = T>) -> Vec<T> {
    items.collect::<BTreeSet<T>>().into_iter().collect()
}

fn by_key<K: std::hash::Hash + Eq, T>(rows: Vec<T>, key: impl Fn(&T) -> K) -> HashMap<K, T> {
    rows.into_iter().map(|row| (key(&row), row)).collect()
}
