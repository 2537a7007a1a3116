//! Write-back and follow: the Counterpoint numbers on the WooCommerce order, and its status following the
//! document.

use super::*;

impl OrderPipeline {
    /// Puts the Counterpoint numbers on the WooCommerce order: meta and status first (idempotent), then the note,
    /// unless an earlier attempt already posted it. Returns whether it is done; a failure is stored on the row.
    pub async fn write_back(&self, staged: &StagedOrder) -> bool {
        let Some(_hold) = self.hold_writeback(staged.staging_id) else {
            tracing::debug!(staging_id = %staged.staging_id, "write-back already running");
            return false;
        };
        let (Some(doc_id), Some(tkt_no)) = (staged.cp_doc_id, staged.cp_tkt_no.as_deref()) else {
            tracing::error!(
                staging_id = %staged.staging_id,
                "APPLIED without CP_DOC_ID or CP_TKT_NO; nothing to write back"
            );
            return false;
        };
        let woo_id = staged.woo_order_id;
        let note = order_map::applied_note(doc_id, tkt_no);
        let result: Result<(), WooError> = async {
            // A completed order stays completed: moving it back to `applied_status` would reopen a finished sale.
            // The staged copy may be older than a completion, so the status is read now.
            let status = match &self.settings.applied_status {
                Some(target) => {
                    let current = self.ports.woo.order(woo_id).await?.status;
                    (!order_map::is_finished_in_store(&current) && current.as_str() != target).then(|| target.clone())
                }
                None => None,
            };
            let write = OrderWrite {
                status,
                meta_data: Some(vec![
                    MetaData::new("_cp_doc_id", doc_id.to_string()),
                    MetaData::new("_cp_tkt_no", tkt_no),
                ]),
                ..OrderWrite::default()
            };
            self.ports.woo.update_order(woo_id, &write).await?;
            let notes = self.ports.woo.order_notes(woo_id).await?;
            if !notes.iter().any(|n| n.note.contains(&note)) {
                self.ports.woo.add_order_note(woo_id, &note, false).await?;
            }
            Ok(())
        }
        .await;
        let at = now();
        let outcome = match result {
            Ok(()) => self.ports.cp.mark_woo_synced(staged.staging_id, at).await.map(|()| true),
            Err(e) if e.is_not_found() => {
                let subject = format!("WooCommerce order {}", staged.woo_order_no);
                let message = format!("it no longer exists in WooCommerce; Counterpoint order {doc_id} stays");
                self.ports.alerts.raise("writeback_gone", &subject, &message).await;
                self.ports.cp.mark_woo_synced(staged.staging_id, at).await.map(|()| true)
            }
            Err(e) => {
                let attempt = staged.woo_sync_attempts + 1;
                let retry_at = at + std_to_chrono(self.settings.woo_retry.delay(attempt));
                let reason = format!("writing Counterpoint order {doc_id} back to WooCommerce order {woo_id}: {e}");
                tracing::warn!(woo_order = %woo_id, attempt, "{reason}");
                if attempt == self.settings.max_attempts {
                    let subject = format!("WooCommerce order {}", staged.woo_order_no);
                    self.ports.alerts.raise("writeback_failing", &subject, &reason).await;
                }
                self.ports.cp.fail_writeback(staged.staging_id, &reason, retry_at).await.map(|()| false)
            }
        };
        outcome.unwrap_or_else(|e| {
            tracing::error!(staging_id = %staged.staging_id, error = %e, "the write-back outcome could not be stored");
            false
        })
    }

    pub(super) fn hold_writeback(&self, staging_id: StagingId) -> Option<WriteBackHold> {
        let mut set = self.writing_back.lock().ok()?;
        set.insert(staging_id).then(|| WriteBackHold { staging_id, set: self.writing_back.clone() })
    }

    pub(super) fn writeback_running(&self, staging_id: StagingId) -> bool {
        self.writing_back.lock().map(|set| set.contains(&staging_id)).unwrap_or(false)
    }

