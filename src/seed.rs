//! `convio seed`: fills a database with a realistic synthetic history, fast and reproducibly,
//! for benchmarks and demos. Workspaces, contacts sent from a lead-generation workspace to
//! one or two others, a lead per contact, and conversions of several types spread over the
//! chosen span of days, with exact values and custom data, each with the `converted`
//! tracking row live ingest writes beside it. Contact rows carry the status, lifetime value
//! and count their conversions imply, and the analytics rollups are rebuilt at the end, so
//! the seeded database answers exactly like one filled through the API.
//!
//! The same seed, sizes and end date give the same rows. Rows are written with multi-row
//! inserts in large transactions; the audit log and the live feed are left alone (the seeded
//! history predates them).

use crate::db::Db;
use crate::domain::{ContactId, ConversionStatus, LeadId, TrackingAction, WorkspaceId};
use crate::error::AppResult;
use crate::service::id_allocator::{self, IdSpace};
use crate::service::{rollup, tracking};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use entity::{contact, contact_state, conversion, lead, workspace};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait, IntoActiveModel,
    TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

/// What to generate.
#[derive(Clone, Debug, clap::Args)]
pub struct SeedOptions {
    /// Conversions to generate.
    #[arg(long, default_value_t = 1_000_000)]
    pub conversions: u64,
    /// Receiving workspaces (plus one lead-generation workspace that sends the contacts).
    #[arg(long, default_value_t = 20)]
    pub workspaces: u32,
    /// Conversions per contact, on average.
    #[arg(long, default_value_t = 4)]
    pub conversions_per_contact: u64,
    /// Days of history, ending at `--end-date`.
    #[arg(long, default_value_t = 400)]
    pub days: u32,
    /// The last day of the history (UTC); defaults to today. Pin it (to a past day) to reproduce
    /// a database: the history never runs past the current instant, so today's ends now.
    #[arg(long)]
    pub end_date: Option<NaiveDate>,
    /// Seed of the pseudo-random generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Debug)]
pub struct SeedReport {
    pub workspaces: u64,
    pub contacts: u64,
    pub conversions: u64,
    /// A `sent` and a `received` row per handoff, and a `converted` row per conversion.
    pub tracking_rows: u64,
}

/// Rows per INSERT: under both databases' bind-parameter limits for the widest table.
const ROWS_PER_INSERT: usize = 1_500;
/// Conversions generated (and committed) per transaction: bounds memory.
const CONVERSIONS_PER_TXN: u64 = 100_000;

const TYPES: [(&str, u64); 5] = [
    ("qualified", 40),
    ("appointment", 25),
    ("sale", 20),
    ("demo_booked", 10),
    ("contract_renewal", 5),
];
const SOURCES: [&str; 4] = ["salesforce", "hubspot", "pipedrive", "webhook"];

/// SplitMix64: tiny, fast and stable across versions, so a seed means the same data forever.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A contact as its conversions leave it.
struct ContactState {
    receivers: Vec<usize>,
    /// What each of `receivers` made of it: its own `contact_states` figures.
    own: Vec<Own>,
    status: ConversionStatus,
    lifetime_minor: i64,
    count: i32,
    last: Option<(DateTime<Utc>, usize)>,
}

/// One receiver's own conversions of a contact.
struct Own {
    status: ConversionStatus,
    lifetime_minor: i64,
    count: i32,
    last: Option<DateTime<Utc>>,
}

pub async fn seed(db: &Db, zones: &[Tz], options: &SeedOptions) -> AppResult<SeedReport> {
    let conn = db.conn();
    if db.backend() == sea_orm::DbBackend::Sqlite {
        // A seeded database can be made again from its seed, so it need not survive a power
        // cut halfway: skip the per-commit sync and keep more pages in memory.
        conn.execute_unprepared("PRAGMA synchronous = OFF").await?;
        conn.execute_unprepared("PRAGMA cache_size = -262144")
            .await?;
    }
    let mut rng = Rng(options.seed);
    let (start, end) = history(options.end_date, options.days, Utc::now());
    let span_seconds = (end - start).num_seconds().max(1);

    let sender = "seed_lead_gen".to_owned();
    let receivers: Vec<String> = (1..=options.workspaces.max(1))
        .map(|i| format!("seed_ws_{i:03}"))
        .collect();
    let workspace_rows: Vec<workspace::ActiveModel> = std::iter::once(&sender)
        .chain(&receivers)
        .map(|id| workspace::ActiveModel {
            id: Set(id.clone()),
            name: Set(format!("Seeded {id}")),
            permissions: Set(json!(["read", "update", "convert"])),
            created_at: Set(start),
            disabled_at: Set(None),
            rate_limit_per_hour: Set(None),
            analytics_version: Set(0),
        })
        .collect();
    workspace::Entity::insert_many(workspace_rows)
        .on_conflict(
            OnConflict::column(workspace::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;

    let contacts = (options.conversions / options.conversions_per_contact.max(1)).max(1);
    // Ids from convio's own range, as for contacts and leads created without one, so seeding
    // adds to a database and never meets a client's ids.
    let (first_id, first_lead_id) = {
        let txn = conn.begin().await?;
        let contact_ids = id_allocator::reserve(&txn, IdSpace::Contacts, contacts).await?;
        let lead_ids = id_allocator::reserve(&txn, IdSpace::Leads, contacts).await?;
        txn.commit().await?;
        (contact_ids, lead_ids)
    };
    let mut states: Vec<ContactState> = (0..contacts)
        .map(|_| {
            let mut mine = vec![rng.below(receivers.len() as u64) as usize];
            // A third of the contacts go to a second workspace too.
            if receivers.len() > 1 && rng.below(3) == 0 {
                let other = (mine[0] + 1 + rng.below(receivers.len() as u64 - 1) as usize)
                    % receivers.len();
                mine.push(other);
            }
            ContactState {
                own: mine
                    .iter()
                    .map(|_| Own {
                        status: ConversionStatus::Pending,
                        lifetime_minor: 0,
                        count: 0,
                        last: None,
                    })
                    .collect(),
                receivers: mine,
                status: ConversionStatus::Pending,
                lifetime_minor: 0,
                count: 0,
                last: None,
            }
        })
        .collect();
    // Each contact arrived somewhere in the first nine tenths of the span, so every recent
    // period of a dashboard (the last 30 days, say) has contacts received and a funnel.
    let arrivals: Vec<DateTime<Utc>> = (0..contacts)
        .map(|_| start + Duration::seconds(rng.below(span_seconds as u64 / 10 * 9) as i64))
        .collect();

    // Two passes over the same random stream: the first only folds each conversion into
    // its contact (whose row must exist before the conversions that reference it), the
    // second writes the conversions.
    let stream = rng.0;
    for _ in 0..options.conversions {
        let g = generate(&mut rng, &states, &arrivals, end);
        let state = &mut states[g.contact];
        state.status = state.status.advanced_by(g.kind);
        state.lifetime_minor += g.value_minor.unwrap_or(0);
        state.count += 1;
        if state.last.is_none_or(|(t, _)| g.at > t) {
            state.last = Some((g.at, g.workspace));
        }
        if let Some(i) = state.receivers.iter().position(|&r| r == g.workspace) {
            let own = &mut state.own[i];
            own.status = own.status.advanced_by(g.kind);
            own.lifetime_minor += g.value_minor.unwrap_or(0);
            own.count += 1;
            own.last = Some(own.last.map_or(g.at, |t| t.max(g.at)));
        }
    }

    // Contacts, their leads and their tracking rows, a transaction's worth at a time, so
    // memory stays flat at any scale.
    let mut tracking = 0;
    for (chunk_index, chunk) in states.chunks(CONVERSIONS_PER_TXN as usize).enumerate() {
        let offset = chunk_index * CONVERSIONS_PER_TXN as usize;
        let mut contact_rows = Vec::with_capacity(chunk.len());
        let mut lead_rows = Vec::with_capacity(chunk.len());
        let mut tracking_rows = Vec::with_capacity(chunk.len() * 3);
        let mut state_rows = Vec::with_capacity(chunk.len() * 3);
        for (i, state) in chunk.iter().enumerate() {
            let c = offset + i;
            let id = first_id + c as i64;
            let arrived = arrivals[c];
            contact_rows.push(contact::ActiveModel {
                id: Set(id),
                name: Set(Some(format!("Seeded Contact {id}"))),
                email: Set(Some(format!("contact{id}@example.test"))),
                phone: Set(None),
                created_at: Set(arrived),
                updated_at: Set(state.last.map_or(arrived, |(t, _)| t)),
                sent_from_workspace: Set(Some(sender.clone())),
                converted_from_workspace: Set(state.last.map(|(_, ws)| receivers[ws].clone())),
                conversion_status: Set(state.status.as_str().to_owned()),
                converted_timestamp: Set(state.last.map(|(t, _)| t)),
                converted_by: Set(None),
                custom_metadata: Set(None),
                // The two halves of `entity::wide` (the sum is never negative).
                lifetime_value_low: Set(state.lifetime_minor & entity::wide::LOW_MASK),
                lifetime_value_high: Set(state.lifetime_minor >> entity::wide::LOW_BITS),
                currency: Set("USD".to_owned()),
                conversion_count: Set(state.count),
                erased_at: Set(None),
            });
            let lead_id = first_lead_id + c as i64;
            lead_rows.push(lead::ActiveModel {
                id: Set(lead_id),
                contact_id: Set(id),
                created_at: Set(arrived),
                workspace_id: Set(None),
                conversion_id: Set(None),
                conversion_metadata: Set(None),
            });
            let track = |ws: &str, action: TrackingAction, counterpart: &str| {
                tracking::row(tracking::Event {
                    contact_id: ContactId(id),
                    lead_id: Some(LeadId(lead_id)),
                    workspace_id: &WorkspaceId::from_trusted(ws.to_owned()),
                    action,
                    at: arrived,
                    metadata: Some(json!({ "counterpart": counterpart })),
                })
            };
            for &ws in &state.receivers {
                tracking_rows.push(track(&sender, TrackingAction::Sent, &receivers[ws]));
                tracking_rows.push(track(&receivers[ws], TrackingAction::Received, &sender));
            }
            // The sender owns the contact (it held it first); each receiver sees its own.
            let own_state = |ws: &str, owner: bool, own: Option<&Own>| contact_state::ActiveModel {
                contact_id: Set(id),
                workspace_id: Set(ws.to_owned()),
                owner: Set(owner),
                conversion_status: Set(own
                    .map_or(ConversionStatus::Pending, |o| o.status)
                    .as_str()
                    .to_owned()),
                conversion_count: Set(own.map_or(0, |o| o.count)),
                lifetime_value_low: Set(
                    own.map_or(0, |o| o.lifetime_minor) & entity::wide::LOW_MASK
                ),
                lifetime_value_high: Set(
                    own.map_or(0, |o| o.lifetime_minor) >> entity::wide::LOW_BITS
                ),
                converted_by: Set(None),
                converted_from_workspace: Set(own.filter(|o| o.count > 0).map(|_| ws.to_owned())),
                converted_timestamp: Set(own.and_then(|o| o.last)),
                sent_from_workspace: Set(own.map(|_| sender.clone())),
                updated_at: Set(own.and_then(|o| o.last).unwrap_or(arrived)),
            };
            state_rows.push(own_state(&sender, true, None));
            for (&ws, own) in state.receivers.iter().zip(&state.own) {
                state_rows.push(own_state(&receivers[ws], false, Some(own)));
            }
        }
        tracking += tracking_rows.len() as u64;
        insert_all(db, contact_rows).await?;
        insert_all(db, lead_rows).await?;
        insert_all(db, tracking_rows).await?;
        insert_all(db, state_rows).await?;
    }

    let mut rng = Rng(stream);
    let mut written = 0;
    while written < options.conversions {
        let n = CONVERSIONS_PER_TXN.min(options.conversions - written);
        let mut batch: Vec<Generated> = (0..n)
            .map(|_| generate(&mut rng, &states, &arrivals, end))
            .collect();
        // Inserting in key order appends to the primary-key B-tree instead of splitting
        // pages all over it.
        batch.sort_unstable_by_key(|g| g.id);
        let stored: Vec<conversion::Model> = batch
            .into_iter()
            .map(|g| conversion::Model {
                id: g.id,
                contact_id: first_id + g.contact as i64,
                lead_id: None,
                workspace_id: receivers[g.workspace].clone(),
                converted_by: format!("rep_{:04}", g.rep),
                converted_at: g.at,
                conversion_type: g.kind.to_owned(),
                value_minor: g.value_minor,
                currency: "USD".to_owned(),
                custom_data: Some(json!({
                    "source": SOURCES[g.source],
                    "campaign": format!("cmp_{}", g.campaign),
                })),
                created_at: g.at,
                status: crate::domain::ConversionState::Active.as_str().to_owned(),
            })
            .collect();
        // Each with the tracking row live ingest writes beside it.
        let converted: Vec<_> = stored.iter().map(tracking::converted).collect();
        tracking += converted.len() as u64;
        let rows = stored
            .into_iter()
            .map(|c| c.into_active_model().reset_all())
            .collect();
        insert_all(db, rows).await?;
        insert_all(db, converted).await?;
        written += n;
        tracing::info!(written, total = options.conversions, "conversions seeded");
    }

    for &zone in zones {
        let txn = conn.begin().await?;
        rollup::build_zone(&txn, zone).await?;
        txn.commit().await?;
    }
    Ok(SeedReport {
        workspaces: receivers.len() as u64 + 1,
        contacts,
        conversions: options.conversions,
        tracking_rows: tracking,
    })
}

/// The history's span `[start, end)`: `days` whole UTC days ending with `end_date` (today
/// unless given), but never past `now`: a conversion dated in the future would sit on top of
/// every newest-first list. When the end is clamped the history is cut short; when even its
/// start is later than `now`, it is moved back to end at `now`.
fn history(
    end_date: Option<NaiveDate>,
    days: u32,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let day_end = end_date
        .unwrap_or_else(|| now.date_naive())
        .succ_opt()
        .unwrap_or(NaiveDate::MAX)
        .and_time(NaiveTime::MIN)
        .and_utc();
    let span = Duration::days(i64::from(days.max(1)));
    let end = day_end.min(now);
    let start = day_end - span;
    if start < end {
        (start, end)
    } else {
        (end - span, end)
    }
}

/// One conversion, drawn from the stream.
struct Generated {
    id: Uuid,
    contact: usize,
    workspace: usize,
    at: DateTime<Utc>,
    kind: &'static str,
    value_minor: Option<i64>,
    rep: u64,
    source: usize,
    campaign: u64,
}

fn generate(
    rng: &mut Rng,
    states: &[ContactState],
    arrivals: &[DateTime<Utc>],
    end: DateTime<Utc>,
) -> Generated {
    let contact = rng.below(states.len() as u64) as usize;
    let receivers = &states[contact].receivers;
    let workspace = receivers[rng.below(receivers.len() as u64) as usize];
    let arrived = arrivals[contact];
    // Within six weeks of its arrival (sooner when the history ends first), as sales cycles go.
    let window = (end - arrived).min(Duration::days(42)).num_seconds().max(1);
    let at = arrived + Duration::seconds(rng.below(window as u64) as i64);
    let kind = pick_type(rng);
    let value_minor = match kind {
        "sale" | "contract_renewal" => Some(100_000 + rng.below(4_900_000) as i64),
        "appointment" if rng.below(4) == 0 => Some(rng.below(50_000) as i64),
        _ => None,
    };
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&rng.next().to_le_bytes());
    bytes[8..].copy_from_slice(&rng.next().to_le_bytes());
    Generated {
        id: uuid::Builder::from_random_bytes(bytes).into_uuid(),
        contact,
        workspace,
        at,
        kind,
        value_minor,
        rep: rng.below(5_000),
        source: rng.below(SOURCES.len() as u64) as usize,
        campaign: rng.below(200),
    }
}

fn pick_type(rng: &mut Rng) -> &'static str {
    let total: u64 = TYPES.iter().map(|(_, w)| w).sum();
    let mut roll = rng.below(total);
    for (kind, weight) in TYPES {
        if roll < weight {
            return kind;
        }
        roll -= weight;
    }
    TYPES[0].0
}

/// Inserts the rows in one transaction, a few thousand per statement.
async fn insert_all<A>(db: &Db, rows: Vec<A>) -> AppResult<()>
where
    A: sea_orm::ActiveModelTrait + Send,
{
    let txn = db.conn().begin().await?;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(ROWS_PER_INSERT).collect();
        A::Entity::insert_many(chunk)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_past_end_date_gives_whole_days() {
        let day = NaiveDate::from_ymd_opt(2024, 11, 30);
        let (start, end) = history(day, 120, at("2026-11-29T12:00:00Z"));
        assert_eq!(end, at("2024-12-01T00:00:00Z"));
        assert_eq!(start, end - Duration::days(120));
    }

    #[test]
    fn nothing_is_generated_after_now() {
        let now = at("2026-11-29T12:00:00Z");
        for end_date in [None, NaiveDate::from_ymd_opt(2026, 11, 29)] {
            let (start, end) = history(end_date, 30, now);
            assert_eq!(end, now, "today ends now, not at midnight");
            assert_eq!(start, at("2026-10-31T00:00:00Z"));
        }
        // A history wholly in the future is moved back to end now.
        let (start, end) = history(NaiveDate::from_ymd_opt(2027, 6, 1), 2, now);
        assert_eq!((start, end), (now - Duration::days(2), now));
    }
}
