//! Intake and pull: a WooCommerce order staged (or cancelled, or its refunds noted) as WooCommerce has it now.

use super::*;

impl OrderPipeline {
    /// Stages or cancels one order, as WooCommerce has it now.
    pub(super) async fn take(&self, order: &Order, raw: &str) -> Result<Taken, PipelineError> {
        match order_map::intake_decision(order, &self.settings, self.cutover().await?) {
            IntakeDecision::Stage => {
                let staged = order_map::staged_order(order, raw.to_owned());
                match self.ports.cp.stage_order(&staged, now()).await? {
                    StageOutcome::Staged { staging_id } => {
                        tracing::info!(woo_order = %order.id, %staging_id, "staged");
                        self.forget_pushed_stock(&staged).await?;
                        self.staged.notify_one();
                        Ok(Taken::Staged)
                    }
                    StageOutcome::AlreadyStaged { staging_id } => self.take_again(staging_id, order, &staged).await,
                }
            }
            IntakeDecision::Cancel => {
                let taken = self.cancel(order.id, order.status.as_str()).await?;
                if taken == Taken::CancelledTooLate
                    && let Some(row) = self.ports.cp.staged_order_by_woo_id(order.id).await?
                {
                    self.note_refunds_after_apply(&row, order).await?;
                }
                Ok(taken)
            }
            IntakeDecision::Ignore => Ok(Taken::Ignored),
            IntakeDecision::BeforeCutover => Ok(Taken::BeforeCutover),
        }
    }

    /// An order that was staged before: restaged when it changed and is not applied yet (so it is never applied
    /// from a stale copy), its new refunds kept and raised when it is applied.
    /// WooCommerce took (or, for a changed order, moved) the order's quantities on its own stock, below 0 where it
    /// allows backorders: the value last pushed no longer says what the store shows, so the next stock event for
    /// these SKUs pushes again, even when Counterpoint's figure ends where it was.
    pub(super) async fn forget_pushed_stock(&self, staged: &NewStagedOrder) -> Result<(), PipelineError> {
        let skus: Vec<String> = staged.lines.iter().map(|l| l.sku.to_string()).collect();
        Ok(self.ports.store.delete_sync_records(crate::catalog::STOCK_RECORDS, &skus).await?)
    }

    pub(super) async fn take_again(
        &self,
        staging_id: StagingId,
        order: &Order,
        staged: &NewStagedOrder,
    ) -> Result<Taken, PipelineError> {
        let Some(row) = self.ports.cp.staged_order(staging_id).await? else { return Ok(Taken::AlreadyStaged) };
        if matches!(row.status, StagingStatus::Discarded | StagingStatus::Legacy) {
            // An operator ended it, or it is the old system's until an operator adopts it: a later change in
            // WooCommerce does not stage it.
            return Ok(Taken::AlreadyStaged);
        }
        if row.status == StagingStatus::Applied {
            return self.take_applied(&row, order).await;
        }
        let stored = order_map::read_order(&row.raw_order_json).ok();
        let changed = row.status == StagingStatus::Cancelled
            || stored.is_none_or(|s| order_map::booking_view(&s) != order_map::booking_view(order));
        if !changed {
            return Ok(Taken::AlreadyStaged);
        }
        if self.ports.cp.restage_order(staging_id, staged).await? {
            tracing::info!(woo_order = %order.id, %staging_id, was = %row.status, "restaged: the order changed");
            self.forget_pushed_stock(staged).await?;
            self.staged.notify_one();
            return Ok(Taken::Restaged);
        }
        // Applied in the meantime: from here on the change is a change to a booked order.
        match self.ports.cp.staged_order(staging_id).await? {
            Some(row) if row.status == StagingStatus::Applied => self.take_applied(&row, order).await,
            _ => Ok(Taken::AlreadyStaged),
        }
    }

    /// A booked order seen again: only its new refunds matter.
    pub(super) async fn take_applied(&self, row: &StagedOrder, order: &Order) -> Result<Taken, PipelineError> {
        let kept = self.note_refunds_after_apply(row, order).await?;
        Ok(if kept > 0 { Taken::RefundedAfterApply } else { Taken::AlreadyStaged })
    }

