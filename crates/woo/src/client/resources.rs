//! The WooCommerce resources cpbridge uses: products and variations, categories, customers, orders with their
//! notes and refunds, webhooks.

use super::*;

impl WooClient {
    // ---- products and variations ----

    /// Products, filtered by WooCommerce query parameters (`modified_after`, `sku`, `status`, `orderby`, …).
    #[must_use]
    pub fn products(&self, query: Vec<(String, String)>) -> RecordStream<Product> {
        self.list("/products", query)
    }

    /// # Errors
    /// [`WooError`]; a missing product is a 404 (`woocommerce_rest_product_invalid_id`).
    pub async fn product(&self, id: u64) -> Result<Product, WooError> {
        self.get(&format!("/products/{id}"), &[]).await
    }

    /// The product (or variation) holding exactly this SKU.
    ///
    /// # Errors
    /// [`WooError`] when the lookup fails.
    pub async fn product_by_sku(&self, sku: &str) -> Result<Option<Product>, WooError> {
        let page: Page<Product> = self.page("/products", &[("sku".into(), sku.to_owned())], 1).await?;
        Ok(page.items.into_iter().find(|p| p.sku == sku))
    }

    /// Creates a product. A request replayed after an ambiguous failure that the store answers with
    /// `product_invalid_sku` returns the product the first attempt created.
    ///
    /// # Errors
    /// [`WooError`], including a duplicate SKU on a first attempt.
    pub async fn create_product(&self, product: &ProductWrite) -> Result<Product, WooError> {
        let subject = || format!("creating product SKU {}", product.sku.as_deref().unwrap_or("(none)"));
        match self.send_counting(Method::POST, "/products", product, Replay::Safe).await {
            Ok((created, _)) => Ok(created),
            // Only a replay can meet its own SKU; on a first attempt a duplicate is a real conflict.
            Err((error, attempts)) if attempts > 1 && error.code() == Some("product_invalid_sku") => {
                let Some(existing_id) = error.body().and_then(ErrorBody::resource_id) else {
                    return Err(error.about(subject()));
                };
                let existing = self.product(existing_id).await.map_err(|e| e.about(subject()))?;
                if product.sku.as_deref() == Some(existing.sku.as_str()) {
                    Ok(existing)
                } else {
                    Err(error.about(subject()))
                }
            }
            Err((error, _)) => Err(error.about(subject())),
        }
    }

    /// # Errors
    /// [`WooError`].
    pub async fn update_product(&self, id: u64, product: &ProductWrite) -> Result<Product, WooError> {
        self.send(Method::PUT, &format!("/products/{id}"), product, Replay::Safe).await
    }

    /// # Errors
    /// [`WooError`].
    pub async fn delete_product(&self, id: u64, force: bool) -> Result<Product, WooError> {
        let path = format!("/products/{id}");
        let response =
            self.execute(Method::DELETE, &path, &[("force".into(), force.to_string())], None, Replay::Safe).await?;
        Self::decode("DELETE", &path, &response.body, "a product")
    }

    /// Batch create, update and delete of products.
    ///
    /// # Errors
    /// See [`WooClient::batch`].
    pub async fn batch_products(&self, write: BatchWrite<ProductWrite>) -> Result<BatchOutcome<Product>, WooError> {
        self.batch("/products/batch", write).await
    }

    /// Every product category.
    #[must_use]
    pub fn categories(&self) -> RecordStream<Category> {
        self.list("/products/categories", vec![("hide_empty".into(), "false".into())])
    }

    /// Creates a category, or returns the one that already has this name under `parent` (WooCommerce refuses the
    /// duplicate with `term_exists` and names the existing term).
    ///
    /// # Errors
    /// [`WooError`] for any other failure.
    pub async fn create_category(&self, name: &str, parent: u64) -> Result<Category, WooError> {
        let body = serde_json::json!({ "name": name, "parent": parent });
        match self.send(Method::POST, "/products/categories", &body, Replay::Safe).await {
            Ok(created) => Ok(created),
            Err(error) if error.code() == Some("term_exists") => {
                let Some(existing) = error.body().and_then(ErrorBody::resource_id) else {
                    return Err(error.about(format!("creating category {name:?}")));
                };
                self.get(&format!("/products/categories/{existing}"), &[]).await
            }
            Err(error) => Err(error.about(format!("creating category {name:?}"))),
        }
    }

    #[must_use]
    pub fn variations(&self, product_id: u64) -> RecordStream<Variation> {
        self.list(&format!("/products/{product_id}/variations"), Vec::new())
    }

    /// # Errors
    /// [`WooError`].
    pub async fn create_variation(&self, product_id: u64, variation: &ProductWrite) -> Result<Variation, WooError> {
        self.send(Method::POST, &format!("/products/{product_id}/variations"), variation, Replay::OnlyIfUnprocessed)
            .await
    }

    /// # Errors
    /// [`WooError`].
    pub async fn update_variation(
        &self,
        product_id: u64,
        id: u64,
        write: &ProductWrite,
    ) -> Result<Variation, WooError> {
        self.send(Method::PUT, &format!("/products/{product_id}/variations/{id}"), write, Replay::Safe).await
    }

    /// Batch writes of one variable product's variations.
    ///
    /// # Errors
    /// See [`WooClient::batch`].
    pub async fn batch_variations(
        &self,
        product_id: u64,
        write: BatchWrite<ProductWrite>,
    ) -> Result<BatchOutcome<Variation>, WooError> {
        self.batch(&format!("/products/{product_id}/variations/batch"), write).await
    }

    // ---- customers ----

    #[must_use]
    pub fn customers(&self, query: Vec<(String, String)>) -> RecordStream<Customer> {
        self.list("/customers", query)
    }

