//! The Connecteam REST API: the table of endpoints ([`endpoint`]), the gateway every
//! request goes through ([`Client`]: throttle, retries, stop flag, counters), the raw
//! HTTP layer under it ([`Http`]), paging ([`list`]), models, rate-limit headers and
//! errors.

mod client;
mod counters;
pub mod endpoint;
pub mod error;
mod http;
pub mod limits;
pub mod list;
pub mod model;
mod stop;
mod throttle;

pub use client::{Budget, Call, Client, ClientOptions, RetryPolicy};
pub use counters::Timeline;
pub use endpoint::{Endpoint, Page, Request};
pub use error::{ApiError, ErrorClass};
pub use http::{ApiKey, Http, Response, check_base_url};
pub use limits::RateLimits;
pub use stop::{IN_FLIGHT_GRACE, Stop, StopReason};
pub use throttle::DayBudget;
