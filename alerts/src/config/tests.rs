//! Tests of `[alerts]`: the defaults and the built-in recipients parse and validate, a
//! partial section keeps the default recipients, bad settings are named, secrets stay out
//! of `Debug`.

use super::routing::BuiltinRouting;
use super::*;
use riverwatch_core::Province;

#[test]
fn defaults_are_valid_and_round_trip_through_toml() {
    let cfg = AlertsConfig::default();
    cfg.validate().unwrap();
    let text = toml::to_string(&cfg).unwrap();
    let back: AlertsConfig = toml::from_str(&text).unwrap();
    assert_eq!(back, cfg);
    assert_eq!(cfg.transport(), EmailTransport::Outbox);
    assert!(text.contains("duty@hlj.example.org"), "{text}");
    assert!(text.contains("duty@jl.example.org"), "{text}");
    AlertsConfig::test_config().validate().unwrap();
}

#[test]
fn the_builtin_recipients_parse_and_every_province_has_a_list() {
    let file: BuiltinRouting = toml::from_str(DEFAULT_RECIPIENTS_TOML).unwrap();
    let routing = Routing {
        hlj: file.hlj,
        jl: file.jl,
    };
    assert_eq!(routing, Routing::default());
    for p in Province::ALL {
        let list = &routing.province(p).recipients;
        assert!(!list.is_empty(), "{p} has no recipients");
        assert!(list.iter().any(|r| r.level == 0), "{p}: nobody at level 0");
        assert!(
            list.iter().all(|r| !r.email.is_empty()),
            "{p}: a recipient without an address"
        );
        assert!(
            list.iter().any(|r| r.info_copy),
            "{p}: nobody receives the other province's information copies"
        );
    }
    AlertsConfig::default().validate().unwrap();
}

#[test]
fn a_partial_section_keeps_the_default_recipients() {
    let cfg: AlertsConfig = toml::from_str("group_wait_secs = 10\n").unwrap();
    assert_eq!(cfg.group_wait_secs, 10);
    assert_eq!(cfg.routing, Routing::default());
}

#[test]
fn rejects_bad_settings_naming_the_field() {
    let mut cfg = AlertsConfig::default();
    cfg.routing.hlj.recipients[1].email = vec!["not an address".into()];
    let err = cfg.validate().unwrap_err();
    assert!(
        err.to_string().contains("routing.HLJ.recipients[1].email"),
        "{err}"
    );

    let mut cfg = AlertsConfig::default();
    cfg.routing.jl.recipients[0].id = "hlj-duty".into();
    assert!(cfg.validate().unwrap_err().to_string().contains("twice"));

    let mut cfg = AlertsConfig::default();
    cfg.routing.jl.escalate_after_secs = vec![60];
    assert!(cfg.validate().unwrap_err().to_string().contains("level 2"));

    let cfg = AlertsConfig {
        group_by: vec!["colour".into()],
        ..AlertsConfig::default()
    };
    assert!(cfg.validate().is_err());

    for bad in [
        "http://x",
        "smtp://",
        "smtp://u:p@h:25",
        "smtp://h:0",
        "smtp://h?tls=maybe",
    ] {
        let cfg = AlertsConfig {
            smtp_url: Some(bad.into()),
            ..AlertsConfig::default()
        };
        assert!(cfg.validate().is_err(), "{bad}");
    }
    for good in [
        "smtp://127.0.0.1:2525",
        "smtps://relay.example.org",
        "smtp://h:587?tls=required",
    ] {
        let cfg = AlertsConfig {
            smtp_url: Some(good.into()),
            ..AlertsConfig::default()
        };
        cfg.validate().unwrap();
    }
    let cfg = AlertsConfig {
        smtp_url: Some("smtp://relay:25".into()),
        smtp_credentials: Some(SmtpCredentials {
            username: "u".into(),
            password: "p".into(),
        }),
        ..AlertsConfig::default()
    };
    assert!(cfg.validate().unwrap_err().to_string().contains("TLS"));
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let mut cfg = AlertsConfig {
        smtp_url: Some("smtps://relay.example.org:465".into()),
        smtp_credentials: Some(SmtpCredentials {
            username: "hlj-alerts".into(),
            password: "s3cret-pw".into(),
        }),
        ..AlertsConfig::default()
    };
    cfg.routing.hlj.recipients[0].webhook = Some(Webhook {
        url: "https://oapi.dingtalk.com/robot/send?access_token=tok-123".into(),
        format: WebhookFormat::Dingtalk,
    });
    let shown = format!("{cfg:?}");
    assert!(shown.contains("hlj-alerts"));
    assert!(!shown.contains("s3cret-pw"), "{shown}");
    assert!(!shown.contains("tok-123"), "{shown}");
}