    /// Keeps each refund of an applied order that was not kept before, and raises it: Counterpoint's document still
    /// holds the full order, and only the shop can book the return there. Returns how many were new.
    pub(super) async fn note_refunds_after_apply(
        &self,
        row: &StagedOrder,
        order: &Order,
    ) -> Result<usize, PipelineError> {
        // The refunds made before apply were booked (net); only the later ones are the shop's to book.
        let booked: Vec<WooOrderId> = order_map::read_order(&row.raw_order_json)
            .map(|stored| stored.refunds.iter().map(|r| r.id).collect())
            .unwrap_or_default();
        let mut new = 0;
        for refund in order.refund_details.iter().filter(|r| !booked.contains(&r.id)) {
            let record = RefundRecord {
                woo_order_id: row.woo_order_id,
                woo_order_no: row.woo_order_no.clone(),
                refund_id: refund.id.as_i64(),
                amount: refund.amount.unwrap_or_default().to_string(),
                reason: refund.reason.clone(),
                lines: order_map::refund_lines_text(order, refund),
                cp_doc_id: row.cp_doc_id,
                cp_tkt_no: row.cp_tkt_no.clone(),
                recorded_at: now(),
            };
            if !self.ports.store.record_refund(&record).await? {
                continue;
            }
            new += 1;
            let subject = format!("WooCommerce order {} refund {}", row.woo_order_no, refund.id);
            let lines = if record.lines.is_empty() { "an amount only".to_owned() } else { record.lines.clone() };
            let message = format!(
                "{} refunded in WooCommerce ({lines}{}) after the order was booked as Counterpoint order DOC_ID {} \
                 (ticket {}). Counterpoint still holds the full order and its deposit: book the return there (lower \
                 the order's lines and deposit, or return the items on the release ticket).",
                record.amount,
                if record.reason.is_empty() { String::new() } else { format!("; reason: {}", record.reason) },
                row.cp_doc_id.map_or_else(|| "?".to_owned(), |d| d.to_string()),
                row.cp_tkt_no.as_deref().unwrap_or("?"),
            );
            tracing::warn!(woo_order = %row.woo_order_id, refund = %refund.id, "{message}");
            self.ports.alerts.raise("refund_after_apply", &subject, &message).await;
        }
        Ok(new)
    }

    pub(super) async fn cancel(&self, woo_order_id: WooOrderId, why: &str) -> Result<Taken, PipelineError> {
        let id = woo_order_id;
        let reason = format!("the order is {why} in WooCommerce");
        if self.ports.cp.cancel_staged_order(id, &reason).await? {
            tracing::info!(woo_order = %woo_order_id, "taken out of staging: {reason}");
            return Ok(Taken::Cancelled);
        }
        match self.ports.cp.staged_order_by_woo_id(id).await? {
            Some(row) if row.status == StagingStatus::Applied && row.cp_doc_state.is_none() => {
                let doc = row.cp_doc_id.map_or_else(String::new, |d| format!(" DOC_ID {d}"));
                let message = format!(
                    "{reason}, but it is already Counterpoint order{doc} (ticket {}); cancel it in Counterpoint",
                    row.cp_tkt_no.as_deref().unwrap_or("?")
                );
                // Every poll sees the order again: it is counted (and alerted) the first time only.
                let subject = format!("WooCommerce order {woo_order_id}");
                let first = self.ports.alerts.raise_once("cancelled_after_apply", &subject, &message).await;
                Ok(if first { Taken::CancelledTooLate } else { Taken::Ignored })
            }
            Some(_) | None => Ok(Taken::Ignored),
        }
    }

