//! Members brought over from another loyalty program: a CSV file with good
//! rows, unknown customers, bad numbers, a customer named twice, an unknown
//! tier, a byte order mark and CRLF line ends. The mapping step suggests
//! the app's columns; the dry run changes nothing and agrees with the
//! import; the import adds each balance once as an `import` entry, with the
//! tier (as a floor, without entry reward), referral code and birthday;
//! the same file imported again changes nothing; an import stopped
//! half-way is finished by importing the file again.

use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    helpers::{Backend, TestApp, SHOP},
    loyalty::{points, send_json},
    referrals::{admin, answer},
};

crate::on_both_backends!(
    a_members_file_is_checked_by_a_dry_run_then_imported_once,
    a_file_that_cannot_be_read_or_mapped_is_refused_and_changes_nothing,
);

const A: i64 = 8_100_000_000_001;
const B: i64 = 8_100_000_000_002;
const C: i64 = 8_100_000_000_003;
const D: i64 = 8_100_000_000_004;

/// Rivo's columns, a referral column of our own, a BOM and CRLF ends.
const FILE: &str = "\u{feff}Email,Points Balance,VIP Tier,Birthdate,Referral\r\n\
    ada@example.com,500,Gold,1990-07-04,oldcode1\r\n\
    nobody@example.com,100,,,\r\n\
    bo@example.com,12x,,,\r\n\
    Bo@Example.com ,200,,,\r\n\
    bo@example.com,300,,,\r\n\
    cy@example.com,\"1,000\",,,\r\n\
    cy@example.com,250,Diamond,,\r\n\
    dee@example.com,0,silver,02/29,\r\n";

const MAPPING: &str =
    "email=Email&points=Points%20Balance&tier=VIP%20Tier&birthday=Birthdate&referral_code=Referral";

async fn customers(app: &TestApp) {
    for (id, email) in [
        (A, "ada@example.com"),
        (B, "bo@example.com"),
        (C, "cy@example.com"),
        (D, "dee@example.com"),
    ] {
        let body = json!({
            "id": id,
            "email": email,
            "created_at": crate::helpers::ago(86_400_000),
            "updated_at": crate::helpers::ago(86_400_000),
        });
        send_json(app, "customers/create", &format!("c-{id}"), &body).await;
    }
    app.drain().await;
}

async fn post(app: &TestApp, path: &str, file: &str) -> (u16, Value) {
    let (status, body) = answer(
        admin(app, Method::POST, path)
            .header("Content-Type", "text/csv")
            .body(file.to_owned()),
    )
    .await;
    (status.as_u16(), body)
}

fn lines(report: &Value) -> Vec<i64> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["line"].as_i64().unwrap())
        .collect()
}

