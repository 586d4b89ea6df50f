//! The shop tables of the SQLite store.

use rusqlite::{params, OptionalExtension, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{from_ms, parse_uuid, to_ms, SqliteStore};
use crate::store::shop::{
    total, Cents, Channel, Line, NewOrder, Order, OrderRefusal, PaymentMethod, Product, Shop,
};
use crate::store::{StoreError, StoreResult};

fn product_row(r: &Row<'_>) -> rusqlite::Result<Product> {
    Ok(Product {
        sku: r.get(0)?,
        name: r.get(1)?,
        price: Cents(r.get(2)?),
    })
}

fn line_row(r: &Row<'_>) -> rusqlite::Result<Line> {
    Ok(Line {
        sku: r.get(0)?,
        name: r.get(1)?,
        unit_price: Cents(r.get(2)?),
        qty: r.get(3)?,
    })
}

/// orders ⋈ payments, one row per order.
const ORDER_SELECT: &str = "SELECT o.id, o.account, o.channel, o.total_cents, p.method_shown,
     o.terminal_session, o.created_ms FROM orders o JOIN payments p ON p.order_id = o.id";

type OrderRow = (i64, String, String, i64, String, Option<Vec<u8>>, i64);

fn order_row(r: &Row<'_>) -> rusqlite::Result<OrderRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

impl SqliteStore {
    fn order_from_row(conn: &rusqlite::Connection, row: OrderRow) -> StoreResult<Order> {
        let (id, account, channel, total_cents, payment, terminal, created) = row;
        let mut stmt = conn.prepare_cached(
            "SELECT sku, name, unit_cents, qty FROM order_lines WHERE order_id = ?1 ORDER BY sku",
        )?;
        let lines = stmt
            .query_map(params![id], line_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let terminal_session = terminal
            .map(|t| {
                <[u8; 32]>::try_from(t.as_slice())
                    .map_err(|_| StoreError::Corrupt(format!("order {id}: terminal session")))
            })
            .transpose()?;
        Ok(Order {
            id,
            account: parse_uuid(&account)?,
            channel: Channel::parse(&channel)
                .ok_or_else(|| StoreError::Corrupt(format!("order {id}: channel {channel:?}")))?,
            lines,
            total: Cents(total_cents),
            payment,
            terminal_session,
            created: from_ms(created)?,
        })
    }
}

impl Shop for SqliteStore {
    fn products(&self) -> StoreResult<Vec<Product>> {
        let conn = self.conn()?;
        let mut stmt =
            conn.prepare_cached("SELECT sku, name, price_cents FROM products ORDER BY position")?;
        let rows = stmt.query_map([], product_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn product(&self, sku: &str) -> StoreResult<Option<Product>> {
        Ok(self
            .conn()?
            .query_row(
                "SELECT sku, name, price_cents FROM products WHERE sku = ?1",
                params![sku],
                product_row,
            )
            .optional()?)
    }

    fn add_payment_method(
        &self,
        account: Uuid,
        label: &str,
        last4: &str,
        token: &str,
        at: OffsetDateTime,
    ) -> StoreResult<PaymentMethod> {
        let conn = self.conn()?;
        conn.execute(
            "INSERT INTO payment_methods (account, token, label, last4, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![account.to_string(), token, label, last4, to_ms(at)],
        )?;
        Ok(PaymentMethod {
            id: conn.last_insert_rowid(),
            account,
            token: token.to_owned(),
            label: label.to_owned(),
            last4: last4.to_owned(),
            created: at,
        })
    }

    fn payment_methods_of(&self, account: Uuid) -> StoreResult<Vec<PaymentMethod>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, token, label, last4, created_ms FROM payment_methods
             WHERE account = ?1 ORDER BY id DESC",
        )?;
        let rows = stmt
            .query_map(params![account.to_string()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(id, token, label, last4, created)| {
                Ok(PaymentMethod {
                    id,
                    account,
                    token,
                    label,
                    last4,
                    created: from_ms(created)?,
                })
            })
            .collect()
    }

    fn set_basket_line(&self, session: &[u8; 32], sku: &str, qty: u32) -> StoreResult<()> {
        let conn = self.conn()?;
        if qty == 0 {
            conn.execute(
                "DELETE FROM baskets WHERE session = ?1 AND sku = ?2",
                params![&session[..], sku],
            )?;
        } else {
            conn.execute(
                "INSERT INTO baskets (session, sku, qty) VALUES (?1, ?2, ?3)
                 ON CONFLICT (session, sku) DO UPDATE SET qty = excluded.qty",
                params![&session[..], sku, qty],
            )?;
        }
        Ok(())
    }

    fn basket(&self, session: &[u8; 32]) -> StoreResult<Vec<Line>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT p.sku, p.name, p.price_cents, b.qty FROM baskets b
             JOIN products p ON p.sku = b.sku WHERE b.session = ?1 ORDER BY p.position",
        )?;
        let rows = stmt.query_map(params![&session[..]], line_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn move_basket(&self, from: &[u8; 32], to: &[u8; 32]) -> StoreResult<()> {
        self.conn()?.execute(
            "UPDATE OR REPLACE baskets SET session = ?2 WHERE session = ?1",
            params![&from[..], &to[..]],
        )?;
        Ok(())
    }

    fn place_order(
        &self,
        order: &NewOrder,
        clear_basket: Option<&[u8; 32]>,
    ) -> StoreResult<Result<Order, OrderRefusal>> {
        if order.lines.is_empty() || order.lines.iter().any(|l| l.qty == 0) {
            return Ok(Err(OrderRefusal::EmptyBasket));
        }
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let account = order.account.to_string();
        let method: Option<(String, String)> = tx
            .query_row(
                "SELECT label, last4 FROM payment_methods WHERE id = ?1 AND account = ?2",
                params![order.payment_method, account],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((label, last4)) = method else {
            return Ok(Err(OrderRefusal::NotYourPaymentMethod));
        };
        let shown = format!("{label} ···· {last4}");
        let sum = total(&order.lines);
        let at = to_ms(order.at);
        tx.execute(
            "INSERT INTO orders (account, channel, total_cents, terminal_session, credential_id,
                                 created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                account,
                order.channel.as_str(),
                sum.0,
                order.terminal_session.as_ref().map(|s| &s[..]),
                order.credential_id,
                at
            ],
        )?;
        let id = tx.last_insert_rowid();
        {
            let mut line = tx.prepare_cached(
                "INSERT INTO order_lines (order_id, sku, name, unit_cents, qty)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for l in &order.lines {
                line.execute(params![id, l.sku, l.name, l.unit_price.0, l.qty])?;
            }
        }
        tx.execute(
            "INSERT INTO payments (order_id, account, payment_method, method_shown, amount_cents,
                                   at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, account, order.payment_method, shown, sum.0, at],
        )?;
        if let Some(session) = clear_basket {
            tx.execute(
                "DELETE FROM baskets WHERE session = ?1",
                params![&session[..]],
            )?;
        }
        tx.commit()?;
        let mut lines = order.lines.clone();
        lines.sort_by(|a, b| a.sku.cmp(&b.sku));
        Ok(Ok(Order {
            id,
            account: order.account,
            channel: order.channel,
            lines,
            total: sum,
            payment: shown,
            terminal_session: order.terminal_session,
            created: order.at,
        }))
    }

    fn orders_of(&self, account: Uuid, limit: usize) -> StoreResult<Vec<Order>> {
        let conn = self.conn()?;
        let rows = {
            let mut stmt = conn.prepare_cached(&format!(
                "{ORDER_SELECT} WHERE o.account = ?1 ORDER BY o.created_ms DESC, o.id DESC LIMIT ?2"
            ))?;
            let rows = stmt
                .query_map(params![account.to_string(), limit as i64], order_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows
        };
        rows.into_iter()
            .map(|row| Self::order_from_row(&conn, row))
            .collect()
    }

    fn order(&self, id: i64) -> StoreResult<Option<Order>> {
        let conn = self.conn()?;
        let row = conn
            .query_row(
                &format!("{ORDER_SELECT} WHERE o.id = ?1"),
                params![id],
                order_row,
            )
            .optional()?;
        row.map(|row| Self::order_from_row(&conn, row)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewAccount, PasskeyRecord, Store};

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn member(store: &SqliteStore) -> Uuid {
        let account = NewAccount {
            id: Uuid::new_v4(),
            display_name: "Lin".into(),
            created: now(),
        };
        let passkey = PasskeyRecord {
            credential_id: account.id.as_bytes().to_vec(),
            account: account.id,
            passkey_json: "{}".into(),
            name: "Passkey".into(),
            aaguid: Uuid::nil(),
            user_verified: true,
            backup_eligible: false,
            backup_state: false,
            created: now(),
            last_used: None,
            counter_regression: None,
        };
        store.register_passkey(Some(&account), &passkey).unwrap();
        account.id
    }

    #[test]
    fn catalog_basket_order_and_ledger() {
        let store = SqliteStore::in_memory().unwrap();
        let products = store.products().unwrap();
        assert_eq!(products.len(), 5);
        assert_eq!(products[0].sku, "COFFEE");
        let me = member(&store);
        let other = member(&store);
        let card = store
            .add_payment_method(me, "Visa", "4242", "tok_a", now())
            .unwrap();
        let theirs = store
            .add_payment_method(other, "Mastercard", "5555", "tok_b", now())
            .unwrap();
        assert_eq!(store.payment_methods_of(me).unwrap(), vec![card.clone()]);

        let session = [3u8; 32];
        store.set_basket_line(&session, "APPLES", 2).unwrap();
        store.set_basket_line(&session, "COFFEE", 1).unwrap();
        store.set_basket_line(&session, "COFFEE", 3).unwrap();
        store.set_basket_line(&session, "APPLES", 0).unwrap();
        let basket = store.basket(&session).unwrap();
        assert_eq!(basket.len(), 1);
        assert_eq!(basket[0].qty, 3);
        let moved = [4u8; 32];
        store.move_basket(&session, &moved).unwrap();
        assert!(store.basket(&session).unwrap().is_empty());

        let mut order = NewOrder {
            account: me,
            channel: Channel::Online,
            lines: store.basket(&moved).unwrap(),
            payment_method: theirs.id,
            terminal_session: None,
            credential_id: None,
            at: now(),
        };
        assert_eq!(
            store
                .place_order(&order, Some(&moved))
                .unwrap()
                .unwrap_err(),
            OrderRefusal::NotYourPaymentMethod
        );
        order.payment_method = card.id;
        let placed = store.place_order(&order, Some(&moved)).unwrap().unwrap();
        assert_eq!(placed.total, Cents(3 * 749));
        assert_eq!(placed.payment, "Visa ···· 4242");
        assert!(store.basket(&moved).unwrap().is_empty(), "basket paid");
        let history = store.orders_of(me, 10).unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].lines, placed.lines);
        assert!(store.orders_of(other, 10).unwrap().is_empty());
        assert_eq!(store.order(placed.id).unwrap().unwrap().total, placed.total);

        order.lines.clear();
        assert_eq!(
            store.place_order(&order, None).unwrap().unwrap_err(),
            OrderRefusal::EmptyBasket
        );
    }
}