    /// # Errors
    /// [`WooError`].
    pub async fn customer(&self, id: u64) -> Result<Customer, WooError> {
        self.get(&format!("/customers/{id}"), &[]).await
    }

    /// # Errors
    /// [`WooError`].
    pub async fn customer_by_email(&self, email: &str) -> Result<Option<Customer>, WooError> {
        let page: Page<Customer> =
            self.page("/customers", &[("email".into(), email.to_owned()), ("role".into(), "all".into())], 1).await?;
        Ok(page.items.into_iter().find(|c| c.email.eq_ignore_ascii_case(email)))
    }

    /// Creates a customer. A replay that meets `registration-error-email-exists` returns the existing customer.
    ///
    /// # Errors
    /// [`WooError`], including an existing e-mail on a first attempt.
    pub async fn create_customer(&self, customer: &CustomerWrite) -> Result<Customer, WooError> {
        let subject = || format!("creating customer {}", customer.email.as_deref().unwrap_or("(no e-mail)"));
        match self.send_counting(Method::POST, "/customers", customer, Replay::Safe).await {
            Ok((created, _)) => Ok(created),
            Err((error, attempts)) if attempts > 1 && error.code() == Some("registration-error-email-exists") => {
                match customer.email.as_deref() {
                    Some(email) => match self.customer_by_email(email).await.map_err(|e| e.about(subject()))? {
                        Some(existing) => Ok(existing),
                        None => Err(error.about(subject())),
                    },
                    None => Err(error.about(subject())),
                }
            }
            Err((error, _)) => Err(error.about(subject())),
        }
    }

    /// Batch create, update and delete of customers.
    ///
    /// # Errors
    /// See [`WooClient::batch`].
    pub async fn batch_customers(&self, write: BatchWrite<CustomerWrite>) -> Result<BatchOutcome<Customer>, WooError> {
        self.batch("/customers/batch", write).await
    }

    /// # Errors
    /// [`WooError`].
    pub async fn update_customer(&self, id: u64, customer: &CustomerWrite) -> Result<Customer, WooError> {
        self.send(Method::PUT, &format!("/customers/{id}"), customer, Replay::Safe).await
    }

    // ---- orders ----

    /// Orders; pass `status=any` to list every status, and `modified_after` with `orderby=modified` to poll.
    #[must_use]
    pub fn orders(&self, query: Vec<(String, String)>) -> RecordStream<Order> {
        self.list("/orders", query)
    }

    /// # Errors
    /// [`WooError`]; a missing order is a 404 (`woocommerce_rest_shop_order_invalid_id`).
    pub async fn order(&self, id: WooOrderId) -> Result<Order, WooError> {
        self.get(&format!("/orders/{id}"), &[]).await
    }

    /// Creates an order. Orders have no natural key, so the request is resent only when the store surely did not
    /// receive it.
    ///
    /// # Errors
    /// [`WooError`].
    pub async fn create_order(&self, order: &OrderWrite) -> Result<Order, WooError> {
        self.send(Method::POST, "/orders", order, Replay::OnlyIfUnprocessed).await
    }

    /// # Errors
    /// [`WooError`]; an unknown status is a 400 `rest_invalid_param`.
    pub async fn update_order(&self, id: WooOrderId, order: &OrderWrite) -> Result<Order, WooError> {
        self.send(Method::PUT, &format!("/orders/{id}"), order, Replay::Safe).await
    }

    /// The order's notes, newest first.
    ///
    /// # Errors
    /// [`WooError`].
    pub async fn order_notes(&self, order_id: WooOrderId) -> Result<Vec<OrderNote>, WooError> {
        self.get(&format!("/orders/{order_id}/notes"), &[]).await
    }

    /// Adds a note. Safe failures are retried by the shared retry loop. After an ambiguous one (a 500, a timeout,
    /// a dropped connection) the order's notes are read: a note with the same text counts as this one, and
    /// only when none is there is the note sent once more. So a replay never doubles a note; a caller that needs
    /// the same text twice on one order must vary it.
    ///
    /// # Errors
    /// [`WooError`] when the note cannot be added, or its presence cannot be checked.
    pub async fn add_order_note(
        &self,
        order_id: WooOrderId,
        note: &str,
        customer_note: bool,
    ) -> Result<OrderNote, WooError> {
        let path = format!("/orders/{order_id}/notes");
        let body = serde_json::json!({ "note": note, "customer_note": customer_note });
        match self.send(Method::POST, &path, &body, Replay::OnlyIfUnprocessed).await {
            Err(error) if error.is_retryable() => {
                let existing = self.order_notes(order_id).await?;
                match existing.into_iter().find(|n| n.note == note && n.customer_note == customer_note) {
                    Some(found) => Ok(found),
                    None => self.send(Method::POST, &path, &body, Replay::OnlyIfUnprocessed).await,
                }
            }
            other => other,
        }
    }

    /// # Errors
    /// [`WooError`].
    pub async fn create_refund(&self, order_id: WooOrderId, refund: &RefundWrite) -> Result<Refund, WooError> {
        self.send(Method::POST, &format!("/orders/{order_id}/refunds"), refund, Replay::OnlyIfUnprocessed).await
    }

    // ---- webhooks ----

    /// # Errors
    /// [`WooError`].
    pub async fn webhooks(&self) -> Result<Vec<Webhook>, WooError> {
        self.list("/webhooks", Vec::new()).try_collect().await
    }

    /// # Errors
    /// [`WooError`].
    pub async fn create_webhook(&self, webhook: &WebhookWrite) -> Result<Webhook, WooError> {
        self.send(Method::POST, "/webhooks", webhook, Replay::OnlyIfUnprocessed).await
    }
}
