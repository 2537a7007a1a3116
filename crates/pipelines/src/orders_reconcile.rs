//! The orders reconcile: every WooCommerce order since the cut-over that should be in Counterpoint, against the
//! staging table and the open documents on cpbridge's own station. [`compare`] is pure; the order pipeline's
//! `reconcile_orders` reads both sides in pages and acts on what it finds (stages what is missing, alerts once per
//! problem).

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, NaiveDateTime};
use cpbridge_core::ids::{StagingId, WooOrderId};
use cpbridge_core::staging::{BookedDocument, StagingHead, StagingStatus};
use cpbridge_woo::model::Order;
use rust_decimal::Decimal;
use serde::Serialize;

use futures_util::TryStreamExt as _;

use crate::jobs::{PipelineError, now};
use crate::order_map::{self, IntakeDecision};
use crate::orders::{OrderPipeline, Taken};
use crate::settings::OrderSettings;

/// The fields of an order that the reconcile lists (`_fields`), enough for [`order_map::intake_decision`].
pub const LISTED_FIELDS: &str = "id,number,status,date_created_gmt,date_modified_gmt,date_paid_gmt,total,refunds";

/// What is wrong with one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscrepancyKind {
    /// It should be in Counterpoint, and nothing has staged it.
    Missing,
    /// Staged, and dead: it is in the dead-letter queue with its reason.
    Dead,
    /// More than one document on cpbridge's station carries its number.
    Doubled,
    /// Booked in Counterpoint, but cancelled, refunded, failed or trashed in WooCommerce.
    CancelledInStore,
    /// Booked in Counterpoint, and the WooCommerce order no longer exists.
    GoneFromStore,
    /// Booked with another total than WooCommerce now has, with no refund to explain it.
    TotalDiffers,
    /// Refunded in WooCommerce after it was booked: raised once, and the shop books the return in Counterpoint.
    RefundedAfterApply,
}

impl DiscrepancyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DiscrepancyKind::Missing => "missing",
            DiscrepancyKind::Dead => "dead",
            DiscrepancyKind::Doubled => "doubled",
            DiscrepancyKind::CancelledInStore => "cancelled_in_store",
            DiscrepancyKind::GoneFromStore => "gone_from_store",
            DiscrepancyKind::TotalDiffers => "total_differs",
            DiscrepancyKind::RefundedAfterApply => "refunded_after_apply",
        }
    }

    /// Whether it makes the reconcile fail. A refund after apply is the shop's to book in Counterpoint; it is
    /// listed and was raised when it was seen, but it is not a fault of the connection.
    pub fn is_wrong(self) -> bool {
        self != DiscrepancyKind::RefundedAfterApply
    }
}

/// One order that does not agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discrepancy {
    pub kind: DiscrepancyKind,
    pub woo_order_id: WooOrderId,
    pub woo_order_no: String,
    pub detail: String,
}

/// What one reconcile found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrdersReconcileReport {
    pub since: Option<NaiveDate>,
    /// WooCommerce orders since the cut-over that should be in Counterpoint.
    pub in_store: usize,
    /// Of those, the ones booked in Counterpoint.
    pub in_counterpoint: usize,
    /// Of those, the ones staged and waiting to be applied.
    pub queued: usize,
    /// Not staged yet, but changed within the grace period: a webhook or the poll is most likely on its way.
    pub in_flight: usize,
    /// Ended by an operator (`cpbridge dlq discard`), so never booked.
    pub discarded: usize,
    /// Rows of the system before cpbridge (`LEGACY`), not booked by cpbridge until an operator adopts them.
    pub legacy: usize,
    pub missing: usize,
    pub dead: usize,
    pub doubled: usize,
    pub cancelled_in_store: usize,
    pub gone_from_store: usize,
    pub total_differs: usize,
    pub refunded_after_apply: usize,
    /// Missing orders staged by this run (`--repair`, and always in the daemon).
    pub repaired: usize,
    pub problems: Vec<Discrepancy>,
}

impl OrdersReconcileReport {
    /// The report as the run history keeps it: every count, and the first problems (all are in the report itself).
    #[must_use]
    pub fn for_the_record(&self) -> OrdersReconcileReport {
        let mut kept = self.clone();
        kept.problems.truncate(PROBLEMS_RECORDED);
        kept
    }

    /// True when nothing is wrong (a refund after apply is listed, but not wrong).
    pub fn is_clean(&self) -> bool {
        self.problems.iter().all(|p| !p.kind.is_wrong())
    }

