//! `cart.delivery-options.discounts.generate.run`: the tier's percentage
//! off shipping (100 % is free shipping) on every delivery group, when the
//! discount has the SHIPPING class and the program gives the tier a
//! shipping perk. As for the order perk, every way of not applying returns
//! no operations and a log line, never an error.
//!
//! `#[shopify_function_target]` generates the `input` and `output` types of
//! this target and its Wasm export, as for
//! [`crate::cart_lines_discounts_generate_run`].

use shopify_function::prelude::*;
use shopify_function::Result;

use crate::perks::{self, Perk};

use self::cart_delivery_options_discounts_generate_run::{input, output};

/// The input of the target: the response to
/// `cart_delivery_options_discounts_generate_run.graphql`.
pub type Input = input::ResponseData;

#[shopify_function_target(
    query_path = "src/cart_delivery_options_discounts_generate_run.graphql",
    schema_path = "schema.graphql"
)]
fn cart_delivery_options_discounts_generate_run(
    input: input::ResponseData,
) -> Result<output::CartDeliveryOptionsDiscountsGenerateRunResult> {
    Ok(output::CartDeliveryOptionsDiscountsGenerateRunResult {
        operations: operations(&input),
    })
}

fn operations(input: &Input) -> Vec<output::DeliveryOperation> {
    let discount = &input.discount;
    if !discount
        .discount_classes
        .contains(&input::DiscountClass::SHIPPING)
    {
        eprintln!("no VIP shipping perk: the discount does not have the SHIPPING class");
        return vec![];
    }
    let groups = &input.cart.delivery_groups;
    if groups.is_empty() {
        return vec![];
    }
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
    match perks::shipping_perk(tier, config) {
        Ok(perk) => vec![delivery_discount(perk, groups.iter().map(|g| &g.id))],
        Err(why) => {
            eprintln!("no VIP shipping perk: {why}");
            vec![]
        }
    }
}

fn delivery_discount<'a>(
    perk: Perk,
    group_ids: impl Iterator<Item = &'a String>,
) -> output::DeliveryOperation {
    output::DeliveryOperation::DeliveryDiscountsAdd(output::DeliveryDiscountsAddOperation {
        selection_strategy: output::DeliveryDiscountSelectionStrategy::ALL,
        candidates: vec![output::DeliveryDiscountCandidate {
            targets: group_ids
                .map(|id| {
                    output::DeliveryDiscountCandidateTarget::DeliveryGroup(
                        output::DeliveryGroupTarget { id: id.clone() },
                    )
                })
                .collect(),
            message: perk.message,
            value: output::DeliveryDiscountCandidateValue::Percentage(output::Percentage {
                value: Decimal(perk.percent),
            }),
            associated_discount_code: None,
        }],
    })
}
