//! How the plane talks to moto: as the AWS services themselves (SDK clients
//! straight to moto, past the front and its authorization: a service's own
//! writes, like EventBridge sending to a queue, are authorized by the plane
//! against the resource's policy before they are made), and through the
//! control routes `emulator/plane_patches.py` adds (the clock, SQS counts,
//! deployed code, alarm history, kept mail).

use serde_json::{Value, json};

use crate::http::{Request, Response, Upstream};

/// One client per service the plane acts as.
#[derive(Clone, Debug)]
pub struct ServiceClients {
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
    pub kms: aws_sdk_kms::Client,
}

impl ServiceClients {
    /// Clients for moto at `endpoint`.
    pub async fn new(endpoint: &str) -> ServiceClients {
        let config = crate::emulator::sdk_config(endpoint).await;
        ServiceClients {
            sqs: aws_sdk_sqs::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            events: aws_sdk_eventbridge::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
            kms: aws_sdk_kms::Client::new(&config),
        }
    }
}

/// The control routes of the patched moto (`/moto-api/local-plane/…`).
#[derive(Clone, Debug)]
pub struct MotoControl {
    moto: Upstream,
}

impl MotoControl {
    pub fn new(endpoint: &str) -> MotoControl {
        MotoControl {
            moto: Upstream::new(endpoint),
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Response> {
        let mut headers = vec![("host".to_owned(), "localhost".to_owned())];
        if body.is_some() {
            headers.push(("content-type".to_owned(), "application/json".to_owned()));
        }
        let response = self
            .moto
            .send(&Request {
                method: method.to_owned(),
                path: format!("/moto-api/local-plane/{path}"),
                headers,
                body: body.map(|b| b.to_string().into()).unwrap_or_default(),
            })
            .await?;
        anyhow::ensure!(
            response.status == 200,
            "moto's {path} answered {}: {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        );
        Ok(response)
    }

    /// Moves moto's clock `ms` ahead (the plane's moved the same).
    pub async fn advance(&self, ms: i64) -> anyhow::Result<()> {
        self.call("POST", "clock", Some(&json!({"advance_ms": ms})))
            .await
            .map(|_| ())
    }

    /// Every queue's counts since the last call (see `plane_patches.py`).
    pub async fn sqs_stats(&self) -> anyhow::Result<Value> {
        let response = self.call("GET", "sqs-stats", None).await?;
        Ok(serde_json::from_slice(&response.body)?)
    }

    /// The deployed zip of `function`.
    pub async fn code(&self, function: &str) -> anyhow::Result<Vec<u8>> {
        Ok(self
            .call("GET", &format!("code/{function}"), None)
            .await?
            .body
            .to_vec())
    }

    /// Records an `Action` item in `alarm`'s history.
    pub async fn alarm_action(
        &self,
        alarm: &str,
        summary: &str,
        data: &Value,
    ) -> anyhow::Result<()> {
        let item =
            json!({"alarm_name": alarm, "item_type": "Action", "summary": summary, "data": data});
        self.call("POST", "alarm-history", Some(&item))
            .await
            .map(|_| ())
    }

    /// The mail kept for `address`, oldest first.
    pub async fn mail(&self, address: &str) -> anyhow::Result<Value> {
        let query: String = address
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                    (b as char).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect();
        let response = self
            .call("GET", &format!("mail?address={query}"), None)
            .await?;
        Ok(serde_json::from_slice(&response.body)?)
    }
}