    fn add(&mut self, kind: DiscrepancyKind, woo_order_id: WooOrderId, woo_order_no: &str, detail: String) {
        let count = match kind {
            DiscrepancyKind::Missing => &mut self.missing,
            DiscrepancyKind::Dead => &mut self.dead,
            DiscrepancyKind::Doubled => &mut self.doubled,
            DiscrepancyKind::CancelledInStore => &mut self.cancelled_in_store,
            DiscrepancyKind::GoneFromStore => &mut self.gone_from_store,
            DiscrepancyKind::TotalDiffers => &mut self.total_differs,
            DiscrepancyKind::RefundedAfterApply => &mut self.refunded_after_apply,
        };
        *count += 1;
        self.problems.push(Discrepancy { kind, woo_order_id, woo_order_no: woo_order_no.to_owned(), detail });
    }
}

fn number_of(order: &Order) -> String {
    if order.number.is_empty() { order.id.to_string() } else { order.number.clone() }
}

/// The booked orders (`APPLIED` rows of orders created since the cut-over) that the listing did not show: the
/// caller fetches each one, because a trashed order is not listed and a deleted one answers 404.
pub fn unlisted_applied<'a>(listed: &[Order], staged: &'a [StagingHead], cutover: NaiveDate) -> Vec<&'a StagingHead> {
    let seen: HashSet<WooOrderId> = listed.iter().map(|o| o.id).collect();
    staged
        .iter()
        .filter(|h| h.status == StagingStatus::Applied && !seen.contains(&h.woo_order_id))
        .filter(|h| h.ord_dat.is_none_or(|at| at.date() >= cutover))
        .collect()
}

