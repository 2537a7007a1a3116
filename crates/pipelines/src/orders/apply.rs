//! Process: claimed staged orders mapped and applied in one Counterpoint transaction each, a failure stored on
//! its row.

use super::*;
use cpbridge_core::order::{resolve_variation_sku, variation_item_candidates};

impl OrderPipeline {
    /// Claims due staged orders once and applies them (`cpbridge orders process`).
    ///
    /// # Errors
    /// When Counterpoint cannot be reached at all; each order's own failure is stored on its row instead.
    pub async fn process_once(self: &Arc<Self>) -> Result<ProcessReport, PipelineError> {
        let at = now();
        let lease = Duration::seconds(self.settings.lease_secs);
        let claims = self.ports.cp.claim_staged_orders(at, lease, self.settings.batch_size).await?;
        let mut report = ProcessReport { claimed: claims.len(), ..ProcessReport::default() };
        let mut writebacks = tokio::task::JoinSet::new();
        for claim in claims {
            match self.apply_claim(&claim).await? {
                Attempt::Applied { doc_id, tkt_no, backordered } => {
                    report.applied += 1;
                    report.backordered += usize::from(backordered);
                    let mut order = claim.order;
                    order.status = StagingStatus::Applied;
                    order.cp_doc_id = Some(doc_id);
                    order.cp_tkt_no = Some(tkt_no);
                    let pipeline = Arc::clone(self);
                    writebacks.spawn(async move { pipeline.write_back(&order).await });
                    // Bound the write-backs in flight; the client's own limit keeps WooCommerce calm as well.
                    while writebacks.len() >= CONCURRENCY * 2 {
                        count_writeback(&mut report, writebacks.join_next().await);
                    }
                }
                Attempt::AlreadyApplied => report.already_applied += 1,
                Attempt::ClaimLost => report.claim_lost += 1,
                Attempt::Failed => report.failed += 1,
                Attempt::Dead => report.dead += 1,
            }
        }
        while let Some(done) = writebacks.join_next().await {
            count_writeback(&mut report, Some(done));
        }
        Ok(report)
    }
}

/// How one claimed order ended this time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Attempt {
    Applied {
        doc_id: i64,
        tkt_no: String,
        backordered: bool,
    },
    AlreadyApplied,
    ClaimLost,
    /// Stored as `FAILED`, to be retried.
    Failed,
    /// Stored as `DEAD`, and an alert went out.
    Dead,
}

pub(super) fn count_writeback(report: &mut ProcessReport, done: Option<Result<bool, tokio::task::JoinError>>) {
    match done {
        Some(Ok(true)) => report.written_back += 1,
        Some(_) => report.writeback_failed += 1,
        None => {}
    }
}

impl OrderPipeline {
    /// Maps and applies one claimed order, storing any failure on its row.
    pub(super) async fn apply_claim(&self, claim: &ClaimedOrder) -> Result<Attempt, PipelineError> {
        let staged = &claim.order;
        let failure = match self.prepare(staged).await {
            Ok(doc) => match self.ports.cp.apply_staged_order(claim, &doc, now()).await {
                Ok(ApplyOutcome::Applied { doc_id, tkt_no, backordered }) => {
                    tracing::info!(woo_order = %staged.woo_order_id, doc_id, tkt_no, "applied");
                    if !backordered.is_empty() {
                        // Sold on the web beyond what Counterpoint had: someone must order stock or call the customer.
                        let lines: Vec<String> =
                            backordered.iter().map(|(item, qty)| format!("{} of {item}", qty.normalize())).collect();
                        let subject = format!("WooCommerce order {}", staged.woo_order_no);
                        let message = format!(
                            "booked as {tkt_no} (DOC_ID {doc_id}), but Counterpoint's stock does not cover {}: \
                             backordered",
                            lines.join(", ")
                        );
                        self.ports.alerts.raise_once("order_backordered", &subject, &message).await;
                    }
                    return Ok(Attempt::Applied { doc_id, tkt_no, backordered: !backordered.is_empty() });
                }
                Ok(ApplyOutcome::AlreadyApplied { .. }) => return Ok(Attempt::AlreadyApplied),
                Ok(ApplyOutcome::ClaimLost) => return Ok(Attempt::ClaimLost),
                Err(e) => ApplyFailure::Counterpoint(e),
            },
            Err(e) => e,
        };
        let reason = failure.to_string();
        let permanent = matches!(&failure, ApplyFailure::Problem(p) if p.is_permanent());
        let dead = permanent || staged.attempts >= self.settings.max_attempts;
        let retry_at = (!dead).then(|| now() + std_to_chrono(self.settings.retry.delay(staged.attempts)));
        tracing::warn!(woo_order = %staged.woo_order_id, attempt = staged.attempts, dead, "{reason}");
        if !self.ports.cp.fail_staged_order(claim, &reason, retry_at).await? {
            return Ok(Attempt::ClaimLost);
        }
        if dead {
            let subject = format!("WooCommerce order {} (staging {})", staged.woo_order_no, staged.staging_id);
            let message = if permanent {
                format!(
                    "dead at once, because retrying cannot help: {reason}. Correct the order in WooCommerce, then run \
                     `cpbridge dlq retry {}`.",
                    staged.staging_id
                )
            } else {
                format!(
                    "dead after {} attempts: {reason}. Fix the cause, then run `cpbridge dlq retry {}`.",
                    staged.attempts, staged.staging_id
                )
            };
            self.ports.alerts.raise("order_dead", &subject, &message).await;
            return Ok(Attempt::Dead);
        }
        Ok(Attempt::Failed)
    }

