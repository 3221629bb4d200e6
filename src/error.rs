//! The error every route answers with: the right status and a short JSON
//! body, `{"error": code, "message": text}`. Internal failures are logged
//! and answered without their details.

use actix_web::{http::StatusCode, HttpResponse, ResponseError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The shop must go through OAuth again; App Bridge follows the headers.
    #[error("the shop must authenticate again")]
    Reauthorize { shop: String },
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(&'static str),
    /// The request conflicts with the current state (not enough points, a
    /// stale version).
    #[error("{0}")]
    Conflict(String),
    /// Well-formed but invalid; `errors` lists the fields at fault.
    #[error("{message}")]
    Unprocessable {
        message: String,
        errors: Option<serde_json::Value>,
    },
    #[error("too many requests, retry in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("body larger than the {limit} bytes accepted")]
    PayloadTooLarge { limit: usize },
    /// The body did not arrive within its deadline.
    #[error("{0}")]
    RequestTimeout(&'static str),
    /// Refused to protect the process (memory held by requests in flight);
    /// the client should send it again after `Retry-After`.
    #[error("too busy to take this request now, retry in {retry_after_secs} s")]
    Overloaded { retry_after_secs: u64 },
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Reauthorize { .. } => "reauthorize",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Unprocessable { .. } => "unprocessable",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::RequestTimeout(_) => "request_timeout",
            Self::Overloaded { .. } => "overloaded",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) | Self::Reauthorize { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            Self::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "request failed");
                "internal error".to_owned()
            }
            Self::Unavailable(e) => {
                tracing::warn!(error = %e, "request refused: service unavailable");
                "temporarily unavailable, try again".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::Reauthorize { shop } => {
                response
                    .insert_header(("X-Shopify-API-Request-Failure-Reauthorize", "1"))
                    .insert_header((
                        "X-Shopify-API-Request-Failure-Reauthorize-Url",
                        format!("/auth?shop={shop}"),
                    ));
            }
            Self::TooManyRequests { retry_after_secs } | Self::Overloaded { retry_after_secs } => {
                response.insert_header(("Retry-After", retry_after_secs.to_string()));
            }
            _ => {}
        }
        let mut body = json!({ "error": self.code(), "message": message });
        if let Self::Unprocessable {
            errors: Some(errors),
            ..
        } = self
        {
            body["errors"] = errors.clone();
        }
        response.json(body)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e.into())
    }
}

/// A list of fields at fault, as the 422 answer carries it.
fn field_errors(errors: &[crate::loyalty::settings::FieldError]) -> Option<serde_json::Value> {
    Some(json!(errors))
}

/// One field at fault.
fn field_error(field: &str, message: &str) -> Option<serde_json::Value> {
    Some(json!([{ "field": field, "message": message }]))
}

// service::history
impl From<crate::service::history::HistoryError> for ApiError {
    fn from(e: crate::service::history::HistoryError) -> Self {
        use crate::service::history::HistoryError;
        match e {
            HistoryError::Invalid(_) => Self::Unprocessable {
                message: e.to_string(),
                errors: None,
            },
            HistoryError::Running => Self::Conflict(e.to_string()),
            HistoryError::Db(e) => e.into(),
        }
    }
}

// service::member_import
impl From<crate::service::member_import::ImportError> for ApiError {
    fn from(e: crate::service::member_import::ImportError) -> Self {
        use crate::service::member_import::ImportError;
        match e {
            ImportError::File(_) => Self::Unprocessable {
                message: e.to_string(),
                errors: field_error("file", &e.to_string()),
            },
            ImportError::Mapping(_) => Self::Unprocessable {
                message: e.to_string(),
                errors: field_error("mapping", &e.to_string()),
            },
            ImportError::UnknownFormat(_) => Self::Unprocessable {
                message: e.to_string(),
                errors: field_error("format", &e.to_string()),
            },
            ImportError::Db(e) => e.into(),
            ImportError::Engine(e) => Self::Internal(anyhow::anyhow!(e)),
        }
    }
}

// service::customers
impl From<crate::service::api_keys::ApiKeyError> for ApiError {
    fn from(e: crate::service::api_keys::ApiKeyError) -> Self {
        use crate::service::api_keys::ApiKeyError as E;
        match e {
            E::BadName | E::BadScopes => Self::Unprocessable {
                message: e.to_string(),
                errors: None,
            },
            E::UnknownKey => Self::NotFound("no such API key"),
            E::Db(e) => e.into(),
        }
    }
}

impl From<crate::service::customers::CustomerError> for ApiError {
    fn from(e: crate::service::customers::CustomerError) -> Self {
        use crate::service::customers::CustomerError;
        match e {
            CustomerError::UnknownCustomer => Self::NotFound("no such customer"),
            CustomerError::Db(e) => e.into(),
        }
    }
}

