//! Signing in as people do, offline: the `cargo xtask` binary deploys to
//! the emulator with a `credential_process` profile, and with an IAM
//! Identity Center (SSO) profile whose cached token a local fake portal
//! (`AWS_ENDPOINT_URL_SSO`) exchanges for role credentials. Without the
//! SDK's `sso` and `credentials-process` features both fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use testkit::emulator::moto::Moto;
use testkit::http::Response;

/// A home of its own: an AWS config file, no credentials anywhere else.
struct Home {
    dir: PathBuf,
}

impl Home {
    fn new(label: &str, config: &str) -> Home {
        let dir = std::env::temp_dir().join(format!("signin-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join(".aws")).unwrap();
        std::fs::write(dir.join(".aws/config"), config).unwrap();
        Home { dir }
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `cargo xtask deploy --stage dev --profile <profile>` to the emulator at
/// `endpoint`, as a user whose only AWS configuration is `home`'s, on a
/// blocking thread (the test's runtime keeps serving a fake portal).
/// Returns what it printed; fails the test if the deploy failed.
async fn deploy_as(home: &Home, profile: &str, endpoint: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(testkit::lambda::binary("xtask"));
    cmd.args([
        "deploy",
        "--stage",
        "dev",
        "--profile",
        profile,
        "--endpoint-url",
        endpoint,
        "--arch",
        "x86_64",
        "--artifacts",
    ])
    .arg(testkit::prebuilt_artifacts())
    .args(["--require-approval", "never"])
    .env_clear()
    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
    .env("HOME", &home.dir)
    .env("AWS_CONFIG_FILE", home.dir.join(".aws/config"))
    .env(
        "AWS_SHARED_CREDENTIALS_FILE",
        home.dir.join(".aws/credentials"),
    )
    .env("AWS_EC2_METADATA_DISABLED", "true")
    .envs(env.iter().copied());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "deploy as {profile} failed:\n{text}");
    text
}

fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn a_credential_process_profile_deploys_to_the_emulator() {
    let tools = operator::base::tools::ensure().unwrap();
    let moto = Moto::start(&tools).unwrap();
    let home = Home::new("process", "");
    let marker = home.dir.join("process-ran");
    let script = home.dir.join("credentials.sh");
    write_script(
        &script,
        &format!(
            "#!/bin/sh\ntouch '{}'\necho '{{\"Version\": 1, \"AccessKeyId\": \"AKIDPROCESS\", \
             \"SecretAccessKey\": \"process-secret\"}}'\n",
            marker.display()
        ),
    );
    std::fs::write(
        home.dir.join(".aws/config"),
        format!(
            "[profile process]\nregion = us-east-1\ncredential_process = {}\n",
            script.display()
        ),
    )
    .unwrap();
    let said = deploy_as(&home, "process", &moto.endpoint, &[]).await;
    assert!(marker.exists(), "the credential process ran:\n{said}");
    assert!(said.contains("outcome=created"), "{said}");
}

/// A fake IAM Identity Center portal: answers `GetRoleCredentials` for the
/// bearer token it is given, and keeps the tokens it saw.
async fn fake_portal(tokens: Arc<Mutex<Vec<String>>>) -> testkit::http::Server {
    testkit::http::serve(testkit::http::handler(move |req| {
        let token = req
            .header("x-amz-sso_bearer_token")
            .unwrap_or("")
            .to_owned();
        let known =
            token == "cached-sso-token" && req.path.starts_with("/federation/credentials");
        tokens.lock().unwrap().push(token);
        let answer = if known {
            Response::new(
                200,
                "application/json",
                r#"{"roleCredentials":{"accessKeyId":"AKIDSSO","secretAccessKey":"sso-secret","sessionToken":"sso-session","expiration":4102444800000}}"#,
            )
        } else {
            Response::new(
                401,
                "application/json",
                r#"{"message":"Session token not found or invalid"}"#,
            )
        };
        async move { Some(answer) }
    }))
    .await
    .unwrap()
}

#[tokio::test]
async fn an_sso_profile_with_a_cached_token_deploys_to_the_emulator() {
    use sha1::{Digest, Sha1};
    let tools = operator::base::tools::ensure().unwrap();
    let moto = Moto::start(&tools).unwrap();
    let tokens = Arc::new(Mutex::new(Vec::new()));
    let portal_server = fake_portal(tokens.clone()).await;
    let portal = portal_server.endpoint();
    let home = Home::new(
        "sso",
        "[profile corp-deployer]\nsso_session = corp\nsso_account_id = 123456789012\n\
         sso_role_name = Deployer\nregion = us-east-1\n\n[sso-session corp]\n\
         sso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n",
    );
    // What `aws sso login` leaves: the token, cached under the SHA-1 of the
    // session's name.
    let cache = home.dir.join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(
        cache.join(format!("{}.json", hex::encode(Sha1::digest(b"corp")))),
        r#"{"accessToken":"cached-sso-token","expiresAt":"2099-01-01T00:00:00Z","region":"us-east-1","startUrl":"https://corp.awsapps.com/start"}"#,
    )
    .unwrap();
    let said = deploy_as(
        &home,
        "corp-deployer",
        &moto.endpoint,
        &[("AWS_ENDPOINT_URL_SSO", &portal)],
    )
    .await;
    assert!(said.contains("outcome=created"), "{said}");
    let seen = tokens.lock().unwrap().clone();
    assert!(
        seen.iter().any(|t| t == "cached-sso-token"),
        "the portal was asked with the cached token: {seen:?}\n{said}"
    );
}
