//! No container engine builds images here, so the Dockerfile is checked by what it says and by
//! running its entrypoint and health check command lines against the built binary, with its
//! environment.

use crate::common;

use std::collections::BTreeMap;
use std::process::Command;

use common::process::{spawn_with_env, LOGGERATOR};
use common::temp_db;
use serde_json::Value;

const DOCKERFILE: &str = include_str!("../../Dockerfile");

/// The instructions of the final stage, with continuation lines joined.
fn final_stage() -> Vec<String> {
    let joined = DOCKERFILE.replace("\\\n", " ");
    let lines: Vec<String> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let last_from = lines.iter().rposition(|l| l.starts_with("FROM ")).unwrap();
    lines[last_from..].to_vec()
}

fn instruction<'a>(stage: &'a [String], name: &str) -> Vec<&'a str> {
    stage
        .iter()
        .filter_map(|l| l.strip_prefix(name).map(str::trim))
        .collect()
}

fn json_array(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// `ENV A=1 B=2` of the final stage.
fn environment(stage: &[String]) -> BTreeMap<String, String> {
    instruction(stage, "ENV ")
        .iter()
        .flat_map(|l| l.split_whitespace())
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn the_image_runs_unprivileged_with_a_volume_and_a_health_check() {
    let stage = final_stage();
    let user = instruction(&stage, "USER ");
    assert_eq!(user.len(), 1);
    assert_ne!(user[0], "root");
    assert_eq!(instruction(&stage, "VOLUME "), vec!["/var/lib/loggerator"]);
    let env = environment(&stage);
    assert!(env["LOGGERATOR_DB"].starts_with("/var/lib/loggerator/"));
    assert!(env["LOGGERATOR_LISTEN"].starts_with("0.0.0.0:"));
    assert!(!env.contains_key("LOGGERATOR_ALLOW_UNAUTHENTICATED"));
    let check = instruction(&stage, "HEALTHCHECK ");
    assert!(
        check[0].contains("CMD [\"loggerator\", \"healthcheck\""),
        "{check:?}"
    );
    // The build stage downloads nothing but crates.
    assert!(!DOCKERFILE.contains("curl ") && !DOCKERFILE.contains("wget "));
}

#[actix_rt::test]
async fn the_entrypoint_refuses_to_serve_openly_and_serves_with_an_allowance() {
    let stage = final_stage();
    let mut command = json_array(instruction(&stage, "ENTRYPOINT ")[0]);
    command.extend(json_array(instruction(&stage, "CMD ")[0]));
    assert_eq!(command[0], "loggerator");
    let db = temp_db();
    let mut env = environment(&stage);
    env.insert(
        "LOGGERATOR_DB".into(),
        db.path.to_string_lossy().into_owned(),
    );
    // The image's 0.0.0.0, on a free port; no source to reach.
    env.insert("LOGGERATOR_LISTEN".into(), "0.0.0.0:0".into());
    env.insert("LOGGERATOR_SOURCES".into(), String::new());
    let args: Vec<&str> = command[1..].iter().map(String::as_str).collect();

    // As the image is, with neither tokens nor an allowance: refused, and said why.
    let refused = Command::new(LOGGERATOR)
        .args(&args)
        .env_clear()
        .envs(&env)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("--allow-unauthenticated"), "{said}");

    env.insert("LOGGERATOR_ALLOW_UNAUTHENTICATED".into(), "true".into());
    let running = spawn_with_env(&args, &env);
    // The image logs JSON.
    let line = running.line_with("serving the API on");
    let logged: Value = serde_json::from_str(&line).expect("a JSON log line");
    let message = logged["message"].as_str().unwrap();
    let port = message.rsplit(':').next().unwrap().to_owned();

    let stage_check = instruction(&stage, "HEALTHCHECK ")[0];
    let check = json_array(&stage_check[stage_check.find('[').unwrap()..]);
    let check: Vec<String> = check
        .iter()
        .map(|a| a.replace("127.0.0.1:8000", &format!("127.0.0.1:{port}")))
        .collect();
    let healthy = actix_rt::task::spawn_blocking(move || {
        Command::new(LOGGERATOR).args(&check[1..]).status().unwrap()
    })
    .await
    .unwrap();
    assert!(healthy.success());
    assert!(running.terminate().success());
}
