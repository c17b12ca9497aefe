//! Receipts: what a service worker reports about a message it was sent (`displayed`,
//! `clicked`, and which button), counted once per device.
//!
//! A device's first click bumps `messages.clicked` and records its action in the same
//! transaction, so a status read (one statement, [`Store::message_with_clicks`]) never sees a
//! click counted in one place and not yet in the other.

use super::{is_unique_violation, Store, StoreError, StoreResult, WriteTx};
use crate::domain::states::ReceiptEvent;

impl Store {
    /// Records a receipt once per (message, subscription, event), and a click once per
    /// (message, subscription, action). `None` when the message was never sent to this
    /// subscription; `Some(false)` when the event was already counted.
    pub async fn record_receipt(
        &self,
        message_id: &str,
        subscription_id: &str,
        event: ReceiptEvent,
        action: Option<&str>,
        now_ms: i64,
    ) -> StoreResult<Option<bool>> {
        let action = action.unwrap_or("default");
        let mut tx = self.begin().await?;
        let sent: i64 = tx
            .query("SELECT COUNT(*) FROM outbox WHERE message_id = $1 AND subscription_id = $2")
            .bind(message_id)
            .bind(subscription_id)
            .fetch_scalar()
            .await?;
        if sent == 0 {
            return Ok(None);
        }
        let inserted = tx
            .query("INSERT INTO receipts (message_id, subscription_id, event, created_at) VALUES ($1, $2, $3, $4)")
            .bind(message_id)
            .bind(subscription_id)
            .bind(event.as_db())
            .bind(now_ms)
            .execute()
            .await;
        let first = match inserted {
            Ok(_) => true,
            Err(StoreError::Database(e)) if is_unique_violation(&e) => false,
            Err(e) => return Err(e),
        };
        if first {
            let column = match event {
                ReceiptEvent::Displayed => "UPDATE messages SET displayed = displayed + 1 WHERE id = $1",
                ReceiptEvent::Clicked => "UPDATE messages SET clicked = clicked + 1 WHERE id = $1",
            };
            tx.query(column).bind(message_id).execute().await?;
            if event == ReceiptEvent::Clicked {
                count_click(&mut tx, message_id, subscription_id, action, now_ms).await?;
            }
            tx.commit().await?;
            return Ok(Some(true));
        }
        // A failed statement spoils a PostgreSQL transaction: nothing more happens in it.
        drop(tx);
        if event == ReceiptEvent::Clicked {
            // The device clicked before: `clicked` stays, but another button still counts.
            let counted = self
                .write(
                    "INSERT INTO click_actions (message_id, subscription_id, action, created_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(message_id)
                .bind(subscription_id)
                .bind(action)
                .bind(now_ms)
                .execute()
                .await;
            match counted {
                Ok(_) => {}
                Err(StoreError::Database(e)) if is_unique_violation(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Some(false))
    }
}

/// Counts a device's click on `action`, in the transaction that counts its first click. The
/// insert tests `NOT EXISTS` so that it cannot fail and spoil that transaction.
async fn count_click(
    tx: &mut WriteTx,
    message_id: &str,
    subscription_id: &str,
    action: &str,
    now_ms: i64,
) -> StoreResult<()> {
    tx.query(
        "INSERT INTO click_actions (message_id, subscription_id, action, created_at) \
         SELECT $1, $2, $3, $4 FROM (SELECT 1 AS one) AS probe WHERE NOT EXISTS \
         (SELECT 1 FROM click_actions WHERE message_id = $5 AND subscription_id = $6 AND action = $7)",
    )
    .bind(message_id)
    .bind(subscription_id)
    .bind(action)
    .bind(now_ms)
    .bind(message_id)
    .bind(subscription_id)
    .bind(action)
    .execute()
    .await?;
    Ok(())
}