    /// Retries the write-backs that are due.
    ///
    /// # Errors
    /// When Counterpoint cannot be read.
    pub async fn writeback_once(&self) -> Result<SyncReport, PipelineError> {
        let mut due = self.ports.cp.writebacks_due(now(), 200).await?;
        due.retain(|order| !self.writeback_running(order.staging_id));
        let done: Vec<bool> = futures_util::stream::iter(due)
            .map(|order| async move { self.write_back(&order).await })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let synced = done.iter().filter(|ok| **ok).count();
        Ok(SyncReport { checked: done.len(), synced, failed: done.len() - synced, unknown: 0 })
    }

    /// Moves WooCommerce orders along once their Counterpoint documents are released or closed; a document that left
    /// without a release cpbridge can find gets a note and an alert, never a cancellation.
    ///
    /// # Errors
    /// When Counterpoint cannot be read; a WooCommerce failure leaves that order for the next run.
    pub async fn follow_once(&self) -> Result<SyncReport, PipelineError> {
        let mut report = SyncReport::default();
        let mut after = StagingId::new(0);
        loop {
            let page = self.ports.cp.open_applied_orders(after, 200).await?;
            let Some(last) = page.last() else { break };
            after = last.staging_id;
            for staged in &page {
                let (Some(doc_id), Some(tkt_no)) = (staged.cp_doc_id, staged.cp_tkt_no.as_deref()) else { continue };
                report.checked += 1;
                let state = self.ports.cp.document_state(doc_id, tkt_no).await?;
                let Some(label) = state.final_label() else { continue };
                let woo_id = staged.woo_order_id;
                let current = match self.ports.woo.order(woo_id).await {
                    Ok(order) => Some(order.status),
                    Err(e) if e.is_not_found() => None,
                    Err(e) => {
                        tracing::warn!(woo_order = %woo_id, error = %e, "status not read; next run tries again");
                        report.failed += 1;
                        continue;
                    }
                };
                if state == DocumentState::Unknown {
                    // Counterpoint has no positive "cancelled": a release numbered another way would look the same,
                    // and cancelling the web order would refund and e-mail a customer whose goods are on the way.
                    let message = format!(
                        "Counterpoint order {tkt_no} (DOC_ID {doc_id}) left the open documents, and cpbridge finds \
                         no release ticket for it (by number or by line) and no closed order; check it in \
                         Counterpoint and set this order's status by hand"
                    );
                    if current.is_some() {
                        match self.ports.woo.add_order_note(woo_id, &format!("cpbridge: {message}."), false).await {
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(woo_order = %woo_id, error = %e, "note not added; next run tries again");
                                report.failed += 1;
                                continue;
                            }
                        }
                    }
                    let subject = format!("WooCommerce order {}", staged.woo_order_no);
                    self.ports.alerts.raise("order_fate_unknown", &subject, &message).await;
                    self.ports.cp.set_doc_state(staged.staging_id, label).await?;
                    report.unknown += 1;
                    continue;
                }
                if current.as_ref().is_some_and(order_map::is_finished_in_store) {
                    // WooCommerce finished it before Counterpoint did (cash on delivery, virtual, staff): leave it.
                    self.ports.cp.set_doc_state(staged.staging_id, label).await?;
                    continue;
                }
                let status = &self.settings.fulfilled_status;
                let write = OrderWrite { status: Some(status.clone()), ..OrderWrite::default() };
                match self.ports.woo.update_order(woo_id, &write).await {
                    Ok(_) => {
                        self.ports.cp.set_doc_state(staged.staging_id, label).await?;
                        tracing::info!(woo_order = %woo_id, doc_id, status, "status followed Counterpoint");
                        report.synced += 1;
                    }
                    Err(e) if e.is_not_found() => {
                        self.ports.cp.set_doc_state(staged.staging_id, label).await?;
                    }
                    Err(e) => {
                        tracing::warn!(woo_order = %woo_id, error = %e, "status not updated; next run tries again");
                        report.failed += 1;
                    }
                }
            }
        }
        Ok(report)
    }
}
