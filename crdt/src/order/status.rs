//! An order's status, with the words the seeds' ERPs use and the codes
//! their APIs carry, so an ERP's connector maps them without guessing.

use serde::{Deserialize, Serialize};

/// Where an order stands. The names are a contract (ERPs and scripts rely
/// on them): added to, never renamed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Open,
    Approved,
    InProgress,
    Invoiced,
    PartiallyInvoiced,
    Fulfilled,
    Cancelled,
    AwaitingPayment,
    PaymentConfirmed,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 9] = [
        OrderStatus::Open,
        OrderStatus::Approved,
        OrderStatus::InProgress,
        OrderStatus::Invoiced,
        OrderStatus::PartiallyInvoiced,
        OrderStatus::Fulfilled,
        OrderStatus::Cancelled,
        OrderStatus::AwaitingPayment,
        OrderStatus::PaymentConfirmed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Open => "open",
            OrderStatus::Approved => "approved",
            OrderStatus::InProgress => "in_progress",
            OrderStatus::Invoiced => "invoiced",
            OrderStatus::PartiallyInvoiced => "partially_invoiced",
            OrderStatus::Fulfilled => "fulfilled",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::AwaitingPayment => "awaiting_payment",
            OrderStatus::PaymentConfirmed => "payment_confirmed",
        }
    }

    pub fn parse(text: &str) -> Option<OrderStatus> {
        let t = text.trim();
        OrderStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == t || s.label_pt().eq_ignore_ascii_case(t))
    }

    /// The status as Olist/Tiny's and Bling's screens name it.
    pub fn label_pt(self) -> &'static str {
        match self {
            OrderStatus::Open => "Em aberto",
            OrderStatus::Approved => "Aprovado",
            OrderStatus::InProgress => "Em andamento",
            OrderStatus::Invoiced => "Faturado",
            OrderStatus::PartiallyInvoiced => "Faturado parcialmente",
            OrderStatus::Fulfilled => "Atendido",
            OrderStatus::Cancelled => "Cancelado",
            OrderStatus::AwaitingPayment => "Aguardando pagamento",
            OrderStatus::PaymentConfirmed => "Pagamento confirmado",
        }
    }

    /// Bling API v3's `situacao.valor` (the inherited status, stable across
    /// accounts; `situacao.id` is per account and must not be mapped).
    /// Bling has no plain "approved" or "invoiced" sale status: approved is
    /// still open there, and invoiced is fulfilled (Atendido).
    pub fn bling_valor(self) -> u8 {
        match self {
            OrderStatus::Open | OrderStatus::Approved => 0,
            OrderStatus::Fulfilled | OrderStatus::Invoiced => 1,
            OrderStatus::Cancelled => 2,
            OrderStatus::InProgress => 3,
            OrderStatus::PartiallyInvoiced => 5,
            OrderStatus::AwaitingPayment => 7,
            OrderStatus::PaymentConfirmed => 8,
        }
    }

    /// Olist/Tiny API v2's `situacao` code. Tiny has no payment statuses:
    /// an order awaiting payment is still open there, a paid one approved.
    pub fn tiny_code(self) -> &'static str {
        match self {
            OrderStatus::Open | OrderStatus::AwaitingPayment => "aberto",
            OrderStatus::Approved | OrderStatus::PaymentConfirmed => "aprovado",
            OrderStatus::InProgress => "preparando_envio",
            OrderStatus::Invoiced | OrderStatus::PartiallyInvoiced => "faturado",
            OrderStatus::Fulfilled => "entregue",
            OrderStatus::Cancelled => "cancelado",
        }
    }

    /// Once invoiced, lines and prices change only through a return or an
    /// adjusting NF-e, never by an edit.
    pub fn is_invoiced(self) -> bool {
        matches!(
            self,
            OrderStatus::Invoiced | OrderStatus::PartiallyInvoiced | OrderStatus::Fulfilled
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_portuguese_labels_parse() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
            assert_eq!(OrderStatus::parse(s.label_pt()), Some(s));
            let json = serde_json::to_string(&s).expect("json");
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert_eq!(OrderStatus::parse("faturado"), Some(OrderStatus::Invoiced));
        assert_eq!(OrderStatus::parse("shipped"), None);
    }
}