impl From<crate::service::customers::BirthdayError> for ApiError {
    fn from(e: crate::service::customers::BirthdayError) -> Self {
        use crate::service::customers::BirthdayError;
        match e {
            BirthdayError::Invalid => Self::Unprocessable {
                message: e.to_string(),
                errors: field_error("birthday", "must be a date as MM-DD"),
            },
            BirthdayError::UnknownCustomer => Self::NotFound("no such customer"),
            BirthdayError::AlreadySet => Self::Conflict(e.to_string()),
            BirthdayError::Db(e) => e.into(),
        }
    }
}

// service::operations
impl From<crate::service::operations::RetryError> for ApiError {
    fn from(e: crate::service::operations::RetryError) -> Self {
        use crate::service::operations::RetryError;
        match e {
            RetryError::NoSuchFailedWebhook => Self::NotFound("no such failed webhook"),
            RetryError::NoSuchFailedEffect => Self::NotFound("no such failed effect"),
            RetryError::Refunded => Self::Conflict(e.to_string()),
            RetryError::Db(e) => e.into(),
        }
    }
}

// service::points
impl From<crate::service::points::AdjustError> for ApiError {
    fn from(e: crate::service::points::AdjustError) -> Self {
        use crate::{engine::adjustments::AdjustmentError, service::points::AdjustError};
        match e {
            AdjustError::Invalid(errors) => Self::Unprocessable {
                message: "the adjustment is not valid".into(),
                errors: field_errors(&errors),
            },
            AdjustError::Refused(e) => match e {
                AdjustmentError::UnknownCustomer => Self::NotFound("no such customer"),
                AdjustmentError::NotEnoughPoints | AdjustmentError::BalanceOutOfRange => {
                    Self::Conflict(e.to_string())
                }
                AdjustmentError::KeyReused => Self::Unprocessable {
                    message: e.to_string(),
                    errors: field_error("Idempotency-Key", "was used for a different adjustment"),
                },
                AdjustmentError::Db(e) => e.into(),
            },
            AdjustError::Db(e) => e.into(),
        }
    }
}

// service::program
impl From<crate::engine::program::SaveError> for ApiError {
    fn from(e: crate::engine::program::SaveError) -> Self {
        use crate::engine::program::SaveError;
        match e {
            SaveError::Invalid(errors) => Self::Unprocessable {
                message: "the settings are not valid".into(),
                errors: field_errors(&errors),
            },
            SaveError::Stale { .. } => Self::Conflict(e.to_string()),
            SaveError::Engine(e) => Self::Internal(e.into()),
        }
    }
}

// service::redemptions
impl From<crate::service::redemptions::RedeemError> for ApiError {
    fn from(e: crate::service::redemptions::RedeemError) -> Self {
        use crate::service::redemptions::RedeemError;
        match e {
            RedeemError::UnknownCustomer => Self::NotFound("no such customer"),
            RedeemError::Refused(e) => e.into(),
        }
    }
}

impl From<crate::engine::redeem::RedeemError> for ApiError {
    fn from(e: crate::engine::redeem::RedeemError) -> Self {
        use crate::engine::redeem::RedeemError;
        match e {
            RedeemError::UnknownReward(_) => Self::NotFound("no such reward"),
            RedeemError::NotEnoughPoints { .. } => Self::Conflict(e.to_string()),
            RedeemError::KeyReused | RedeemError::Points(_) => Self::Unprocessable {
                message: e.to_string(),
                errors: None,
            },
            RedeemError::Db(e) => e.into(),
        }
    }
}

// service::referrals
impl From<crate::service::referrals::DecideError> for ApiError {
    fn from(e: crate::service::referrals::DecideError) -> Self {
        use crate::service::referrals::DecideError;
        match e {
            DecideError::NotAwaiting => Self::NotFound("no such referral awaiting a decision"),
            DecideError::Db(e) => e.into(),
        }
    }
}

impl From<crate::service::referrals::ClaimError> for ApiError {
    fn from(e: crate::service::referrals::ClaimError) -> Self {
        use crate::{engine::referrals::ReferralError, service::referrals::ClaimError};
        match e {
            ClaimError::InvalidEmail => Self::Unprocessable {
                message: e.to_string(),
                errors: field_error("email", "must be an email address"),
            },
            ClaimError::Refused(e) => match e {
                ReferralError::UnknownCode => Self::NotFound("no such referral code"),
                ReferralError::Disabled => Self::NotFound("referrals are not offered by this shop"),
                // One answer for both, so the claim cannot be used to learn
                // whether an email has bought from the shop.
                ReferralError::SelfReferral | ReferralError::NotNew => Self::Unprocessable {
                    message: "this referral offer is for new customers only".into(),
                    errors: None,
                },
                ReferralError::TooManyClaims { retry_after_secs } => {
                    Self::TooManyRequests { retry_after_secs }
                }
                ReferralError::Db(e) => e.into(),
            },
            ClaimError::Db(e) => e.into(),
        }
    }
}