/// Compares the store's orders (the listing, plus the unlisted ones fetched one by one) with the staging rows and
/// the documents on cpbridge's station. `gone` holds the WooCommerce ids that answered 404.
///
/// An order not staged yet that changed after `in_flight_after` is counted in flight, not missing: the daemon's
/// run passes its grace period, so that an order placed while it runs does not raise a false alarm.
pub fn compare(
    store_orders: &[Order],
    gone: &HashSet<WooOrderId>,
    staged: &[StagingHead],
    documents: &[BookedDocument],
    settings: &OrderSettings,
    cutover: NaiveDate,
    in_flight_after: Option<NaiveDateTime>,
) -> OrdersReconcileReport {
    let mut report = OrdersReconcileReport { since: Some(cutover), ..OrdersReconcileReport::default() };
    let rows: HashMap<WooOrderId, &StagingHead> = staged.iter().map(|h| (h.woo_order_id, h)).collect();
    let mut docs_by_number: HashMap<&str, Vec<&BookedDocument>> = HashMap::new();
    for doc in documents {
        if let Some(number) = doc.cust_po_no.as_deref() {
            docs_by_number.entry(number.trim()).or_default().push(doc);
        }
    }
    let open_doc: HashMap<i64, &BookedDocument> = documents.iter().map(|d| (d.doc_id, d)).collect();
    for order in store_orders {
        let number = number_of(order);
        let row = rows.get(&order.id).copied();
        let decision = order_map::intake_decision(order, settings, cutover);
        if decision == IntakeDecision::Stage {
            report.in_store += 1;
        }
        let in_flight = in_flight_after.is_some_and(|after| order.date_modified_gmt.is_none_or(|at| at > after));
        match (decision, row) {
            (IntakeDecision::Stage, None) if in_flight => report.in_flight += 1,
            (IntakeDecision::Stage, None) => report.add(
                DiscrepancyKind::Missing,
                order.id,
                &number,
                format!("{} in WooCommerce{}, and not staged", order.status, paid_words(order)),
            ),
            (IntakeDecision::Stage, Some(row)) => match row.status {
                StagingStatus::Cancelled => report.add(
                    DiscrepancyKind::Missing,
                    order.id,
                    &number,
                    format!("taken out of staging as cancelled, but {} in WooCommerce now", order.status),
                ),
                StagingStatus::Dead => report.add(
                    DiscrepancyKind::Dead,
                    order.id,
                    &number,
                    format!("staging {} is DEAD (`cpbridge dlq show {}`)", row.staging_id, row.staging_id),
                ),
                StagingStatus::Applied => {
                    report.in_counterpoint += 1;
                    let booked =
                        row.cp_doc_id.and_then(|id| open_doc.get(&id)).and_then(|d| d.tot).unwrap_or(row.tot_amt);
                    let refunded: Decimal = order.refunds.iter().filter_map(|r| r.total).map(|t| t.abs()).sum();
                    let net = order.total.unwrap_or_default() - refunded;
                    if (booked - net).abs() >= Decimal::new(1, 2) {
                        let kind = if refunded > Decimal::ZERO {
                            DiscrepancyKind::RefundedAfterApply
                        } else {
                            DiscrepancyKind::TotalDiffers
                        };
                        let detail = format!(
                            "booked {booked} as DOC_ID {}; WooCommerce has {net}{}",
                            row.cp_doc_id.map_or_else(|| "?".to_owned(), |d| d.to_string()),
                            if refunded > Decimal::ZERO {
                                format!(" after {refunded} refunded")
                            } else {
                                String::new()
                            }
                        );
                        report.add(kind, order.id, &number, detail);
                    }
                }
                StagingStatus::Pending | StagingStatus::Applying | StagingStatus::Failed => report.queued += 1,
                // An operator ended it (`dlq discard`): not missing, and not booked.
                StagingStatus::Discarded => report.discarded += 1,
                // The old system's row, waiting for an operator to adopt it (`dlq retry`).
                StagingStatus::Legacy => report.legacy += 1,
            },
            (IntakeDecision::Cancel, Some(row))
                // A document that left Counterpoint's open documents unexplained was most likely cancelled there too
                // (its own alert went out).
                if row.status == StagingStatus::Applied
                    && !matches!(row.cp_doc_state.as_deref(), Some("CANCELLED" | "UNKNOWN")) =>
            {
                report.add(
                    DiscrepancyKind::CancelledInStore,
                    order.id,
                    &number,
                    format!(
                        "{} in WooCommerce, but booked as DOC_ID {} (ticket {}); cancel it in Counterpoint",
                        order.status,
                        row.cp_doc_id.map_or_else(|| "?".to_owned(), |d| d.to_string()),
                        row.cp_tkt_no.as_deref().unwrap_or("?")
                    ),
                );
            }
            _ => {}
        }
        // Counted apart from staging: a document of the old system, or one keyed by hand, doubles a web order too.
        let mut doc_ids: Vec<i64> =
            docs_by_number.get(number.as_str()).map(|d| d.iter().map(|d| d.doc_id).collect()).unwrap_or_default();
        if let Some(id) = row.and_then(|r| r.cp_doc_id)
            && !doc_ids.contains(&id)
        {
            doc_ids.push(id);
        }
        if doc_ids.len() > 1 {
            doc_ids.sort_unstable();
            let list: Vec<String> = doc_ids.iter().map(i64::to_string).collect();
            report.add(
                DiscrepancyKind::Doubled,
                order.id,
                &number,
                format!("{} documents carry it: DOC_ID {}", doc_ids.len(), list.join(", ")),
            );
        }
    }
    for row in staged.iter().filter(|r| r.status == StagingStatus::Applied && gone.contains(&r.woo_order_id)) {
        report.add(
            DiscrepancyKind::GoneFromStore,
            row.woo_order_id,
            &row.woo_order_no,
            format!(
                "the WooCommerce order no longer exists, but it is booked as DOC_ID {}",
                row.cp_doc_id.map_or_else(|| "?".to_owned(), |d| d.to_string())
            ),
        );
    }
    report
}

/// Rows read from Counterpoint per statement.
const PAGE: usize = 1_000;
/// Problems kept in the recorded run (all of them are in the returned report).
const PROBLEMS_RECORDED: usize = 20;

