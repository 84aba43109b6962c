//! Business events for tests.

use reconciler_core::event::Event;

pub fn grant(id: &str, account: &str, c: i64) -> Event {
    Event::Granted {
        grant_id: id.into(),
        account_id: account.into(),
        credits: c,
    }
}
pub fn req(job: &str, account: &str, c: i64) -> Event {
    Event::Requested {
        job_id: job.into(),
        account_id: account.into(),
        credits: c,
    }
}
pub fn rendered(job: &str, account: &str, c: i64) -> Event {
    Event::Rendered {
        job_id: job.into(),
        account_id: account.into(),
        credits: c,
    }
}
pub fn failed(job: &str, account: &str) -> Event {
    Event::Failed {
        job_id: job.into(),
        account_id: account.into(),
        reason: Some("gpu fault".into()),
    }
}
