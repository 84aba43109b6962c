//! The reconciler's Lambdas, over the pure core (`reconciler_core`):
//!
//! - [`store`]: the DynamoDB adapter (one `TransactWriteItems` per event);
//! - [`handler`]: validate, apply, respond (contract §2–§4);
//! - [`sweep`]: stragglers, audit, conflicts, the report (contract §5), and
//!   [`summarizer`], its optional chat-completions summary;
//! - [`config`]: the environment, read once and validated at start;
//! - [`telemetry`], [`runtime`]: JSON logs, EMF metrics, the Runtime API glue;
//! - [`start`]: the start-up's steps, timed for the bench.
//!
//! The binaries in `src/bin/` only wire these together.

pub mod config;
pub mod handler;
pub mod runtime;
pub mod start;
pub mod store;
pub mod summarizer;
pub mod sweep;
pub mod telemetry;

/// An AWS SDK configuration from the standard environment (region, credentials,
/// `AWS_ENDPOINT_URL` for a local emulator).
///
/// Lambda gives a function its role's credentials in the environment. The
/// default credential chain would find them there too (the environment is
/// its first link), but building the chain builds its other links' HTTPS
/// clients, and with them loads the system's root certificates: most of a
/// cold start (`cargo xtask bench`, the `cold start` figures). So with
/// credentials in the environment only the environment is asked.
pub async fn aws_config() -> aws_config::SdkConfig {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    match credential_source(&|name| std::env::var(name).ok()) {
        CredentialSource::Environment => {
            loader
                .credentials_provider(
                    aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
                )
                .load()
                .await
        }
        CredentialSource::DefaultChain => loader.load().await,
    }
}

/// Where [`aws_config`] takes credentials from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CredentialSource {
    /// An access key and its secret are in the environment (Lambda's case):
    /// what the default chain would find first.
    Environment,
    /// Anything else (a profile, SSO, a container's or an instance's role).
    DefaultChain,
}

fn credential_source(get: &dyn Fn(&str) -> Option<String>) -> CredentialSource {
    let set = |name: &str| get(name).is_some_and(|v| !v.trim().is_empty());
    if set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY") {
        CredentialSource::Environment
    } else {
        CredentialSource::DefaultChain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(vars: &[(&str, &str)]) -> CredentialSource {
        credential_source(&|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn lambdas_environment_credentials_skip_the_chain() {
        let lambda = [
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ];
        assert_eq!(source(&lambda), CredentialSource::Environment);
        assert_eq!(
            source(&lambda[..2]),
            CredentialSource::Environment,
            "long-term keys have no session token"
        );
    }

    #[test]
    fn anything_short_of_a_key_and_its_secret_goes_to_the_default_chain() {
        assert_eq!(source(&[]), CredentialSource::DefaultChain);
        assert_eq!(
            source(&[("AWS_ACCESS_KEY_ID", "AKIA")]),
            CredentialSource::DefaultChain
        );
        assert_eq!(
            source(&[
                ("AWS_ACCESS_KEY_ID", "AKIA"),
                ("AWS_SECRET_ACCESS_KEY", " ")
            ]),
            CredentialSource::DefaultChain
        );
        assert_eq!(
            source(&[("AWS_PROFILE", "dev"), ("AWS_SECRET_ACCESS_KEY", "s")]),
            CredentialSource::DefaultChain
        );
    }
}
