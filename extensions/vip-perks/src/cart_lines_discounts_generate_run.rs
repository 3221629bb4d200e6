//! `cart.lines.discounts.generate.run`: the tier's percentage off the order
//! subtotal when the discount has the ORDER class, otherwise off every cart
//! line when it has the PRODUCT class, otherwise nothing. Every way of not
//! applying (no tier, unknown tier, 0 %, missing or malformed configuration)
//! returns no operations and a log line, never an error: an error would
//! fail the buyer's checkout.
//!
//! `#[shopify_function_target]` generates, in the inner module
//! `cart_lines_discounts_generate_run`, the `input` types (the response to
//! the input query) and the `output` types (the target's result in
//! `schema.graphql`), and the Wasm export of the same name, which reads the
//! input from stdin and writes the result to stdout.

use shopify_function::prelude::*;
use shopify_function::Result;

use crate::perks::{self, Perk};

use self::cart_lines_discounts_generate_run::{input, output};

/// The input of the target: the response to `cart_lines_discounts_generate_run.graphql`.
pub type Input = input::ResponseData;

#[shopify_function_target(
    query_path = "src/cart_lines_discounts_generate_run.graphql",
    schema_path = "schema.graphql"
)]
fn cart_lines_discounts_generate_run(
    input: input::ResponseData,
) -> Result<output::CartLinesDiscountsGenerateRunResult> {
    Ok(output::CartLinesDiscountsGenerateRunResult {
        operations: operations(&input),
    })
}

/// What the discount is applied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Order,
    Product,
}

fn operations(input: &Input) -> Vec<output::CartOperation> {
    let discount = &input.discount;
    let classes = &discount.discount_classes;
    let class = if classes.contains(&input::DiscountClass::ORDER) {
        Class::Order
    } else if classes.contains(&input::DiscountClass::PRODUCT) {
        Class::Product
    } else {
        eprintln!("no VIP perk: the discount has neither the ORDER nor the PRODUCT class");
        return vec![];
    };

    let tier = input
        .cart
        .buyer_identity
        .as_ref()
        .and_then(|buyer| buyer.customer.as_ref())
        .and_then(|customer| customer.metafield.as_ref())
        .map(|metafield| metafield.value.as_str());
    let config = discount
        .metafield
        .as_ref()
        .map(|metafield| &metafield.json_value);
    let perk = match perks::perk(tier, config) {
        Ok(perk) => perk,
        Err(why) => {
            eprintln!("no VIP perk: {why}");
            return vec![];
        }
    };

    match class {
        Class::Order => vec![order_discount(perk)],
        Class::Product => {
            let lines = &input.cart.lines;
            if lines.is_empty() {
                return vec![];
            }
            vec![product_discount(perk, lines.iter().map(|line| &line.id))]
        }
    }
}

fn order_discount(perk: Perk) -> output::CartOperation {
    output::CartOperation::OrderDiscountsAdd(output::OrderDiscountsAddOperation {
        selection_strategy: output::OrderDiscountSelectionStrategy::FIRST,
        candidates: vec![output::OrderDiscountCandidate {
            targets: vec![output::OrderDiscountCandidateTarget::OrderSubtotal(
                output::OrderSubtotalTarget {
                    excluded_cart_line_ids: vec![],
                },
            )],
            message: perk.message,
            value: output::OrderDiscountCandidateValue::Percentage(output::Percentage {
                value: Decimal(perk.percent),
            }),
            conditions: None,
            associated_discount_code: None,
        }],
    })
}

fn product_discount<'a>(
    perk: Perk,
    line_ids: impl Iterator<Item = &'a String>,
) -> output::CartOperation {
    output::CartOperation::ProductDiscountsAdd(output::ProductDiscountsAddOperation {
        selection_strategy: output::ProductDiscountSelectionStrategy::FIRST,
        candidates: vec![output::ProductDiscountCandidate {
            targets: line_ids
                .map(|id| {
                    output::ProductDiscountCandidateTarget::CartLine(output::CartLineTarget {
                        id: id.clone(),
                        quantity: None,
                    })
                })
                .collect(),
            message: perk.message,
            value: output::ProductDiscountCandidateValue::Percentage(output::Percentage {
                value: Decimal(perk.percent),
            }),
            associated_discount_code: None,
            prerequisites: None,
        }],
    })
}