async fn a_members_file_is_checked_by_a_dry_run_then_imported_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    customers(&app).await;
    let entries = "SELECT COUNT(*) FROM points_ledger";
    let before = app.count(entries).await;

    // The mapping step: Rivo's file, its columns suggested.
    let (status, seen) = post(&app, "/api/admin/imports/members/inspect", FILE).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["format"], "rivo");
    assert_eq!(seen["rows"], 8);
    assert_eq!(seen["columns"][0], "Email", "the BOM is not part of a name");
    assert_eq!(seen["mapping"]["points"], "Points Balance");
    assert_eq!(seen["mapping"]["tier"], "VIP Tier");
    assert_eq!(seen["mapping"]["referral_code"], Value::Null);
    assert_eq!(seen["imported"], Value::Null);

    // The dry run: what would change, and every row it cannot use.
    let path = format!("/api/admin/imports/members/dry-run?{MAPPING}");
    let (status, dry) = post(&app, &path, FILE).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["already_imported"], false);
    assert_eq!(dry["rows"], 8);
    assert_eq!(dry["usable"], 3);
    assert_eq!(dry["points"], 700);
    assert_eq!(lines(&dry), [3, 4, 6, 7, 8]);
    let reasons: Vec<&str> = dry["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["reason"].as_str().unwrap())
        .collect();
    assert!(reasons[0].contains("no customer"), "{reasons:?}");
    assert!(reasons[1].contains("whole number"), "{reasons:?}");
    assert_eq!(reasons[2], "the same customer as line 5");
    assert!(reasons[4].contains("tier"), "{reasons:?}");
    assert!(
        !dry.to_string().contains("@example.com"),
        "no email in the answer"
    );
    assert_eq!(
        dry["changes"][0],
        json!({
            "line": 2, "customer_id": A, "points": 500, "balance_before": 100,
            "balance_after": 600, "tier": "gold", "referral_code": "OLDCODE1",
            "birthday": "07-04",
        })
    );
    assert_eq!(dry["changes"][2]["customer_id"], D);
    assert_eq!(dry["changes"][2]["tier"], "silver");
    assert_eq!(
        app.count(entries).await,
        before,
        "a dry run changes nothing"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM member_imports").await, 0);

    // The import agrees with the dry run.
    let path = format!("/api/admin/imports/members?{MAPPING}");
    let (status, done) = post(&app, &path, FILE).await;
    assert_eq!(status, 200, "{done}");
    for field in ["rows", "usable", "points", "problems", "changes", "file_id"] {
        assert_eq!(done[field], dry[field], "{field}");
    }
    assert_eq!(done["dry_run"], false);
    assert_eq!(points(&app, A).await, (600, 0));
    assert_eq!(points(&app, B).await, (300, 0));
    assert_eq!(points(&app, C).await, (100, 0), "no usable row");
    assert_eq!(points(&app, D).await, (100, 0), "0 points: no entry");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM points_ledger WHERE kind = 'import'")
            .await,
        2
    );
    let tier =
        |id: i64| format!("SELECT COUNT(*) FROM customers WHERE customer_id = {id} AND tier_id = ");
    assert_eq!(app.count(&format!("{}'gold'", tier(A))).await, 1);
    assert_eq!(app.count(&format!("{}'silver'", tier(D))).await, 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM points_ledger WHERE kind = 'tier_entry'")
            .await,
        0,
        "a carried-over tier brings no entry reward"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM referral_codes WHERE customer_id = {A} AND code = 'OLDCODE1'"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM customers WHERE customer_id = {D} AND birthday = '02-29'"
        ))
        .await,
        1
    );
    let (_, customer) = answer(admin(
        &app,
        Method::GET,
        &format!("/api/admin/customers/{A}"),
    ))
    .await;
    assert_eq!(customer["customer"]["tier_id"], "gold", "{customer}");

    // The same file again changes nothing, whatever the mapping.
    let after = app.count(entries).await;
    let (status, again) = post(&app, "/api/admin/imports/members?format=rivo", FILE).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["already_imported"], true);
    assert_eq!(again["usable"], 3);
    assert_eq!(app.count(entries).await, after);
    let (_, dry_again) = post(
        &app,
        &format!("/api/admin/imports/members/dry-run?{MAPPING}"),
        FILE,
    )
    .await;
    assert_eq!(dry_again["already_imported"], true);

    // An import stopped half-way is finished by the same file, once.
    sqlx::query("UPDATE member_imports SET status = 'running'")
        .execute(app.store.writer())
        .await
        .unwrap();
    let (status, resumed) = post(&app, &path, FILE).await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["already_imported"], false);
    assert_eq!(app.count(entries).await, after, "nothing twice");
    assert_eq!(points(&app, A).await, (600, 0));
    let (_, history) = answer(admin(&app, Method::GET, "/api/admin/imports/members")).await;
    assert_eq!(history["imports"].as_array().unwrap().len(), 1, "{history}");
    assert_eq!(history["imports"][0]["status"], "done");
    assert_eq!(history["imports"][0]["imported"], 3);
    assert_eq!(history["imports"][0]["points"], 700);
}

async fn a_file_that_cannot_be_read_or_mapped_is_refused_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    customers(&app).await;
    let before = app.count("SELECT COUNT(*) FROM points_ledger").await;
    for (path, file, field) in [
        ("/api/admin/imports/members", "", "file"),
        (
            "/api/admin/imports/members",
            "email,points\n\"a@b.c,1\n",
            "file",
        ),
        (
            "/api/admin/imports/members?points=points",
            "email,points\n",
            "mapping",
        ),
        (
            "/api/admin/imports/members?email=mail&points=points",
            "email,points\n",
            "mapping",
        ),
        (
            "/api/admin/imports/members?format=nope",
            "email,points\n",
            "format",
        ),
        (
            "/api/admin/imports/members/dry-run?email=email",
            "email,points\n",
            "mapping",
        ),
    ] {
        let (status, body) = post(&app, path, file).await;
        assert_eq!(status, 422, "{path}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{path}: {body}");
    }
    let (status, _) = answer(
        app.http
            .post(format!("{}/api/admin/imports/members", app.address))
            .body("email,points\nada@example.com,5\n"),
    )
    .await;
    assert_eq!(status, 401, "the admin session token is required");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM points_ledger").await,
        before
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM member_imports").await, 0);
}
