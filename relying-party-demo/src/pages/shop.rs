//! The web shop (catalog, basket, checkout), the order history, and the in-store POS pages.

use std::fmt::Write;

use super::{escape, layout, when};
use crate::store::shop::{total, Line, Order, Product};
use crate::store::Account;

fn lines_text(lines: &[Line]) -> String {
    lines
        .iter()
        .map(|l| format!("{} × {}", l.qty, escape(&l.name)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the shop page knows about the visitor.
pub struct Shopper<'a> {
    pub account: Option<&'a Account>,
    pub payment: Option<String>,
}

pub fn shop(csrf: &str, products: &[Product], basket: &[Line], shopper: &Shopper<'_>) -> String {
    let mut body = String::from(
        "<h1>Shop</h1>\n<table id=\"catalog\">\n<thead><tr><th>Product</th><th>Price</th><th>Add</th></tr></thead>\n<tbody>\n",
    );
    for p in products {
        let _ = write!(
            body,
            r#"<tr class="product" data-sku="{sku}"><td>{name}</td><td>{price}</td><td>
<form class="add-to-basket" method="post" action="/shop/basket">
<input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="sku" value="{sku}">
<label>Quantity <input name="qty" type="number" min="0" max="99" value="1" required></label>
<button type="submit">Add to basket</button>
</form></td></tr>
"#,
            sku = escape(&p.sku),
            name = escape(&p.name),
            price = p.price,
            csrf = escape(csrf),
        );
    }
    body.push_str("</tbody>\n</table>\n<h2>Your basket</h2>\n");
    if basket.is_empty() {
        body.push_str("<p id=\"basket-empty\">Your basket is empty.</p>\n");
    }
    body.push_str(
        "<table id=\"basket\">\n<thead><tr><th>Product</th><th>Quantity</th><th>Amount</th></tr></thead>\n<tbody>\n",
    );
    for l in basket {
        let _ = writeln!(
            body,
            r#"<tr class="basket-line" data-sku="{}"><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            escape(&l.sku),
            escape(&l.name),
            l.qty,
            l.total()
        );
    }
    let _ = writeln!(
        body,
        r#"</tbody>
<tfoot><tr><th colspan="2">Total</th><td id="basket-total">{}</td></tr></tfoot>
</table>"#,
        total(basket)
    );
    match (shopper.account, &shopper.payment) {
        (None, _) => body.push_str(
            "<p id=\"checkout-hint\"><a href=\"/login\">Sign in</a> to check out.</p>\n",
        ),
        (Some(_), None) => body.push_str(
            "<p id=\"checkout-hint\">Add a payment method on <a href=\"/account\">your account</a> to check out.</p>\n",
        ),
        (Some(_), Some(method)) if !basket.is_empty() => {
            let _ = write!(
                body,
                r#"<form id="checkout-form" method="post" action="/shop/checkout">
<input type="hidden" name="csrf" value="{}">
<p>Pay with {}.</p>
<button id="checkout-button" type="submit">Check out</button>
</form>
"#,
                escape(csrf),
                escape(method)
            );
        }
        (Some(_), Some(_)) => {}
    }
    layout("Shop", Some(csrf), &body)
}

pub fn orders(csrf: &str, account: &Account, orders: &[Order]) -> String {
    let mut body = format!(
        "<h1>Your orders</h1>\n<p>{} ({}): online and in-store purchases.</p>\n",
        escape(&account.display_name),
        escape(&account.member_id())
    );
    if orders.is_empty() {
        body.push_str("<p id=\"no-orders\">No orders yet.</p>\n");
    }
    body.push_str(
        "<table id=\"orders\">\n<thead><tr><th>Order</th><th>When</th><th>Where</th><th>Items</th><th>Total</th><th>Paid with</th></tr></thead>\n<tbody>\n",
    );
    for o in orders {
        let _ = writeln!(
            body,
            r#"<tr class="order" data-order-id="{id}"><td>#{id}</td><td class="order-when">{when}</td><td class="order-channel">{channel}</td><td class="order-items">{items}</td><td class="order-total">{total}</td><td class="order-payment">{payment}</td></tr>"#,
            id = o.id,
            when = when(o.created),
            channel = o.channel.label(),
            items = lines_text(&o.lines),
            total = o.total,
            payment = escape(&o.payment),
        );
    }
    body.push_str("</tbody>\n</table>\n");
    layout("Orders", Some(csrf), &body)
}

pub fn pos(csrf: &str, products: &[Product]) -> String {
    let mut body = String::from(
        r#"<h1>In-store checkout</h1>
<p>Shared terminal. The cashier builds the basket; the customer pays by holding out their palm.
No customer is signed in here: a palm payment authorises this one basket and nothing else.</p>
<form id="pos-form" data-ceremony="pos">
<table id="pos-catalog">
<thead><tr><th>Product</th><th>Price</th><th>Quantity</th></tr></thead>
<tbody>
"#,
    );
    for p in products {
        let _ = writeln!(
            body,
            r#"<tr class="pos-product" data-sku="{sku}" data-price-cents="{cents}"><td><label for="pos-qty-{sku}">{name}</label></td><td>{price}</td><td><input id="pos-qty-{sku}" name="qty-{sku}" type="number" min="0" max="99" value="0"></td></tr>"#,
            sku = escape(&p.sku),
            cents = p.price.0,
            name = escape(&p.name),
            price = p.price,
        );
    }
    body.push_str(
        r#"</tbody>
<tfoot><tr><th colspan="2">Total</th><td id="pos-total">€0.00</td></tr></tfoot>
</table>
<button id="pay-with-palm" type="submit">Pay with palm</button>
</form>
<p id="status" role="status" aria-live="polite"></p>"#,
    );
    layout("In-store checkout", Some(csrf), &body)
}

pub fn receipt(csrf: &str, order: &Order, member: &Account) -> String {
    let mut body = format!(
        r#"<h1>Receipt</h1>
<section id="receipt" aria-label="receipt">
<p>Order <strong id="receipt-order">#{id}</strong> · {when}</p>
<p>Member <strong id="receipt-member">{member}</strong></p>
<table id="receipt-items">
<thead><tr><th>Product</th><th>Quantity</th><th>Amount</th></tr></thead>
<tbody>
"#,
        id = order.id,
        when = when(order.created),
        member = escape(&member.member_id()),
    );
    for l in &order.lines {
        let _ = writeln!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&l.name),
            l.qty,
            l.total()
        );
    }
    let _ = write!(
        body,
        r#"</tbody>
<tfoot><tr><th colspan="2">Total</th><td id="receipt-total">{}</td></tr></tfoot>
</table>
<p>Paid with <span id="receipt-payment">{}</span>, authorised by palm.</p>
</section>
<p><a id="new-sale" class="button" href="/pos">Next customer</a></p>"#,
        order.total,
        escape(&order.payment)
    );
    layout("Receipt", Some(csrf), &body)
}
