//! The Connecteam REST API: the gateway every request goes through ([`Client`]), the raw
//! typed calls under it ([`Http`]), models, rate-limit headers and errors.

mod client;
pub mod error;
mod gateway;
pub mod limits;
pub mod list;
pub mod model;

pub use client::{ApiKey, Http, QueryArrays, Response, check_base_url, path_segment};
pub use error::{ApiError, ErrorClass};
pub use gateway::{Budget, Call, Client, ClientOptions, RetryPolicy, Stop, StopReason, Timeline};
pub use limits::RateLimits;