    /// Fetches one order, with the details of its refunds when it has any (the order shows only their totals).
    pub(super) async fn fetch_order(&self, woo_order_id: WooOrderId) -> Result<Fetched, PipelineError> {
        match self.ports.woo.get::<Box<RawValue>>(&format!("/orders/{woo_order_id}"), &[]).await {
            Ok(raw) => self.with_refund_details(woo_order_id, raw.get().to_owned()).await,
            Err(e) if e.is_not_found() => Ok(Fetched::Gone),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn with_refund_details(
        &self,
        woo_order_id: WooOrderId,
        raw: String,
    ) -> Result<Fetched, PipelineError> {
        let order = match order_map::read_order(&raw) {
            Ok(order) => order,
            Err(e) => return Ok(Fetched::Unreadable(raw, e)),
        };
        if order.refunds.is_empty() {
            return Ok(Fetched::Order(Box::new(order), raw));
        }
        let refunds: Vec<serde_json::Value> =
            self.ports.woo.list(&format!("/orders/{woo_order_id}/refunds"), Vec::new()).try_collect().await?;
        let raw = order_map::with_refund_details(&raw, refunds);
        Ok(match order_map::read_order(&raw) {
            Ok(order) => Fetched::Order(Box::new(order), raw),
            Err(e) => Fetched::Unreadable(raw, e),
        })
    }

    /// Fetches one order fresh and stages or cancels it.
    ///
    /// # Errors
    /// When WooCommerce or Counterpoint cannot be reached; the caller retries.
    pub async fn take_order(&self, woo_order_id: WooOrderId) -> Result<Taken, PipelineError> {
        let fetched = self.fetch_order(woo_order_id).await?;
        self.take_fetched(woo_order_id, fetched).await
    }

    pub(super) async fn take_fetched(
        &self,
        woo_order_id: WooOrderId,
        fetched: Fetched,
    ) -> Result<Taken, PipelineError> {
        match fetched {
            Fetched::Order(order, raw) => self.take(&order, &raw).await,
            Fetched::Gone => {
                self.cancel(woo_order_id, "deleted").await?;
                Ok(Taken::Gone)
            }
            Fetched::Unreadable(raw, e) => {
                // Kept, not dropped: staged as it is, it goes DEAD with the parse error for an operator to see.
                tracing::warn!(woo_order = %woo_order_id, error = %e, "WooCommerce sent an order cpbridge cannot read");
                let staged = order_map::unreadable_staged_order(woo_order_id, raw);
                Ok(match self.ports.cp.stage_order(&staged, now()).await? {
                    StageOutcome::Staged { .. } => {
                        self.staged.notify_one();
                        Taken::Staged
                    }
                    StageOutcome::AlreadyStaged { .. } => Taken::AlreadyStaged,
                })
            }
        }
    }

    /// Works through the due webhook deliveries once.
    ///
    /// # Errors
    /// When the state store fails; an unreachable WooCommerce or Counterpoint only defers deliveries.
    pub async fn intake_once(&self) -> Result<IntakeReport, PipelineError> {
        let at = now();
        let due = self.ports.store.due_deliveries(at, 500).await?;
        let mut report = IntakeReport { deliveries: due.len(), ..IntakeReport::default() };
        // Coalesce: many deliveries about one order need one fetch.
        let mut by_order: BTreeMap<WooOrderId, Vec<(i64, i64)>> = BTreeMap::new();
        let mut skipped = Vec::new();
        for entry in &due {
            let id = entry.delivery.resource_id.and_then(|id| WooOrderId::try_from(id).ok());
            match id {
                Some(id) if entry.delivery.topic.starts_with("order.") => {
                    by_order.entry(id).or_default().push((entry.inbox_id, entry.attempts));
                }
                _ => skipped.push(entry.inbox_id),
            }
        }
        if !skipped.is_empty() {
            report.skipped = skipped.len();
            self.ports.store.finish_deliveries(&skipped, "skipped: not about an order, or no id", at).await?;
        }
        let results: Vec<(WooOrderId, Result<Taken, PipelineError>)> =
            futures_util::stream::iter(by_order.keys().copied())
                .map(|id| async move { (id, self.take_order(id).await) })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        for (id, result) in results {
            let entries = by_order.remove(&id).unwrap_or_default();
            let ids: Vec<i64> = entries.iter().map(|(inbox_id, _)| *inbox_id).collect();
            match result {
                Ok(taken) => {
                    report.count(taken);
                    self.ports.store.finish_deliveries(&ids, taken.label(), now()).await?;
                }
                Err(e) => {
                    tracing::warn!(woo_order = %id, error = %e, "order deferred");
                    for (inbox_id, attempts) in entries {
                        if attempts + 1 >= DELIVERY_ATTEMPTS {
                            let outcome = format!("gave up, left to the poll: {e}");
                            self.ports.store.finish_deliveries(&[inbox_id], &outcome, now()).await?;
                        } else {
                            let retry_at = now() + std_to_chrono(self.settings.woo_retry.delay(attempts + 1));
                            self.ports.store.retry_delivery(inbox_id, &e.to_string(), retry_at).await?;
                        }
                        report.deferred += 1;
                    }
                }
            }
        }
        Ok(report)
    }

    /// Lists the orders modified since the last poll and stages or cancels each (`cpbridge orders pull`).
    ///
    /// # Errors
    /// When WooCommerce, Counterpoint or the state store fails; the watermark then stays, so nothing is skipped.
    pub async fn pull_once(&self) -> Result<IntakeReport, PipelineError> {
        // The first poll reaches back to the cut-over, so that orders taken while cpbridge was being set up count.
        let cutover = self.cutover().await?.and_time(chrono::NaiveTime::MIN);
        let since = match self.ports.store.watermark(PULL_WATERMARK).await? {
            Some(text) => NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S").unwrap_or(cutover),
            None => cutover,
        };
        let query = vec![
            ("modified_after".to_owned(), (since - PULL_OVERLAP).format("%Y-%m-%dT%H:%M:%S").to_string()),
            ("dates_are_gmt".to_owned(), "true".to_owned()),
            // By id, so an order modified while the listing runs cannot shift another out of the page window.
            ("orderby".to_owned(), "id".to_owned()),
            ("order".to_owned(), "asc".to_owned()),
        ];
        let mut listing = self.ports.woo.list::<Box<RawValue>>("/orders", query);
        let mut report = IntakeReport::default();
        let mut newest = since;
        while let Some(raw) = listing.try_next().await? {
            let head: serde_json::Value = serde_json::from_str(raw.get()).unwrap_or_default();
            let Some(id) =
                head.get("id").and_then(serde_json::Value::as_u64).and_then(|id| WooOrderId::try_from(id).ok())
            else {
                report.skipped += 1;
                continue;
            };
            if let Some(modified) = head
                .get("date_modified_gmt")
                .and_then(|v| v.as_str())
                .and_then(|s| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").ok())
            {
                newest = newest.max(modified);
            }
            let fetched = self.with_refund_details(id, raw.get().to_owned()).await?;
            let taken = self.take_fetched(id, fetched).await?;
            report.count(taken);
        }
        self.ports.store.set_watermark(PULL_WATERMARK, &newest.format("%Y-%m-%dT%H:%M:%S").to_string(), now()).await?;
        Ok(report)
    }
}