impl OrderPipeline {
    /// Compares every WooCommerce order since `since` (default: the cut-over) with Counterpoint, stages the missing
    /// ones when `repair` is set, and raises one alert per problem (ever, not hourly). Orders changed within `grace`
    /// that are not staged yet count as in flight.
    ///
    /// # Errors
    /// When WooCommerce, Counterpoint or the state store cannot be read.
    pub async fn reconcile_orders(
        &self,
        since: Option<NaiveDate>,
        repair: bool,
        grace: chrono::Duration,
    ) -> Result<OrdersReconcileReport, PipelineError> {
        let in_flight_after = (grace > chrono::Duration::zero()).then(|| now() - grace);
        let cutover = match since {
            Some(date) => date,
            None => self.cutover().await?,
        };
        let query = vec![
            ("after".to_owned(), cutover.and_time(chrono::NaiveTime::MIN).format("%Y-%m-%dT%H:%M:%S").to_string()),
            ("dates_are_gmt".to_owned(), "true".to_owned()),
            ("status".to_owned(), "any".to_owned()),
            ("orderby".to_owned(), "id".to_owned()),
            ("order".to_owned(), "asc".to_owned()),
            ("_fields".to_owned(), LISTED_FIELDS.to_owned()),
        ];
        let mut listed: Vec<Order> = self.ports.woo.list("/orders", query).try_collect().await?;
        let staged = self.all_staging_heads().await?;
        let documents = self.station_documents().await?;
        let mut gone = HashSet::new();
        for head in unlisted_applied(&listed, &staged, cutover).into_iter().cloned().collect::<Vec<_>>() {
            let id = head.woo_order_id;
            match self.ports.woo.order(id).await {
                Ok(order) => listed.push(order),
                Err(e) if e.is_not_found() => {
                    gone.insert(head.woo_order_id);
                }
                Err(e) => return Err(e.into()),
            }
        }
        let mut report = compare(&listed, &gone, &staged, &documents, &self.settings, cutover, in_flight_after);
        if repair {
            for problem in report.problems.iter().filter(|p| p.kind == DiscrepancyKind::Missing) {
                match self.take_order(problem.woo_order_id).await? {
                    Taken::Staged | Taken::Restaged => report.repaired += 1,
                    other => tracing::warn!(woo_order = %problem.woo_order_id, ?other, "missing order not staged"),
                }
            }
        }
        for problem in report.problems.iter().filter(|p| p.kind.is_wrong()) {
            let kind = format!("orders_{}", problem.kind.as_str());
            let subject = format!("WooCommerce order {}", problem.woo_order_no);
            // Once per problem: a problem that stays is on the status page, not in an hourly alert.
            let mut message = problem.detail.clone();
            if problem.kind == DiscrepancyKind::Missing {
                message.push_str(if repair {
                    "; staged now"
                } else {
                    "; `cpbridge reconcile orders --repair` stages it"
                });
            }
            self.ports.alerts.raise_once(&kind, &subject, &message).await;
        }
        Ok(report)
    }

    async fn all_staging_heads(&self) -> Result<Vec<StagingHead>, PipelineError> {
        every_page(
            "USER_ORDER_STAGING",
            StagingId::new(0),
            |h: &StagingHead| h.staging_id,
            |after| self.ports.cp.staging_heads(after, PAGE),
        )
        .await
    }

    async fn station_documents(&self) -> Result<Vec<BookedDocument>, PipelineError> {
        let station = &self.settings.station_id;
        let fetch = |after| self.ports.cp.station_documents(station, after, PAGE);
        every_page("PS_DOC_HDR", i64::MIN, |d: &BookedDocument| d.doc_id, fetch).await
    }
}

/// Reads a keyset-paged table to the end: each page starts after the last key of the one before. A page that does
/// not move the key is an error naming the key, never a loop.
async fn every_page<T, K, Fut>(
    what: &str,
    start: K,
    key: impl Fn(&T) -> K,
    fetch: impl Fn(K) -> Fut,
) -> Result<Vec<T>, PipelineError>
where
    K: Copy + Ord + std::fmt::Display,
    Fut: std::future::Future<Output = Result<Vec<T>, cpbridge_counterpoint::CpError>>,
{
    let mut rows = Vec::new();
    let mut after = start;
    loop {
        let page = fetch(after).await?;
        let Some(last) = page.last().map(&key) else { break };
        if last <= after {
            return Err(cpbridge_counterpoint::CpError::Sql {
                context: format!("reading {what} after key {after}"),
                detail: format!("the page ended at key {last}, which does not move past it"),
                code: None,
            }
            .into());
        }
        after = last;
        let full = page.len() >= PAGE;
        rows.extend(page);
        if !full {
            break;
        }
    }
    Ok(rows)
}