    /// Everything before the transaction: read the order, find the customer and the items, build the document.
    pub(super) async fn prepare(
        &self,
        staged: &StagedOrder,
    ) -> Result<cpbridge_core::order::OrderDocument, ApplyFailure> {
        let order = order_map::read_order(&staged.raw_order_json)
            .map_err(|detail| OrderProblem::Unreadable { order: format!("#{}", staged.woo_order_no), detail })?;
        let cust_no = self.resolve_customer(&order).await?;
        let skus = order_map::skus(&order);
        // A SKU that is an item number is that item (a simple product).
        let item_nos: Vec<String> = skus.iter().map(Sku::to_string).collect();
        let mut items: HashMap<Sku, _> = self
            .ports
            .cp
            .items_by_no(&item_nos)
            .await?
            .into_iter()
            .map(|item| (Sku::from(&item.item_no), item))
            .collect();
        // A SKU that is no item may be a variation: `ITEM_NO-DIM1-DIM2` of a gridded item, found among the cells it
        // has at the fulfilment location.
        let unknown: Vec<&Sku> = skus.iter().filter(|s| !items.contains_key(*s)).collect();
        let mut cells = HashMap::new();
        if !unknown.is_empty() {
            let mut parents: Vec<String> =
                unknown.iter().flat_map(|sku| variation_item_candidates(sku).map(str::to_owned)).collect();
            parents.sort();
            parents.dedup();
            let grids: Vec<_> = self
                .ports
                .cp
                .items_by_no(&parents)
                .await?
                .into_iter()
                .filter(|i| i.trk_meth.as_deref() == Some("G"))
                .collect();
            if !grids.is_empty() {
                let grid_nos: Vec<String> = grids.iter().map(|i| i.item_no.clone()).collect();
                let location = std::slice::from_ref(&self.settings.fulfilment_location);
                let mut known: HashMap<String, Vec<[String; 3]>> = HashMap::new();
                for level in self.ports.cp.cell_levels(&grid_nos, location).await? {
                    known.entry(level.item_no).or_default().push(level.dims);
                }
                for sku in &unknown {
                    if let Some((item_no, Some(cell))) = resolve_variation_sku(sku, |item| known.get(item))
                        && let Some(item) = grids.iter().find(|i| i.item_no == item_no)
                    {
                        items.insert((*sku).clone(), item.clone());
                        cells.insert((*sku).clone(), cell);
                    }
                }
            }
            // Or a cell's barcode (`products.variation_sku = "barcode"`); a missing cell row at the fulfilment
            // location is then the document's clear reason.
            let still: Vec<String> =
                unknown.iter().filter(|s| !items.contains_key(**s)).map(|s| s.to_string()).collect();
            if !still.is_empty() {
                let barcodes = self.ports.cp.cells_by_barcode(&still).await?;
                let mut grid_nos: Vec<String> = barcodes.iter().map(|b| b.item_no.clone()).collect();
                grid_nos.sort();
                grid_nos.dedup();
                let grids: HashMap<String, _> = self
                    .ports
                    .cp
                    .items_by_no(&grid_nos)
                    .await?
                    .into_iter()
                    .filter(|i| i.trk_meth.as_deref() == Some("G"))
                    .map(|i| (i.item_no.clone(), i))
                    .collect();
                for barcode in barcodes {
                    let sku = Sku::new(barcode.barcode);
                    if let Some(item) = grids.get(&barcode.item_no)
                        && !items.contains_key(&sku)
                    {
                        items.insert(sku.clone(), item.clone());
                        cells.insert(sku, barcode.dims);
                    }
                }
            }
        }
        Ok(order_map::build_document_with_cells(&order, &cust_no, &items, &cells, &self.settings)?)
    }

    /// The Counterpoint customer of an order: the guest customer for guests; for a registered customer, the
    /// `AR_CUST` row with the same e-mail, created when there is none.
    pub(super) async fn resolve_customer(&self, order: &Order) -> Result<CustNo, ApplyFailure> {
        let label = order_map::order_label(order);
        if order.customer_id == 0 {
            let guest = &self.settings.guest_customer;
            return match self.ports.cp.customer(guest).await? {
                Some(_) => Ok(guest.clone()),
                None => Err(OrderProblem::Customer {
                    order: label,
                    detail: format!(
                        "the guest customer {guest:?} (orders.guest_customer) is not in AR_CUST; create it in \
                         Counterpoint or change the setting"
                    ),
                }
                .into()),
            };
        }
        let Some(email) = order_map::customer_email(order) else {
            return Err(OrderProblem::Customer {
                order: label,
                detail: format!("customer {} has no billing e-mail to match in AR_CUST", order.customer_id),
            }
            .into());
        };
        let scheme =
            CustNoScheme { prefix: self.settings.customer_prefix.clone(), width: self.settings.customer_digits };
        let customer = order_map::new_customer(order, &self.settings);
        let ship_to = order_map::ship_address(order);
        let found = crate::customers::find_or_create(
            self.ports.cp.as_ref(),
            &email,
            &customer,
            ship_to.as_ref(),
            &scheme,
            now(),
        )
        .await;
        let (cust_no, _created) = found.map_err(|e| {
            if e.is_retryable() {
                return ApplyFailure::Counterpoint(e);
            }
            ApplyFailure::Problem(OrderProblem::Customer {
                order: label.clone(),
                detail: format!("creating AR_CUST for {email}: {e}"),
            })
        })?;
        Ok(cust_no)
    }
}
