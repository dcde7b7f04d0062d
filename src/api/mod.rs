//! The Connecteam REST API: a typed client, its models, rate-limit headers and errors.

mod client;
pub mod error;
pub mod limits;
pub mod model;

pub use client::{ApiKey, Client, Response, check_base_url, path_segment};
pub use error::{ApiError, ErrorClass};
pub use limits::RateLimits;