impl ApiError {
    /// 422 for one field: `"{field} {message}"`, with `errors` naming it.
    pub fn invalid_field(field: &str, message: &str) -> Self {
        Self::Unprocessable {
            message: format!("{field} {message}"),
            errors: Some(json!([{ "field": field, "message": message }])),
        }
    }
}

// The use cases' errors (src/service/), each mapped to its answer once.

impl From<crate::service::nps::NpsError> for ApiError {
    fn from(e: crate::service::nps::NpsError) -> Self {
        use crate::service::nps::NpsError;
        match e {
            NpsError::Disabled => Self::NotFound("the survey is not offered by this shop"),
            NpsError::AlreadyAnswered => {
                Self::Conflict("this order was already answered; the first answer is kept".into())
            }
            NpsError::NotYours => Self::Forbidden("this order belongs to another customer"),
            NpsError::GuestOrder => Self::Forbidden(
                "this order was placed without a customer account: it cannot be answered from one",
            ),
            NpsError::InvalidScore => {
                Self::invalid_field("score", "must be a whole number from 0 to 10")
            }
            NpsError::Db(e) => e.into(),
        }
    }
}

impl From<crate::service::segments::SegmentsError> for ApiError {
    fn from(e: crate::service::segments::SegmentsError) -> Self {
        use crate::service::segments::SegmentsError;
        match e {
            SegmentsError::Off => {
                Self::Conflict("segments are turned off in the program settings".into())
            }
            SegmentsError::Engine(e) => Self::Internal(e.into()),
            SegmentsError::Db(e) => e.into(),
        }
    }
}

impl From<crate::service::install::InstallError> for ApiError {
    fn from(e: crate::service::install::InstallError) -> Self {
        use crate::service::install::InstallError;
        match e {
            InstallError::Full => Self::Overloaded {
                retry_after_secs: crate::service::install::FULL_RETRY_AFTER_SECS,
            },
            InstallError::UnknownState => Self::Forbidden("unknown, used or expired OAuth state"),
            InstallError::Exchange(_) => {
                Self::Unavailable("Shopify did not issue a token; try installing again".into())
            }
            InstallError::Save(e) => Self::Internal(e.into()),
            InstallError::Db(e) => e.into(),
        }
    }
}

// service::activities
impl From<crate::engine::activities::ActivityError> for ApiError {
    fn from(e: crate::engine::activities::ActivityError) -> Self {
        use crate::engine::activities::ActivityError as E;
        match e {
            E::UnknownCustomer => Self::NotFound("no such customer"),
            E::UnknownActivity => Self::NotFound("no such activity"),
            E::Invalid(_) | E::Off => Self::Unprocessable {
                message: e.to_string(),
                errors: None,
            },
            E::KeyReused => Self::Unprocessable {
                message: e.to_string(),
                errors: field_error("Idempotency-Key", "was used for a different activity"),
            },
            E::LimitReached => Self::Conflict(e.to_string()),
            E::Db(e) => e.into(),
        }
    }
}

// service::webhook_endpoints
impl From<crate::service::webhook_endpoints::EndpointError> for ApiError {
    fn from(e: crate::service::webhook_endpoints::EndpointError) -> Self {
        use crate::service::webhook_endpoints::EndpointError as E;
        match e {
            E::Url(ref why) => Self::Unprocessable {
                message: e.to_string(),
                errors: field_error("url", &why.to_string()),
            },
            E::Topics => Self::Unprocessable {
                message: e.to_string(),
                errors: None,
            },
            E::TooMany | E::NotResendable => Self::Conflict(e.to_string()),
            E::UnknownEndpoint => Self::NotFound("no such endpoint"),
            E::Db(e) => e.into(),
        }
    }
}

// service::program (forecast)
impl From<crate::service::reorder::ReorderError> for ApiError {
    fn from(e: crate::service::reorder::ReorderError) -> Self {
        use crate::service::reorder::ReorderError;
        match e {
            ReorderError::OutOfRange => Self::Unprocessable {
                message: e.to_string(),
                errors: field_error("override_days", "must be between 1 and 365, or null"),
            },
            ReorderError::UnknownProduct => {
                Self::NotFound("no product of this shop has been bought again")
            }
            ReorderError::Learning => Self::Conflict(e.to_string()),
            ReorderError::Database(e) => Self::Internal(e.into()),
            ReorderError::Failed(e) => Self::Internal(e),
        }
    }
}

impl From<crate::service::program::ForecastError> for ApiError {
    fn from(e: crate::service::program::ForecastError) -> Self {
        use crate::service::program::ForecastError;
        match e {
            ForecastError::Invalid(errors) => Self::Unprocessable {
                message: "the settings are not valid".into(),
                errors: field_errors(&errors),
            },
            ForecastError::Database(e) => Self::Internal(e.into()),
        }
    }
}
