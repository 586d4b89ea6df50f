//! The shop's persistent state: catalog, saved payment methods (the demo's own ledger: a
//! token and a last-4 label, never card data), online baskets, orders and the payments
//! recorded against them.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreResult;

/// Money in euro cents. Integer cents: sums never drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cents(pub i64);

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}€{}.{:02}", abs / 100, abs % 100)
    }
}

/// One thing the shop sells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub sku: String,
    pub name: String,
    pub price: Cents,
}

/// A product and how many of it, in a basket or an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub sku: String,
    pub name: String,
    pub unit_price: Cents,
    pub qty: u32,
}

impl Line {
    pub fn of(product: &Product, qty: u32) -> Self {
        Line {
            sku: product.sku.clone(),
            name: product.name.clone(),
            unit_price: product.price,
            qty,
        }
    }

    pub fn total(&self) -> Cents {
        Cents(self.unit_price.0 * i64::from(self.qty))
    }
}

/// The sum of some lines.
pub fn total(lines: &[Line]) -> Cents {
    Cents(lines.iter().map(|l| l.total().0).sum())
}

/// A saved payment method: an opaque token the (imaginary) payment processor would charge,
/// plus what the member sees. No card number, expiry or CVC is ever stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMethod {
    pub id: i64,
    pub account: Uuid,
    pub token: String,
    pub label: String,
    pub last4: String,
    pub created: OffsetDateTime,
}

impl PaymentMethod {
    /// "Visa ···· 4242"
    pub fn display(&self) -> String {
        format!("{} ···· {}", self.label, self.last4)
    }
}

/// Where a purchase was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The web shop, by a signed-in member.
    Online,
    /// The in-store point of sale, authorised by the member's palm at the shared terminal.
    InStore,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Online => "online",
            Channel::InStore => "pos",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "online" => Some(Channel::Online),
            "pos" => Some(Channel::InStore),
            _ => None,
        }
    }

    /// How the order history names it.
    pub fn label(self) -> &'static str {
        match self {
            Channel::Online => "online",
            Channel::InStore => "in store",
        }
    }
}

/// A purchase to record: order, its lines and the payment, in one transaction.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub account: Uuid,
    pub channel: Channel,
    pub lines: Vec<Line>,
    pub payment_method: i64,
    /// In store: the terminal's session (hashed ID), the only one that may show the receipt.
    pub terminal_session: Option<[u8; 32]>,
    /// In store: the passkey whose assertion authorised the payment.
    pub credential_id: Option<Vec<u8>>,
    pub at: OffsetDateTime,
}

/// A recorded purchase and its payment.
#[derive(Debug, Clone)]
pub struct Order {
    pub id: i64,
    pub account: Uuid,
    pub channel: Channel,
    pub lines: Vec<Line>,
    pub total: Cents,
    /// The payment method as shown when the order was paid.
    pub payment: String,
    pub terminal_session: Option<[u8; 32]>,
    pub created: OffsetDateTime,
}

/// Why a purchase could not be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRefusal {
    EmptyBasket,
    /// The payment method is not the account's (or no longer exists).
    NotYourPaymentMethod,
}

/// The shop half of the store.
pub trait Shop {
    /// The catalog in display order.
    fn products(&self) -> StoreResult<Vec<Product>>;
    fn product(&self, sku: &str) -> StoreResult<Option<Product>>;

    fn add_payment_method(
        &self,
        account: Uuid,
        label: &str,
        last4: &str,
        token: &str,
        at: OffsetDateTime,
    ) -> StoreResult<PaymentMethod>;
    /// Newest first: the first is the default used at the point of sale.
    fn payment_methods_of(&self, account: Uuid) -> StoreResult<Vec<PaymentMethod>>;

    /// Set a product's quantity in a session's basket (0 removes it).
    fn set_basket_line(&self, session: &[u8; 32], sku: &str, qty: u32) -> StoreResult<()>;
    fn basket(&self, session: &[u8; 32]) -> StoreResult<Vec<Line>>;
    /// Carry a basket over to a new session (signing in replaces the session).
    fn move_basket(&self, from: &[u8; 32], to: &[u8; 32]) -> StoreResult<()>;

    /// Record an order, its payment in the member's ledger, and (online) empty the basket of
    /// `clear_basket`, all in one transaction.
    fn place_order(
        &self,
        order: &NewOrder,
        clear_basket: Option<&[u8; 32]>,
    ) -> StoreResult<Result<Order, OrderRefusal>>;
    /// Newest first.
    fn orders_of(&self, account: Uuid, limit: usize) -> StoreResult<Vec<Order>>;
    fn order(&self, id: i64) -> StoreResult<Option<Order>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_prints_in_euros() {
        assert_eq!(Cents(0).to_string(), "€0.00");
        assert_eq!(Cents(1205).to_string(), "€12.05");
        assert_eq!(Cents(-7).to_string(), "-€0.07");
    }
}