fn paid_words(order: &Order) -> &'static str {
    if order.date_paid_gmt.is_some() { " and paid" } else { "" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDateTime;
    use rust_decimal_macros::dec;
    use serde_json::json;

    fn order(id: u64, status: &str, paid: bool, total: &str, refunds: serde_json::Value) -> Order {
        serde_json::from_value(json!({
            "id": id, "number": id.to_string(), "status": status, "total": total, "refunds": refunds,
            "date_created_gmt": "2026-12-02T10:00:00",
            "date_paid_gmt": if paid { json!("2026-12-02T10:00:05") } else { json!(null) },
        }))
        .expect("order")
    }

    fn head(staging_id: i64, woo: u64, status: StagingStatus, tot: Decimal, doc: Option<i64>) -> StagingHead {
        StagingHead {
            staging_id: StagingId::new(staging_id),
            woo_order_id: WooOrderId::try_from(woo).expect("id"),
            woo_order_no: woo.to_string(),
            status,
            tot_amt: tot,
            ord_dat: NaiveDateTime::parse_from_str("2026-12-02T10:00:00", "%Y-%m-%dT%H:%M:%S").ok(),
            cp_doc_id: doc,
            cp_tkt_no: doc.map(|d| format!("W1-{d}")),
            cp_doc_state: None,
        }
    }

    fn doc(doc_id: i64, number: &str, tot: Decimal) -> BookedDocument {
        BookedDocument { doc_id, tkt_no: format!("W1-{doc_id}"), cust_po_no: Some(number.into()), tot: Some(tot) }
    }

    #[test]
    fn every_kind_of_disagreement_is_found_once() {
        let cutover = NaiveDate::from_ymd_opt(2026, 12, 1).expect("date");
        let settings = OrderSettings::default();
        let store = vec![
            order(1, "processing", true, "10.00", json!([])), // booked, agrees
            order(2, "completed", true, "20.00", json!([])),  // cash on delivery, never staged
            order(3, "processing", true, "30.00", json!([])), // dead
            order(4, "cancelled", true, "40.00", json!([])),  // booked, then cancelled in the store
            order(5, "processing", true, "50.00", json!([{"id": 90, "total": "-5.00"}])), // refunded after apply
            order(6, "processing", true, "60.00", json!([])), // booked with another total
            order(7, "processing", true, "70.00", json!([])), // two documents
            order(8, "pending", false, "80.00", json!([])),   // not paid: nothing to book
            order(9, "processing", true, "90.00", json!([])), // queued
        ];
        let staged = vec![
            head(1, 1, StagingStatus::Applied, dec!(10), Some(101)),
            head(3, 3, StagingStatus::Dead, dec!(30), None),
            head(4, 4, StagingStatus::Applied, dec!(40), Some(104)),
            head(5, 5, StagingStatus::Applied, dec!(50), Some(105)),
            head(6, 6, StagingStatus::Applied, dec!(61), Some(106)),
            head(7, 7, StagingStatus::Applied, dec!(70), Some(107)),
            head(9, 9, StagingStatus::Pending, dec!(90), None),
            head(10, 10, StagingStatus::Applied, dec!(100), Some(110)), // deleted in the store
        ];
        let docs =
            vec![doc(101, "1", dec!(10)), doc(106, "6", dec!(61)), doc(107, "7", dec!(70)), doc(117, "7", dec!(70))];
        assert_eq!(
            unlisted_applied(&store, &staged, cutover).iter().map(|h| h.woo_order_id.get()).collect::<Vec<_>>(),
            [10]
        );
        let gone = HashSet::from([WooOrderId::try_from(10_u64).expect("id")]);
        let report = compare(&store, &gone, &staged, &docs, &settings, cutover, None);
        let kinds: Vec<(DiscrepancyKind, u64)> =
            report.problems.iter().map(|p| (p.kind, p.woo_order_id.get())).collect();
        assert_eq!(
            kinds,
            [
                (DiscrepancyKind::Missing, 2),
                (DiscrepancyKind::Dead, 3),
                (DiscrepancyKind::CancelledInStore, 4),
                (DiscrepancyKind::RefundedAfterApply, 5),
                (DiscrepancyKind::TotalDiffers, 6),
                (DiscrepancyKind::Doubled, 7),
                (DiscrepancyKind::GoneFromStore, 10),
            ]
        );
        assert_eq!((report.in_store, report.in_counterpoint, report.queued), (7, 4, 1));
        assert!(!report.is_clean());
        assert!(report.problems[5].detail.contains("DOC_ID 107, 117"), "{}", report.problems[5].detail);

        let only_refund = compare(&store[4..5], &HashSet::new(), &staged, &docs, &settings, cutover, None);
        assert!(only_refund.is_clean(), "a refund after apply is listed, not wrong: {only_refund:?}");

        // Within the grace period, an order not staged yet is in flight, not missing.
        let modified = NaiveDateTime::parse_from_str("2026-12-02T10:00:05", "%Y-%m-%dT%H:%M:%S").expect("time");
        let mut fresh = store[1].clone();
        fresh.date_modified_gmt = Some(modified);
        let soon = compare(
            &[fresh.clone()],
            &HashSet::new(),
            &staged,
            &docs,
            &settings,
            cutover,
            Some(modified - chrono::Duration::seconds(1)),
        );
        assert_eq!((soon.missing, soon.in_flight), (0, 1));
        let later = compare(&[fresh], &HashSet::new(), &staged, &docs, &settings, cutover, Some(modified));
        assert_eq!((later.missing, later.in_flight), (1, 0));
    }
}
